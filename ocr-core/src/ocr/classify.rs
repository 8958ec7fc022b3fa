//! Line orientation: the 0/180 degree classifier.

use super::OcrError;
use super::preprocess::{Normalize, resize};
use super::rectify::Crop;
use crate::runtime::{Session, Tensor};

/// The classifier's input size.
const CLS_H: u32 = 48;
const CLS_W: u32 = 192;

/// Probability of "upside down" above which a line is turned.
pub const DEFAULT_THRESH: f32 = 0.9;

/// Classifies crops in batches; turns those the model is sure are upside down and returns
/// each crop's angle (0 or 180).
pub fn classify(
    session: &mut Session,
    norm: &Normalize,
    crops: &mut [Crop],
    batch: usize,
    thresh: f32,
) -> Result<Vec<u16>, OcrError> {
    let mut angles = vec![0u16; crops.len()];
    let (h, w) = (CLS_H as usize, CLS_W as usize);
    for (bi, chunk) in crops.chunks_mut(batch.max(1)).enumerate() {
        let mut data = vec![0f32; chunk.len() * 3 * h * w];
        for (i, c) in chunk.iter().enumerate() {
            let (cw, ch) = c.image.dimensions();
            let rw = ((CLS_H as f32 * cw as f32 / ch.max(1) as f32).ceil() as u32).clamp(1, CLS_W);
            norm.write(
                &resize(&c.image, rw, CLS_H),
                &mut data[i * 3 * h * w..(i + 1) * 3 * h * w],
                w,
            );
        }
        let x = Tensor::new(vec![chunk.len(), 3, h, w], data)?;
        let y = session.run(&[&x])?.remove(0);
        if y.shape() != [chunk.len(), 2] {
            return Err(OcrError::Model(format!(
                "classifier output {:?}",
                y.shape()
            )));
        }
        for (i, c) in chunk.iter_mut().enumerate() {
            let p180 = y.data()[i * 2 + 1];
            if p180 > y.data()[i * 2] && p180 > thresh {
                c.rotate180();
                angles[bi * batch.max(1) + i] = 180;
            }
        }
    }
    Ok(angles)
}

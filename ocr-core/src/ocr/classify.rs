//! Line orientation: the 0/180 degree classifier.

use super::OcrError;
use super::preprocess::{Normalize, resize};
use super::rectify::Crop;
use crate::runtime::{Session, Tensor};
use image::RgbImage;

/// The classifier's input size.
const CLS_H: u32 = 48;
const CLS_W: u32 = 192;

/// Probability of "upside down" above which a line is turned.
pub const DEFAULT_THRESH: f32 = 0.9;

/// The windows of a crop the classifier looks at. The classifier sees 4:1 images; squeezing a
/// long line into one makes it guess (long lines were turned upside down that way), so a line
/// longer than 4:1 is judged on up to three 4:1 windows (left, middle, right) instead.
fn windows(img: &RgbImage) -> Vec<RgbImage> {
    let (w, h) = img.dimensions();
    let win = (CLS_W / CLS_H) * h;
    if w <= win + win / 2 {
        return vec![img.clone()];
    }
    let starts = [0, (w - win) / 2, w - win];
    starts
        .iter()
        .map(|&x| image::imageops::crop_imm(img, x, 0, win, h).to_image())
        .collect()
}

/// Classifies crops in batches; turns those the model is sure are upside down (mean
/// probability over a crop's windows above `thresh`) and returns each crop's angle.
pub fn classify(
    session: &mut Session,
    norm: &Normalize,
    crops: &mut [Crop],
    batch: usize,
    thresh: f32,
) -> Result<Vec<u16>, OcrError> {
    let (h, w) = (CLS_H as usize, CLS_W as usize);
    // (crop index, window) pairs.
    let items: Vec<(usize, RgbImage)> = crops
        .iter()
        .enumerate()
        .flat_map(|(i, c)| windows(&c.image).into_iter().map(move |win| (i, win)))
        .collect();
    let mut p180 = vec![(0f32, 0usize); crops.len()];
    for chunk in items.chunks(batch.max(1)) {
        let mut data = vec![0f32; chunk.len() * 3 * h * w];
        for (j, (_, img)) in chunk.iter().enumerate() {
            let (cw, ch) = img.dimensions();
            let rw = ((CLS_H as f32 * cw as f32 / ch.max(1) as f32).ceil() as u32).clamp(1, CLS_W);
            norm.write(
                &resize(img, rw, CLS_H),
                &mut data[j * 3 * h * w..(j + 1) * 3 * h * w],
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
        for (j, (i, _)) in chunk.iter().enumerate() {
            p180[*i].0 += y.data()[j * 2 + 1];
            p180[*i].1 += 1;
        }
    }
    let mut angles = vec![0u16; crops.len()];
    for (i, c) in crops.iter_mut().enumerate() {
        let (sum, n) = p180[i];
        if n > 0 && sum / n as f32 > thresh {
            c.rotate180();
            angles[i] = 180;
        }
    }
    Ok(angles)
}

//! Recognition: line crops batched by similar width, run through the CTC recogniser.

use super::OcrError;
use super::preprocess::{Normalize, resize};
use crate::runtime::{Session, Tensor};
use image::RgbImage;

/// The recogniser's input height.
pub const REC_H: u32 = 48;
/// The narrowest batch width by default (PP-OCR's 48x320); a model may set its own
/// (`preprocess.min_width`).
pub const MIN_W: u32 = 320;
/// The widest input; longer lines are squeezed to it.
pub const MAX_W: u32 = 3200;

/// The recogniser's output for one line.
#[derive(Debug, Clone)]
pub struct RecOutput {
    /// `steps x classes` probabilities.
    pub probs: Vec<f32>,
    /// Time steps.
    pub steps: usize,
    /// Classes.
    pub classes: usize,
    /// Width of the recogniser input the steps span.
    pub input_w: u32,
    /// Width the line occupied in that input (the rest is padding).
    pub line_w: u32,
}

impl RecOutput {
    /// The span of time steps `first..=last` in crop pixels of a crop `crop_w` wide.
    pub fn span_in_crop(&self, first: usize, last: usize, crop_w: u32) -> (f32, f32) {
        let step_w = self.input_w as f32 / self.steps.max(1) as f32;
        let scale = crop_w as f32 / self.line_w.max(1) as f32;
        (
            first as f32 * step_w * scale,
            (last + 1) as f32 * step_w * scale,
        )
    }
}

fn line_width(img: &RgbImage) -> u32 {
    crate::pixels::line_width(img.width(), img.height(), REC_H, MAX_W)
}

/// Splits crops into batches of at most `batch` lines of similar aspect ratio (indices into
/// `crops`, narrowest first). A batch's output depends only on its own lines, so batches may
/// run in any order or in parallel.
pub fn batches(crops: &[&RgbImage], batch: usize) -> Vec<Vec<usize>> {
    let ratio = |i: usize| crops[i].width() as f64 / crops[i].height().max(1) as f64;
    let mut order: Vec<usize> = (0..crops.len()).collect();
    order.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)));
    order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}

/// Recognises one batch (`group`, indices into `crops`), outputs in the batch's order.
pub fn recognize_batch(
    session: &mut Session,
    norm: &Normalize,
    crops: &[&RgbImage],
    group: &[usize],
    min_width: u32,
) -> Result<Vec<RecOutput>, OcrError> {
    let ratio = |i: usize| crops[i].width() as f64 / crops[i].height().max(1) as f64;
    // The batch is as wide as its widest line (at least `min_width`), exactly: the
    // recogniser's attention spans the padding too, so other widths change its output
    // slightly.
    let widest = group
        .iter()
        .map(|&i| ratio(i))
        .fold(min_width as f64 / REC_H as f64, f64::max);
    let input_w = ((REC_H as f64 * widest) as u32).clamp(min_width, MAX_W);
    let (h, w) = (REC_H as usize, input_w as usize);
    let mut data = vec![0f32; group.len() * 3 * h * w];
    let mut widths = Vec::with_capacity(group.len());
    for (j, &i) in group.iter().enumerate() {
        let lw = line_width(crops[i]).min(input_w);
        norm.write(
            &resize(crops[i], lw, REC_H),
            &mut data[j * 3 * h * w..(j + 1) * 3 * h * w],
            w,
        );
        widths.push(lw);
    }
    let x = Tensor::new(vec![group.len(), 3, h, w], data)?;
    let y = session.run(&[&x])?.remove(0);
    let shape = y.shape().to_vec();
    if shape.len() != 3 || shape[0] != group.len() {
        return Err(OcrError::Model(format!("recogniser output {shape:?}")));
    }
    let (steps, classes) = (shape[1], shape[2]);
    let data = y.data();
    Ok((0..group.len())
        .map(|j| RecOutput {
            probs: data[j * steps * classes..(j + 1) * steps * classes].to_vec(),
            steps,
            classes,
            input_w,
            line_w: widths[j],
        })
        .collect())
}

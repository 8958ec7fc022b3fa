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

/// Where to cut a line too long for [`MAX_W`] (its width at [`REC_H`] high beyond it): the
/// cut columns, in pixels of `img`, so that every piece fits with room to spare. Each cut
/// lies at the column with the least ink (the least deviation from the line's median grey)
/// within a quarter piece of the even split, so it falls between characters where there is
/// a gap. `(cut, blank)` pairs: `blank` when the cut lies in a run of empty columns at least a
/// third of the line's height wide (a word gap: the pieces' texts join with a space).
pub fn long_line_cuts(img: &RgbImage) -> Vec<(u32, bool)> {
    let (w, h) = (img.width(), img.height());
    let scaled = REC_H as f64 * w as f64 / h.max(1) as f64;
    if scaled <= MAX_W as f64 || w < 4 || h == 0 {
        return Vec::new();
    }
    // Even pieces of at most 0.65 MAX_W, each cut moving by at most a quarter piece: every
    // piece is at most 1.5 x 0.65 < 1 MAX_W.
    let pieces = (scaled / (0.65 * MAX_W as f64)).ceil() as u32;
    // Grey levels column by column (`x * h + y`).
    let greys: Vec<u32> = (0..w)
        .flat_map(|x| (0..h).map(move |y| img.get_pixel(x, y).0))
        .map(|p| (p[0] as u32 + p[1] as u32 + p[2] as u32) / 3)
        .collect();
    let mut levels = greys.clone();
    let mid = levels.len() / 2;
    let median = *levels.select_nth_unstable(mid).1;
    let ink: Vec<u32> = greys
        .chunks(h as usize)
        .map(|column| column.iter().map(|g| g.abs_diff(median)).sum())
        .collect();
    // Under 8 grey levels a pixel on average: an empty column.
    let quiet = h * 8;
    let window = (w / (4 * pieces)).max(1);
    let mut cuts = Vec::new();
    for k in 1..pieces {
        let centre = w * k / pieces;
        let (lo, hi) = (
            centre.saturating_sub(window).max(1),
            (centre + window).min(w - 1),
        );
        let cut = (lo..=hi)
            .min_by_key(|&x| (ink[x as usize], x.abs_diff(centre)))
            .unwrap_or(centre);
        let run = |step: i64| {
            let mut n = 0i64;
            let mut x = cut as i64;
            while x >= 0 && x < w as i64 && ink[x as usize] <= quiet {
                n += 1;
                x += step;
            }
            n
        };
        let blank = run(1) + run(-1) > (h as i64) / 3;
        cuts.push((cut, blank));
    }
    cuts
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

//! Line orientation: the 0/180 degree classifier.

use super::OcrError;
use super::preprocess::{Normalize, resize};
use super::rectify::Crop;
use crate::runtime::{Session, Tensor};
use image::RgbImage;

/// The classifier's input size.
const CLS_H: u32 = 48;
const CLS_W: u32 = 192;

/// Probability of "upside down" above which a line is turned. With turns verified
/// ([`crate::ocr::ReadOptions::verify_turns`]) a lower threshold finds more upside-down lines
/// at some cost to upright ones, where the recogniser is sometimes more confident of an
/// upside-down reading: on the dev set, 0.1 reads 232 of 240 upside-down plates right against
/// 184 at 0.9, but 77.5% of the upright bank-card crops against 80.0%.
pub const DEFAULT_THRESH: f32 = 0.9;

/// Whether `p` can be a turn threshold: a probability strictly between 0 and 1 (0 would turn
/// every line, 1 none; NaN is refused).
pub fn is_threshold(p: f32) -> bool {
    p > 0.0 && p < 1.0
}

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

/// Each crop's windows (see `windows`), as (crop index, window) pairs in crop order.
pub fn windows_of(crops: &[Crop]) -> Vec<(usize, RgbImage)> {
    crops
        .iter()
        .enumerate()
        .flat_map(|(i, c)| windows(&c.image).into_iter().map(move |win| (i, win)))
        .collect()
}

/// Classifies one batch of windows; returns each window's probability of "upside down".
pub fn classify_batch(
    session: &mut Session,
    norm: &Normalize,
    batch: &[(usize, RgbImage)],
) -> Result<Vec<f32>, OcrError> {
    let (h, w) = (CLS_H as usize, CLS_W as usize);
    let mut data = vec![0f32; batch.len() * 3 * h * w];
    for (j, (_, img)) in batch.iter().enumerate() {
        let (cw, ch) = img.dimensions();
        let rw = ((CLS_H as f32 * cw as f32 / ch.max(1) as f32).ceil() as u32).clamp(1, CLS_W);
        norm.write(
            &resize(img, rw, CLS_H),
            &mut data[j * 3 * h * w..(j + 1) * 3 * h * w],
            w,
        );
    }
    let x = Tensor::new(vec![batch.len(), 3, h, w], data)?;
    let y = session.run(&[&x])?.remove(0);
    if y.shape() != [batch.len(), 2] {
        return Err(OcrError::Model(format!(
            "classifier output {:?}",
            y.shape()
        )));
    }
    Ok((0..batch.len()).map(|j| y.data()[j * 2 + 1]).collect())
}

/// Turns the crops the model is sure are upside down (mean probability over a crop's windows
/// above `thresh`; `p180` per window of `windows`) and returns each crop's angle.
pub fn turn(
    crops: &mut [Crop],
    windows: &[(usize, RgbImage)],
    p180: &[f32],
    thresh: f32,
) -> Vec<u16> {
    let mut sums = vec![(0f32, 0usize); crops.len()];
    for ((i, _), &p) in windows.iter().zip(p180) {
        sums[*i].0 += p;
        sums[*i].1 += 1;
    }
    let mut angles = vec![0u16; crops.len()];
    for (i, c) in crops.iter_mut().enumerate() {
        let (sum, n) = sums[i];
        if n > 0 && sum / n as f32 > thresh {
            c.rotate180();
            angles[i] = 180;
        }
    }
    angles
}

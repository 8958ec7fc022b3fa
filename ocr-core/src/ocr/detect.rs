//! Detection: the size policy, the detector input tensor and the probability map.

use super::OcrError;
use super::preprocess::{Normalize, resize};
use crate::runtime::{Session, Tensor};
use image::RgbImage;

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetOptions {
    /// The longest side of the detector input; larger images are scaled down to it.
    pub max_side: u32,
    /// Probability above which a pixel counts as text.
    pub thresh: f32,
    /// Mean probability a box needs to be kept.
    pub box_thresh: f32,
    /// How far boxes grow around the shrunk text kernels the DB model predicts.
    pub unclip_ratio: f32,
    /// Shorter side (detector pixels) below which candidates are dropped.
    pub min_size: f32,
    /// Contours examined at most.
    pub max_candidates: usize,
}

impl Default for DetOptions {
    fn default() -> Self {
        DetOptions {
            max_side: 960,
            thresh: 0.3,
            box_thresh: 0.6,
            unclip_ratio: 1.5,
            min_size: 3.0,
            max_candidates: 1000,
        }
    }
}

/// The smallest accepted [`DetOptions::max_side`]: the detector works on multiples of 32
/// pixels.
pub const MIN_SIDE: u32 = 32;

/// The detector input size for an image ([`crate::pixels::detector_input_size`], shared with
/// the SDK).
pub use crate::pixels::detector_input_size as input_size;

/// A probability map and how it maps back to the image.
#[derive(Debug, Clone)]
pub struct ProbMap {
    /// Width of the map (detector input width).
    pub width: usize,
    /// Height of the map.
    pub height: usize,
    /// Row-major probabilities.
    pub data: Vec<f32>,
}

/// Runs the detector on an image and returns its probability map.
pub fn detect(
    session: &mut Session,
    norm: &Normalize,
    img: &RgbImage,
    opts: &DetOptions,
) -> Result<ProbMap, OcrError> {
    let (w, h) = input_size(img.width(), img.height(), opts.max_side);
    let resized = resize(img, w, h);
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0f32; 3 * w * h];
    norm.write(&resized, &mut data, w);
    let x = Tensor::new(vec![1, 3, h, w], data)?;
    let y = session.run(&[&x])?.remove(0);
    if y.shape() != [1, 1, h, w] {
        return Err(OcrError::Model(format!(
            "detector output {:?} for input {h}x{w}",
            y.shape()
        )));
    }
    let (_, data) = y.into_parts();
    Ok(ProbMap {
        width: w,
        height: h,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_policy_keeps_small_images_small_and_caps_large_ones() {
        assert_eq!(input_size(120, 46, 960), (128, 32));
        assert_eq!(input_size(4000, 3000, 960), (960, 736));
        assert_eq!(input_size(960, 960, 960), (960, 960));
        assert_eq!(input_size(10, 10, 960), (32, 32));
        assert_eq!(input_size(3000, 100, 1280), (1280, 32));
    }
}

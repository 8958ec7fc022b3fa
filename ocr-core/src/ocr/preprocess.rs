//! Turning RGB images into model input tensors: resizing and per-channel normalisation, as
//! the model file's `preprocess.*` metadata prescribes (the pixel work is in
//! [`crate::pixels`], shared with the `no_std` SDK).

use super::OcrError;
use crate::runtime::Model;
use image::RgbImage;

pub use crate::pixels::Normalize;

/// Bilinear resize of an RGB image (OpenCV `INTER_LINEAR` semantics, [`crate::pixels::resize_rgb`]).
pub fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let out = crate::pixels::resize_rgb(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        w as usize,
        h as usize,
    );
    RgbImage::from_raw(w, h, out).expect("resize output matches its size")
}

impl Normalize {
    /// Reads the normalisation from a model's metadata.
    pub fn from_model(model: &Model) -> Result<Self, OcrError> {
        Self::from_model_meta(model).map_err(OcrError::Model)
    }

    /// Writes `img` into one CHW image slot of a tensor whose planes are `plane_w` wide
    /// (`plane_w >= img` width); columns right of the image are left untouched (zero padding).
    pub fn write(&self, img: &RgbImage, dst: &mut [f32], plane_w: usize) {
        let (w, h) = (img.width() as usize, img.height() as usize);
        self.write_rgb(img.as_raw(), w, h, dst, plane_w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_resize_known_values() {
        // One row [0, 200] widened to 4: half-pixel centres give 0, 50, 150, 200.
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 0 } else { 200 }; 3]));
        let out = resize(&img, 4, 1);
        let row: Vec<u8> = (0..4).map(|x| out.get_pixel(x, 0).0[0]).collect();
        assert_eq!(row, vec![0, 50, 150, 200]);
        // Same size is a copy; a uniform image stays uniform at any size.
        assert_eq!(resize(&img, 2, 1), img);
        let flat = RgbImage::from_pixel(13, 7, image::Rgb([77, 88, 99]));
        assert!(resize(&flat, 31, 48).pixels().all(|p| p.0 == [77, 88, 99]));
        assert!(resize(&flat, 5, 3).pixels().all(|p| p.0 == [77, 88, 99]));
    }
}

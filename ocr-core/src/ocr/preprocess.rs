//! Turning RGB images into model input tensors: resizing and per-channel normalisation, as
//! the model file's `preprocess.*` metadata prescribes.

use super::OcrError;
use crate::runtime::Model;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// Bilinear resize without anti-aliasing (as OpenCV's `INTER_LINEAR`, which the models were
/// trained with).
pub fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = img.dimensions();
    if (sw, sh) == (w, h) {
        return img.clone();
    }
    let src = ImageRef::new(sw, sh, img.as_raw(), PixelType::U8x3)
        .expect("RgbImage buffer matches its size");
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
    Resizer::new()
        .resize(&src, &mut dst, &opts)
        .expect("same pixel types, non-empty sizes");
    RgbImage::from_raw(w, h, dst.into_vec()).expect("resizer output matches its size")
}

/// Per-channel normalisation `(v * scale - mean[c]) / std[c]`, in the model's channel order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Feed channels as B, G, R instead of R, G, B.
    pub bgr: bool,
    /// Pixel scale (1/255).
    pub scale: f32,
    /// Mean per tensor channel.
    pub mean: [f32; 3],
    /// Standard deviation per tensor channel.
    pub std: [f32; 3],
}

fn triple(model: &Model, key: &str) -> Result<[f32; 3], OcrError> {
    let v: Vec<f32> = model
        .meta(key)
        .ok_or_else(|| OcrError::Model(format!("model has no '{key}' metadata")))?
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| OcrError::Model(format!("bad '{key}' metadata")))?;
    v.try_into()
        .map_err(|_| OcrError::Model(format!("'{key}' needs three values")))
}

impl Normalize {
    /// Reads the normalisation from a model's metadata.
    pub fn from_model(model: &Model) -> Result<Self, OcrError> {
        let std = triple(model, "preprocess.std")?;
        if std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(OcrError::Model("zero standard deviation".into()));
        }
        Ok(Normalize {
            bgr: model.meta("preprocess.channel_order") == Some("BGR"),
            scale: model
                .meta("preprocess.scale")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1.0 / 255.0),
            mean: triple(model, "preprocess.mean")?,
            std,
        })
    }

    /// Writes `img` into one CHW image slot of a tensor whose planes are `plane_w` wide
    /// (`plane_w >= img` width); columns right of the image are left untouched (zero padding).
    pub fn write(&self, img: &RgbImage, dst: &mut [f32], plane_w: usize) {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let plane = plane_w * h;
        let raw = img.as_raw();
        for c in 0..3 {
            let src_c = if self.bgr { 2 - c } else { c };
            let (m, inv) = (self.mean[c], 1.0 / self.std[c]);
            let out = &mut dst[c * plane..(c + 1) * plane];
            for y in 0..h {
                let row = &raw[y * w * 3..(y + 1) * w * 3];
                for (x, o) in out[y * plane_w..y * plane_w + w].iter_mut().enumerate() {
                    *o = (row[x * 3 + src_c] as f32 * self.scale - m) * inv;
                }
            }
        }
    }
}

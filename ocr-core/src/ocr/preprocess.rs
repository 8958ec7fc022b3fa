//! Turning RGB images into model input tensors: resizing and per-channel normalisation, as
//! the model file's `preprocess.*` metadata prescribes.

use super::OcrError;
use crate::runtime::Model;
use image::RgbImage;

/// Source index pairs and 11-bit fixed-point weights of a linear resize along one axis, with
/// half-pixel centres and edge clamping: the definition OpenCV's `INTER_LINEAR` uses for 8-bit
/// images, which is how the PP-OCR models saw their training data. Reproducing it (rather
/// than another bilinear filter) keeps Kestrel's crops within one grey level of the
/// reference pipeline's.
fn axis_coeffs(src: usize, dst: usize) -> Vec<(usize, usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as isize;
            let mut frac = f - s as f32;
            if s < 0 {
                s = 0;
                frac = 0.0;
            }
            if s as usize >= src - 1 {
                s = src as isize - 1;
                frac = 0.0;
            }
            let s = s as usize;
            let w0 = ((1.0 - frac) * 2048.0).round() as i32;
            (s, (s + 1).min(src - 1), w0, 2048 - w0)
        })
        .collect()
}

/// Bilinear resize of an RGB image (OpenCV `INTER_LINEAR` semantics, see [`axis_coeffs`]).
pub fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let (dw, dh) = (w as usize, h as usize);
    if (sw, sh) == (dw, dh) || sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return if (sw, sh) == (dw, dh) {
            img.clone()
        } else {
            RgbImage::new(w, h)
        };
    }
    let xs = axis_coeffs(sw, dw);
    let ys = axis_coeffs(sh, dh);
    let raw = img.as_raw();
    // Horizontal pass on the source rows that are needed, values scaled by 2048.
    let mut rows: Vec<Option<Vec<i32>>> = vec![None; sh];
    let horizontal = |y: usize| -> Vec<i32> {
        let row = &raw[y * sw * 3..(y + 1) * sw * 3];
        let mut out = Vec::with_capacity(dw * 3);
        for &(x0, x1, a0, a1) in &xs {
            for c in 0..3 {
                out.push(row[x0 * 3 + c] as i32 * a0 + row[x1 * 3 + c] as i32 * a1);
            }
        }
        out
    };
    let mut out = Vec::with_capacity(dw * dh * 3);
    for &(y0, y1, b0, b1) in &ys {
        for y in [y0, y1] {
            if rows[y].is_none() {
                rows[y] = Some(horizontal(y));
            }
        }
        let (r0, r1) = (
            rows[y0].as_deref().unwrap_or(&[]),
            rows[y1].as_deref().unwrap_or(&[]),
        );
        // Vertical pass with OpenCV's vectorised rounding: ((b0*(s0>>4))>>16 + (b1*(s1>>4))>>16 + 2) >> 2.
        for (&s0, &s1) in r0.iter().zip(r1) {
            let v = (((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2;
            out.push(v.clamp(0, 255) as u8);
        }
    }
    RgbImage::from_raw(w, h, out).expect("resize output matches its size")
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

//! Pixel operations shared by the pipeline and the `no_std` SDK: the bilinear resize the
//! PP-OCR models were trained with, and per-channel normalisation into tensor planes. Works on
//! raw interleaved RGB buffers, so it needs no image library.

use crate::runtime::Model;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

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
            let mut s = libm::floorf(f) as isize;
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
            let w0 = libm::roundf((1.0 - frac) * 2048.0) as i32;
            (s, (s + 1).min(src - 1), w0, 2048 - w0)
        })
        .collect()
}

/// The detector input size for a `w x h` image: scaled down so the longest side fits
/// `max_side` (never scaled up: a small image stays small), each side rounded to a multiple
/// of 32.
pub fn detector_input_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let scale = (max_side.max(32) as f32 / w.max(h) as f32).min(1.0);
    let round = |v: u32| ((libm::roundf((v as f32 * scale) / 32.0) as u32) * 32).max(32);
    (round(w), round(h))
}

/// The width of a `w x h` line resized to `height` with its aspect kept, within
/// `1..=max_w`.
pub fn line_width(w: u32, h: u32, height: u32, max_w: u32) -> u32 {
    (libm::ceilf(height as f32 * w as f32 / h.max(1) as f32) as u32).clamp(1, max_w)
}

/// Bilinear resize of a tightly packed RGB buffer (`sw x sh`, 3 bytes per pixel) to `dw x dh`
/// (OpenCV `INTER_LINEAR` semantics, see `axis_coeffs`). An empty source gives a black image.
pub fn resize_rgb(raw: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if (sw, sh) == (dw, dh) {
        return raw.to_vec();
    }
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 || raw.len() < sw * sh * 3 {
        return vec![0; dw * dh * 3];
    }
    let xs = axis_coeffs(sw, dw);
    let ys = axis_coeffs(sh, dh);
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
    out
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

/// Parses a decimal number (`-1.5`, `0.00392156862745098`, `2e-3`) as f32, correctly rounded
/// for the up-to-19-digit values model metadata holds. Written out because `str::parse::<f32>`
/// brings 14 KB of tables into the embeddable SDK.
pub fn parse_decimal(text: &str) -> Option<f32> {
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (num, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut scale = exp;
    let mut digits = 0;
    for (i, b) in int.bytes().chain(frac.bytes()).enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        if i >= int.len() {
            scale -= 1;
        }
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(b - b'0');
            if mantissa > 0 {
                digits += 1;
            }
        } else if i < int.len() {
            scale += 1; // integer digits beyond 19 still count
        }
    }
    // Powers of ten up to 1e22 are exact in f64 (and so is each product on the way to them),
    // so one multiply or divide rounds once. A loop, not `libm::pow`: 2 KB less in the SDK.
    let mut power = 1f64;
    for _ in 0..scale.unsigned_abs().min(400) {
        power *= 10.0;
    }
    let m = mantissa as f64;
    let v = match scale {
        _ if mantissa == 0 => 0.0,
        0.. => m * power,
        _ => m / power,
    };
    let v = v as f32;
    Some(if neg { -v } else { v })
}

fn triple(model: &Model, key: &str) -> Result<[f32; 3], String> {
    let mut out = [0f32; 3];
    let text = model
        .meta(key)
        .ok_or_else(|| msg!("model has no '{key}' metadata"))?;
    let mut n = 0;
    for part in text.split(',') {
        let v = parse_decimal(part).ok_or_else(|| msg!("bad '{key}' metadata"))?;
        *out.get_mut(n)
            .ok_or_else(|| msg!("'{key}' needs three values"))? = v;
        n += 1;
    }
    if n != 3 {
        return Err(msg!("'{key}' needs three values"));
    }
    Ok(out)
}

impl Normalize {
    /// Reads the normalisation from a model's `preprocess.*` metadata.
    pub fn from_model_meta(model: &Model) -> Result<Self, String> {
        let std = triple(model, "preprocess.std")?;
        if std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err("zero standard deviation".into());
        }
        Ok(Normalize {
            bgr: model.meta("preprocess.channel_order") == Some("BGR"),
            scale: model
                .meta("preprocess.scale")
                .and_then(parse_decimal)
                .unwrap_or(1.0 / 255.0),
            mean: triple(model, "preprocess.mean")?,
            std,
        })
    }

    /// Writes a tightly packed `w x h` RGB buffer into one CHW image slot of a tensor whose
    /// planes are `plane_w` wide (`plane_w >= w`); columns right of the image are left
    /// untouched (zero padding).
    pub fn write_rgb(&self, raw: &[u8], w: usize, h: usize, dst: &mut [f32], plane_w: usize) {
        let plane = plane_w * h;
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
    fn decimals_parse_like_the_standard_library() {
        for t in [
            "0.485",
            "0.456",
            "0.406",
            "0.229",
            "0.224",
            "0.225",
            "0.5",
            "1",
            "-3.25",
            "255",
            "0.00392156862745098",
            "2e-3",
            "1.5E2",
            ".5",
            "7.",
            "123456789012345678901234",
            "1e-50",
            "0e400",
            "3e45",
            "1e-7",
            "6.5e22",
        ] {
            assert_eq!(parse_decimal(t), t.parse::<f32>().ok(), "{t}");
        }
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "--1"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}

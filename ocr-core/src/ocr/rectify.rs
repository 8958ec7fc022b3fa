//! Rectification: a perspective crop of each text box, turned so the text runs left to right.

use super::result::{Point, Quad};
use image::RgbImage;

/// A text line cut out of the image.
#[derive(Debug, Clone)]
pub struct Crop {
    /// The upright line image.
    pub image: RgbImage,
    /// Where its corners lie in the source image: the crop's top-left, top-right,
    /// bottom-right and bottom-left, in that order.
    pub quad: Quad,
}

impl Crop {
    /// Turns the crop by 180 degrees (the classifier found it upside down).
    pub fn rotate180(&mut self) {
        image::imageops::rotate180_in_place(&mut self.image);
        let q = self.quad;
        self.quad = [q[2], q[3], q[0], q[1]];
    }

    /// Maps a horizontal span `[x0, x1]` of the crop (in crop pixels) to a quad in the image.
    pub fn span_quad(&self, x0: f32, x1: f32) -> Quad {
        let w = self.image.width().max(1) as f32;
        let (f0, f1) = ((x0 / w).clamp(0.0, 1.0), (x1 / w).clamp(0.0, 1.0));
        let q = &self.quad;
        [
            q[0].lerp(q[1], f0),
            q[0].lerp(q[1], f1),
            q[3].lerp(q[2], f1),
            q[3].lerp(q[2], f0),
        ]
    }
}

/// Lines at least this much taller than wide are vertical text and are turned to horizontal.
pub const VERTICAL_RATIO: f32 = 1.5;

/// Cuts the quad (top-left, top-right, bottom-right, bottom-left) out of `img` with a
/// perspective warp; a tall crop (vertical text) is turned 90 degrees counter-clockwise.
pub fn crop(img: &RgbImage, quad: &Quad) -> Crop {
    let w = quad[0]
        .dist(quad[1])
        .max(quad[3].dist(quad[2]))
        .round()
        .max(1.0);
    let h = quad[0]
        .dist(quad[3])
        .max(quad[1].dist(quad[2]))
        .round()
        .max(1.0);
    let (wu, hu) = (w as u32, h as u32);
    let to = [
        Point::new(0.0, 0.0),
        Point::new(w, 0.0),
        Point::new(w, h),
        Point::new(0.0, h),
    ];
    let out = match homography(&to, quad) {
        Some(m) => warp_cubic(img, &m, wu, hu),
        None => {
            // Degenerate quad: fall back to its axis-aligned bounding box.
            let x0 = quad.iter().map(|p| p.x).fold(f32::MAX, f32::min).max(0.0) as u32;
            let y0 = quad.iter().map(|p| p.y).fold(f32::MAX, f32::min).max(0.0) as u32;
            let x0 = x0.min(img.width().saturating_sub(1));
            let y0 = y0.min(img.height().saturating_sub(1));
            let cw = wu.min(img.width() - x0).max(1);
            let ch = hu.min(img.height() - y0).max(1);
            image::imageops::crop_imm(img, x0, y0, cw, ch).to_image()
        }
    };
    let mut c = Crop {
        image: out,
        quad: *quad,
    };
    if h >= VERTICAL_RATIO * w {
        c.image = image::imageops::rotate270(&c.image);
        let q = c.quad;
        c.quad = [q[1], q[2], q[3], q[0]];
    }
    c
}

/// The homography mapping the four `from` points onto the four `to` points (row-major 3x3,
/// last element 1), by solving the usual 8x8 linear system; `None` when degenerate.
pub fn homography(from: &[Point; 4], to: &[Point; 4]) -> Option<[f64; 9]> {
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (from[i].x as f64, from[i].y as f64);
        let (u, v) = (to[i].x as f64, to[i].y as f64);
        a[i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        a[i + 4] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    // Gauss-Jordan elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut m = [0f64; 9];
    for (i, (mi, row)) in m.iter_mut().zip(&a).enumerate() {
        *mi = row[8] / row[i];
    }
    m[8] = 1.0;
    Some(m)
}

/// Sub-pixel positions per pixel: sample coordinates are quantised to 1/32 pixel and the cubic
/// weights come from a table, as OpenCV's `warpPerspective` with `INTER_CUBIC` (which PP-OCR
/// crops with) does.
const TAB: usize = 32;

/// 1-D cubic convolution weights (a = -0.75) at fraction `x`.
fn cubic_weights(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

/// The 2-D fixed-point (2^15) weight table: `TAB x TAB` fractions, 16 weights each, corrected so
/// every set sums to exactly 2^15.
fn cubic_table() -> Vec<[i32; 16]> {
    let one: Vec<[f32; 4]> = (0..TAB)
        .map(|i| cubic_weights(i as f32 / TAB as f32))
        .collect();
    let mut out = Vec::with_capacity(TAB * TAB);
    for wy in &one {
        for wx in &one {
            let mut t = [0i32; 16];
            let mut sum = 0;
            for k1 in 0..4 {
                for k2 in 0..4 {
                    t[k1 * 4 + k2] = (wy[k1] * wx[k2] * 32768.0).round() as i32;
                    sum += t[k1 * 4 + k2];
                }
            }
            if sum != 32768 {
                // Put the rounding error on the largest (or smallest) central weight.
                let (mut lo, mut hi) = (5, 5);
                for k in [5, 6, 9, 10] {
                    if t[k] < t[lo] {
                        lo = k;
                    } else if t[k] > t[hi] {
                        hi = k;
                    }
                }
                let diff = sum - 32768;
                if diff < 0 {
                    t[hi] -= diff;
                } else {
                    t[lo] -= diff;
                }
            }
            out.push(t);
        }
    }
    out
}

/// Warps `img` into a `w x h` image: output pixel (x, y) samples the source at `m * (x, y, 1)`
/// with bicubic interpolation and replicated borders.
fn warp_cubic(img: &RgbImage, m: &[f64; 9], w: u32, h: u32) -> RgbImage {
    static TABLE: std::sync::OnceLock<Vec<[i32; 16]>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(cubic_table);
    let (sw, sh) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let mut out = RgbImage::new(w, h);
    for (y, row) in out.rows_mut().enumerate() {
        for (x, px) in row.enumerate() {
            let (xf, yf) = (x as f64, y as f64);
            let den = m[6] * xf + m[7] * yf + m[8];
            let den = if den != 0.0 { TAB as f64 / den } else { 0.0 };
            let lim = |v: f64| v.clamp(i32::MIN as f64, i32::MAX as f64).round() as i64;
            let fx = lim((m[0] * xf + m[1] * yf + m[2]) * den);
            let fy = lim((m[3] * xf + m[4] * yf + m[5]) * den);
            let (ix, iy) = (fx >> 5, fy >> 5);
            let weights = &table[((fy & 31) * TAB as i64 + (fx & 31)) as usize];
            let mut acc = [0i32; 3];
            for k1 in 0..4 {
                let sy = (iy - 1 + k1 as i64).clamp(0, sh - 1);
                for k2 in 0..4 {
                    let sx = (ix - 1 + k2 as i64).clamp(0, sw - 1);
                    let o = ((sy * sw + sx) * 3) as usize;
                    let wgt = weights[k1 * 4 + k2];
                    for (a, &v) in acc.iter_mut().zip(&raw[o..o + 3]) {
                        *a += wgt * v as i32;
                    }
                }
            }
            px.0 = acc.map(|v| ((v + (1 << 14)) >> 15).clamp(0, 255) as u8);
        }
    }
    out
}

/// The whole image as one line (for already-cropped lines).
pub fn whole(img: &RgbImage) -> Crop {
    let (w, h) = (img.width() as f32, img.height() as f32);
    Crop {
        image: img.clone(),
        quad: [
            Point::new(0.0, 0.0),
            Point::new(w, 0.0),
            Point::new(w, h),
            Point::new(0.0, h),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn axis_aligned_crop_copies_pixels() {
        let img = RgbImage::from_fn(40, 30, |x, y| Rgb([x as u8, y as u8, 7]));
        let q = [
            Point::new(10.0, 5.0),
            Point::new(30.0, 5.0),
            Point::new(30.0, 15.0),
            Point::new(10.0, 15.0),
        ];
        let c = crop(&img, &q);
        assert_eq!(c.image.dimensions(), (20, 10));
        assert_eq!(c.image.get_pixel(3, 4).0, [13, 9, 7]);
    }

    #[test]
    fn tall_crops_turn_and_keep_their_corners() {
        let img = RgbImage::from_fn(40, 100, |x, y| Rgb([x as u8, y as u8, 0]));
        let q = [
            Point::new(10.0, 10.0),
            Point::new(30.0, 10.0),
            Point::new(30.0, 90.0),
            Point::new(10.0, 90.0),
        ];
        let c = crop(&img, &q);
        assert_eq!(c.image.dimensions(), (80, 20));
        // The crop's left edge is the box's top edge.
        assert_eq!(c.quad[0], Point::new(30.0, 10.0));
        assert_eq!(c.quad[3], Point::new(10.0, 10.0));
        let mut c2 = c.clone();
        c2.rotate180();
        assert_eq!(c2.quad[0], c.quad[2]);
        assert_eq!(c2.image.get_pixel(0, 0), c.image.get_pixel(79, 19));
    }
}

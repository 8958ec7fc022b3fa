//! Rectification: a perspective crop of each text box, turned so the text runs left to right.

use super::result::{Point, Quad};
use image::RgbImage;
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp_into};

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
    let to = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let from = quad.map(|p| (p.x, p.y));
    let mut out = RgbImage::new(wu, hu);
    match Projection::from_control_points(from, to) {
        Some(proj) => warp_into(
            img,
            proj,
            Interpolation::Bicubic,
            Border::Replicate,
            &mut out,
        ),
        None => {
            // Degenerate quad: fall back to its axis-aligned bounding box.
            let x0 = quad.iter().map(|p| p.x).fold(f32::MAX, f32::min).max(0.0) as u32;
            let y0 = quad.iter().map(|p| p.y).fold(f32::MAX, f32::min).max(0.0) as u32;
            let x0 = x0.min(img.width().saturating_sub(1));
            let y0 = y0.min(img.height().saturating_sub(1));
            let cw = wu.min(img.width() - x0).max(1);
            let ch = hu.min(img.height() - y0).max(1);
            out = image::imageops::crop_imm(img, x0, y0, cw, ch).to_image();
        }
    }
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

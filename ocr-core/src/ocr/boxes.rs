//! DB post-processing: probability map -> text boxes.
//!
//! Binarise at `thresh`; trace the outer contour of every text region; take each contour's
//! minimum-area rectangle; score it by the mean probability inside; grow it by
//! `area * unclip_ratio / perimeter` on every side (the DB "unclip" of a rectangle); drop
//! small or low-scoring boxes; scale to image coordinates.

use super::detect::{DetOptions, ProbMap};
use super::geometry::{self, RotatedRect, order_corners};
use super::result::{Point, Quad};
use image::{GrayImage, Luma};
use imageproc::contours::{BorderType, find_contours};

/// A detected text box in image coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Corners: top-left, top-right, bottom-right, bottom-left.
    pub quad: Quad,
    /// Mean probability inside the (un-grown) box.
    pub score: f32,
}

/// Mean of the map inside a convex quad (pixel centres inside or on the edge).
pub fn box_score(map: &ProbMap, quad: &Quad) -> f32 {
    let xs = quad.iter().map(|p| p.x);
    let ys = quad.iter().map(|p| p.y);
    let clamp_x = |v: f32| (v.max(0.0) as usize).min(map.width - 1);
    let clamp_y = |v: f32| (v.max(0.0) as usize).min(map.height - 1);
    let (x0, x1) = (
        clamp_x(xs.clone().fold(f32::MAX, f32::min).floor()),
        clamp_x(xs.fold(f32::MIN, f32::max).ceil()),
    );
    let (y0, y1) = (
        clamp_y(ys.clone().fold(f32::MAX, f32::min).floor()),
        clamp_y(ys.fold(f32::MIN, f32::max).ceil()),
    );
    let inside = |x: f32, y: f32| {
        let mut sign = 0f32;
        for i in 0..4 {
            let (a, b) = (quad[i], quad[(i + 1) % 4]);
            let c = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x);
            if c.abs() < 1e-6 {
                continue;
            }
            if sign == 0.0 {
                sign = c.signum();
            } else if c.signum() != sign {
                return false;
            }
        }
        true
    };
    let (mut sum, mut n) = (0f64, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(x as f32, y as f32) {
                sum += map.data[y * map.width + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// Finds text boxes in a probability map; coordinates are scaled to an image of
/// `image_w x image_h`.
pub fn find_boxes(map: &ProbMap, opts: &DetOptions, image_w: u32, image_h: u32) -> Vec<TextBox> {
    let bitmap = GrayImage::from_fn(map.width as u32, map.height as u32, |x, y| {
        Luma([
            if map.data[y as usize * map.width + x as usize] > opts.thresh {
                255
            } else {
                0
            },
        ])
    });
    let sx = image_w as f32 / map.width as f32;
    let sy = image_h as f32 / map.height as f32;
    let mut out = Vec::new();
    let contours = find_contours::<i32>(&bitmap);
    for contour in contours
        .iter()
        .filter(|c| c.border_type == BorderType::Outer)
        .take(opts.max_candidates)
    {
        let pts: Vec<Point> = contour
            .points
            .iter()
            .map(|p| Point::new(p.x as f32, p.y as f32))
            .collect();
        let Some(rect) = geometry::min_area_rect(&pts) else {
            continue;
        };
        if rect.short_side() < opts.min_size {
            continue;
        }
        let quad = order_corners(rect.corners());
        let score = box_score(map, &quad);
        if score < opts.box_thresh {
            continue;
        }
        let Some(grown) = unclip(&quad, opts.unclip_ratio) else {
            continue;
        };
        if grown.short_side() < opts.min_size + 2.0 {
            continue;
        }
        let q = order_corners(grown.corners()).map(|p| {
            Point::new(
                (p.x * sx).round().clamp(0.0, image_w as f32),
                (p.y * sy).round().clamp(0.0, image_h as f32),
            )
        });
        // Boxes that collapse against the image border are noise.
        if q[0].dist(q[1]) <= 3.0 || q[0].dist(q[3]) <= 3.0 {
            continue;
        }
        out.push(TextBox { quad: q, score });
    }
    out
}

/// The DB unclip of a box: grow it by `area * ratio / perimeter` on every side. The box is
/// first snapped to whole pixels and the grown corners rounded to whole pixels, as the integer
/// polygon offsetting of the PP-OCR reference does, so boxes agree with it to the pixel.
fn unclip(quad: &Quad, ratio: f32) -> Option<RotatedRect> {
    let snapped: Vec<Point> = quad
        .iter()
        .map(|p| Point::new(p.x.trunc(), p.y.trunc()))
        .collect();
    let perim = geometry::perimeter(&snapped);
    if perim <= 0.0 {
        return None;
    }
    let d = geometry::area(&snapped) * ratio / perim;
    let grown = geometry::min_area_rect(&snapped)?.expanded(d);
    let corners: Vec<Point> = grown
        .corners()
        .iter()
        .map(|p| Point::new(p.x.round(), p.y.round()))
        .collect();
    geometry::min_area_rect(&corners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_with_rects(w: usize, h: usize, rects: &[(usize, usize, usize, usize)]) -> ProbMap {
        let mut data = vec![0.0; w * h];
        for &(x0, y0, x1, y1) in rects {
            for y in y0..y1 {
                for x in x0..x1 {
                    data[y * w + x] = 0.9;
                }
            }
        }
        ProbMap {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn finds_and_unclips_known_boxes() {
        let map = map_with_rects(64, 64, &[(10, 10, 50, 20), (5, 40, 30, 46)]);
        let mut boxes = find_boxes(&map, &DetOptions::default(), 128, 64);
        boxes.sort_by(|a, b| a.quad[0].y.total_cmp(&b.quad[0].y));
        assert_eq!(boxes.len(), 2);
        let b = &boxes[0];
        assert!((b.score - 0.9).abs() < 1e-3);
        // Region x 10..=49, y 10..=19: a 39 x 9 rectangle between pixel centres, grown by
        // 39*9*1.5/96 = 5.48 on each side, then scaled x2 horizontally.
        let (w, h) = (b.quad[0].dist(b.quad[1]), b.quad[0].dist(b.quad[3]));
        assert!((w - 2.0 * (39.0 + 2.0 * 5.48)).abs() <= 2.0, "width {w}");
        assert!((h - (9.0 + 2.0 * 5.48)).abs() <= 1.0, "height {h}");
        assert!(b.quad[0].x < b.quad[1].x && b.quad[0].y < b.quad[3].y);
    }

    #[test]
    fn drops_tiny_and_weak_regions() {
        let mut map = map_with_rects(64, 64, &[(10, 10, 12, 12)]);
        assert!(find_boxes(&map, &DetOptions::default(), 64, 64).is_empty());
        // A large region whose probability is above thresh but below box_thresh.
        for v in map.data.iter_mut().skip(30 * 64).take(10 * 64) {
            *v = 0.4;
        }
        assert!(find_boxes(&map, &DetOptions::default(), 64, 64).is_empty());
    }
}

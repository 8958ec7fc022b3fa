//! Document localisation and rectification: the quadrilaterals of cards and documents in a
//! photo (edges, then contours: convex hulls approximated by four corners), and the warp of
//! one of them to its canonical shape (ID-1 cards are 85.60 x 53.98 mm).

use image::{GrayImage, RgbImage};
use imageproc::geometry::{approximate_polygon_dp, arc_length, contour_area, convex_hull};
use imageproc::point::Point as IPoint;
use ocr_core::ocr::{Point, Quad};
use ocr_core::ocr::{geometry, rectify};

/// Width / height of an ID-1 card (bank cards, ID cards): 85.60 / 53.98.
pub const ID1_ASPECT: f32 = 85.60 / 53.98;

/// The canonical size ID-1 cards are rectified to (10 pixels per mm).
pub const ID1_SIZE: (u32, u32) = (856, 540);

/// The side the analysis runs at: photos are scaled down to it first.
const WORK_SIDE: f32 = 640.0;

/// A document found in a photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// Corners in image pixels: top-left, top-right, bottom-right, bottom-left, with the long
    /// side on top (the card may still be upside down: reading decides).
    pub quad: Quad,
    /// How much it looks like the document: area share x rectangularity x aspect fit, 0..1.
    pub score: f32,
    /// False when no outline was found and the quad is the whole image.
    pub outlined: bool,
}

/// The photo scaled down to [`WORK_SIDE`], and the scale applied.
fn small_photo(img: &RgbImage) -> (RgbImage, f32) {
    let (w, h) = img.dimensions();
    let scale = (WORK_SIDE / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = if scale < 1.0 {
        image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle)
    } else {
        img.clone()
    };
    (small, scale)
}

/// A plane's Canny edges (after a light blur).
fn canny_edges(plane: &GrayImage) -> GrayImage {
    let blurred = imageproc::filter::gaussian_blur_f32(plane, 1.5);
    imageproc::edges::canny(&blurred, 12.0, 36.0)
}

/// Edges dilated so that an outline's gaps close.
fn closed(edges: &GrayImage) -> GrayImage {
    imageproc::morphology::dilate(edges, imageproc::distance_transform::Norm::LInf, 2)
}

/// The distance between two points.
pub fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Orders four corners clockwise from the top-left, long side on top.
fn order_corners(pts: [Point; 4]) -> Quad {
    let cx = pts.iter().map(|p| p.x).sum::<f32>() / 4.0;
    let cy = pts.iter().map(|p| p.y).sum::<f32>() / 4.0;
    let mut v = pts.to_vec();
    // Clockwise in image coordinates (y down) is increasing atan2.
    v.sort_by(|a, b| {
        (a.y - cy)
            .atan2(a.x - cx)
            .total_cmp(&(b.y - cy).atan2(b.x - cx))
    });
    // Start at the corner nearest the top-left.
    let start = (0..4)
        .min_by(|&i, &j| (v[i].x + v[i].y).total_cmp(&(v[j].x + v[j].y)))
        .unwrap_or(0);
    let mut q = [
        v[start],
        v[(start + 1) % 4],
        v[(start + 2) % 4],
        v[(start + 3) % 4],
    ];
    // Long side on top: a portrait quad turns a quarter (its left side becomes the top).
    if dist(q[0], q[1]) + dist(q[2], q[3]) < dist(q[1], q[2]) + dist(q[3], q[0]) {
        q = [q[3], q[0], q[1], q[2]];
    }
    q
}

/// The corners of a whole `w` x `h` image.
pub fn whole_quad(w: f32, h: f32) -> Quad {
    [
        Point::new(0.0, 0.0),
        Point::new(w, 0.0),
        Point::new(w, h),
        Point::new(0.0, h),
    ]
}

/// The centre of a quadrilateral (mean of its corners).
pub fn centre(q: &Quad) -> Point {
    Point::new(
        q.iter().map(|p| p.x).sum::<f32>() / 4.0,
        q.iter().map(|p| p.y).sum::<f32>() / 4.0,
    )
}

/// The height of a text box: the mean of its left and right sides' vertical extents.
pub fn height(q: &Quad) -> f32 {
    ((q[3].y - q[0].y).abs() + (q[2].y - q[1].y).abs()) / 2.0
}

/// The unit vector along a quad's top edge (left to right); `(1, 0)` for a degenerate edge.
pub fn direction(q: &Quad) -> (f32, f32) {
    let len = dist(q[0], q[1]);
    if len < 1e-3 {
        (1.0, 0.0)
    } else {
        ((q[1].x - q[0].x) / len, (q[1].y - q[0].y) / len)
    }
}

/// `q` grown by `along` at each end, in its top edge's direction, and by `across` above and
/// below, perpendicular to it (a tilted text line stays tilted).
pub fn grow(q: &Quad, along: f32, across: f32) -> Quad {
    let (ux, uy) = direction(q);
    // Across the line, pointing down the text.
    let (nx, ny) = (-uy, ux);
    let moved = |p: Point, a: f32, c: f32| Point::new(p.x + a * ux + c * nx, p.y + a * uy + c * ny);
    [
        moved(q[0], -along, -across),
        moved(q[1], along, -across),
        moved(q[2], along, across),
        moved(q[3], -along, across),
    ]
}

/// Width / height of a quad from its mean opposite sides.
pub fn quad_aspect(q: &Quad) -> f32 {
    let w = (dist(q[0], q[1]) + dist(q[3], q[2])) / 2.0;
    let h = (dist(q[1], q[2]) + dist(q[0], q[3])) / 2.0;
    w / h.max(1e-3)
}

/// Finds document outlines, best first. `aspect` (width / height of the document, e.g.
/// [`ID1_ASPECT`]) favours outlines of that shape. When nothing is found the whole image is
/// returned (`outlined: false`): the photo is taken to be the document itself.
pub fn find_documents(img: &RgbImage, aspect: Option<f32>) -> Vec<Located> {
    let (w, h) = img.dimensions();
    let whole = Located {
        quad: whole_quad(w as f32, h as f32),
        score: 0.0,
        outlined: false,
    };
    if w < 16 || h < 16 {
        return vec![whole];
    }
    let (small, scale) = small_photo(img);
    // Edges of the grey level first; when they outline nothing, those of the colour channels
    // too (a dark grey card on dark purple cloth differs in hue far more than in brightness;
    // tried only then, as a patterned background's colour edges can bend a good outline).
    let mut edges = canny_edges(&image::imageops::grayscale(&small));
    let mut kept = outlines(&closed(&edges), scale, aspect);
    if kept.is_empty() {
        for c in 0..3 {
            let plane = GrayImage::from_fn(small.width(), small.height(), |x, y| {
                image::Luma([small.get_pixel(x, y)[c]])
            });
            let more = canny_edges(&plane);
            edges
                .pixels_mut()
                .zip(more.pixels())
                .for_each(|(a, b)| a[0] |= b[0]);
        }
        kept = outlines(&closed(&edges), scale, aspect);
    }
    if kept.is_empty() {
        kept.push(whole);
    }
    kept
}

/// The document outlines in an edge map of the photo scaled by `scale`, best first.
fn outlines(edges: &GrayImage, scale: f32, aspect: Option<f32>) -> Vec<Located> {
    let (sw, sh) = edges.dimensions();
    let image_area = (sw * sh) as f64;
    let mut found: Vec<Located> = Vec::new();
    for contour in imageproc::contours::find_contours::<i32>(edges) {
        if contour.points.len() < 20 {
            continue;
        }
        let hull = convex_hull(contour.points.clone());
        let hull_area = contour_area(&hull);
        if hull_area < 0.01 * image_area || hull_area > 0.985 * image_area {
            continue;
        }
        let eps = 0.02 * arc_length(&hull, true);
        let approx: Vec<IPoint<i32>> = approximate_polygon_dp(&hull, eps, true);
        let corners: [IPoint<i32>; 4] = if approx.len() == 4 {
            [approx[0], approx[1], approx[2], approx[3]]
        } else {
            imageproc::geometry::min_area_rect(&hull)
        };
        let quad = order_corners(corners.map(|p| Point::new(p.x as f32, p.y as f32)));
        let qa = geometry::area(&quad) as f64;
        if qa <= 0.0 {
            continue;
        }
        // A document's outline is a rectangle seen in perspective: a quadrilateral with a
        // corner far from square is an edge contour that cut a corner off, whose hull area
        // the polygon still matches.
        if !square_enough(&quad) {
            continue;
        }
        let rectangular = (hull_area / qa).min(qa / hull_area) as f32;
        // A document of known shape: an outline far from it is part of something else (a
        // card's printed pattern, half a card).
        if aspect.is_some_and(|a| (quad_aspect(&quad) / a).ln().abs() > 1.3f32.ln()) {
            continue;
        }
        let fit = aspect.map_or(1.0, |a| (-(quad_aspect(&quad) / a).ln().abs() * 3.0).exp());
        let score = (qa / image_area).sqrt() as f32 * rectangular * fit;
        found.push(Located {
            quad: quad.map(|p| Point::new(p.x / scale, p.y / scale)),
            score,
            outlined: true,
        });
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Keep outlines whose centre is outside every better one (nested edges of one card).
    let mut kept: Vec<Located> = Vec::new();
    for cand in found {
        let c = centre(&cand.quad);
        if kept.iter().all(|k| !inside(&k.quad, c)) && cand.score > 0.1 {
            kept.push(cand);
        }
    }
    kept
}

/// The largest angle a document outline's corner may be off square: 40 degrees leaves room
/// for strong perspective (the test's trapezoid is 27 degrees off) and rejects triangles with
/// a fourth point near an edge (52 degrees off in the test).
const MAX_CORNER_SKEW_DEG: f32 = 40.0;

/// Whether every corner of `q` is within [`MAX_CORNER_SKEW_DEG`] of a right angle.
fn square_enough(q: &Quad) -> bool {
    (0..4).all(|i| {
        let (prev, p, next) = (q[(i + 3) % 4], q[i], q[(i + 1) % 4]);
        let (ax, ay, bx, by) = (prev.x - p.x, prev.y - p.y, next.x - p.x, next.y - p.y);
        let norms = (ax.hypot(ay) * bx.hypot(by)).max(f32::MIN_POSITIVE);
        let cos = ((ax * bx + ay * by) / norms).clamp(-1.0, 1.0);
        (cos.acos().to_degrees() - 90.0).abs() <= MAX_CORNER_SKEW_DEG
    })
}

/// Whether `p` lies inside the convex quadrilateral `q` (or on its edge).
pub fn inside(q: &Quad, p: Point) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        if cross != 0.0 {
            if sign != 0.0 && cross.signum() != sign {
                return false;
            }
            sign = cross.signum();
        }
    }
    true
}

/// Outlines big enough to read a card from (at least [`READABLE_COVERAGE`] of the photo);
/// smaller ones are for the capture-quality check to report as too small.
pub fn readable_documents(img: &RgbImage, aspect: Option<f32>) -> Vec<Located> {
    let area = (img.width() as f32 * img.height() as f32).max(1.0);
    find_documents(img, aspect)
        .into_iter()
        .filter(|l| !l.outlined || geometry::area(&l.quad) >= READABLE_COVERAGE * area)
        .collect()
}

/// The share of a photo a card outline must cover for the pipelines to read from it.
pub const READABLE_COVERAGE: f32 = 0.12;

/// Documents by their text layout, for photos whose outlines do not show (a pale card on a
/// pale background): text boxes are grouped by single linkage (gaps under `link` times the
/// median box height), and each group of at least `min_boxes` boxes gives the minimum-area
/// rectangle around it, grown by `margin` of its size on every side. Largest first.
pub fn from_text_layout(boxes: &[Quad], link: f32, min_boxes: usize, margin: f32) -> Vec<Located> {
    let Some(median) = median_height(boxes) else {
        return Vec::new();
    };
    let reach = median.max(4.0) * link;
    // Union-find over boxes whose corners come within `reach` of each other.
    let mut parent: Vec<usize> = (0..boxes.len()).collect();
    fn root(p: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let gap = |a: &Quad, b: &Quad| {
        let (ax0, ax1) = min_max(a.iter().map(|p| p.x));
        let (ay0, ay1) = min_max(a.iter().map(|p| p.y));
        let (bx0, bx1) = min_max(b.iter().map(|p| p.x));
        let (by0, by1) = min_max(b.iter().map(|p| p.y));
        let dx = (bx0 - ax1).max(ax0 - bx1).max(0.0);
        let dy = (by0 - ay1).max(ay0 - by1).max(0.0);
        dx.max(dy)
    };
    for i in 0..boxes.len() {
        for j in i + 1..boxes.len() {
            if gap(&boxes[i], &boxes[j]) < reach {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..boxes.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out: Vec<Located> = groups
        .values()
        .filter(|g| g.len() >= min_boxes)
        .map(|g| {
            let pts: Vec<IPoint<f32>> = g
                .iter()
                .flat_map(|&i| boxes[i].iter().map(|p| IPoint::new(p.x, p.y)))
                .collect();
            let rect = imageproc::geometry::min_area_rect(&pts);
            let quad = order_corners(rect.map(|p| Point::new(p.x, p.y)));
            let c = centre(&quad);
            let grown = quad.map(|p| {
                Point::new(
                    c.x + (p.x - c.x) * (1.0 + 2.0 * margin),
                    c.y + (p.y - c.y) * (1.0 + 2.0 * margin),
                )
            });
            Located {
                score: geometry::area(&grown),
                quad: grown,
                outlined: false,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The median [`height`] of `quads` (the upper one of an even count); `None` for none.
pub fn median_height<'a>(quads: impl IntoIterator<Item = &'a Quad>) -> Option<f32> {
    let mut heights: Vec<f32> = quads.into_iter().map(height).collect();
    heights.sort_by(f32::total_cmp);
    heights.get(heights.len() / 2).copied()
}

/// Whether a document as big as the one at `q` (its axis-aligned box, less 20%) fits beside it
/// in a `w` x `h` photo: left, right, above or below.
pub fn room_beside(q: &Quad, w: f32, h: f32) -> bool {
    let (x0, x1) = min_max(q.iter().map(|p| p.x));
    let (y0, y1) = min_max(q.iter().map(|p| p.y));
    let (dw, dh) = (0.8 * (x1 - x0), 0.8 * (y1 - y0));
    x0 >= dw || w - x1 >= dw || y0 >= dh || h - y1 >= dh
}

fn min_max(v: impl Iterator<Item = f32>) -> (f32, f32) {
    v.fold((f32::MAX, f32::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// A document warped to an upright image, and the way back to the photo.
#[derive(Debug, Clone)]
pub struct Rectified {
    /// The upright document.
    pub image: RgbImage,
    /// Where the image's corners lie in the photo (top-left, top-right, bottom-right,
    /// bottom-left of the image).
    pub quad: Quad,
    /// Whether the document was turned 180 degrees after it read upside down.
    pub turned: bool,
}

impl Rectified {
    /// Warps `quad` of `photo` upright: to `size` when given (a document of known shape),
    /// else keeping the quad's own shape at the canonical card width.
    pub fn new(photo: &RgbImage, quad: &Quad, size: Option<(u32, u32)>) -> Self {
        let image = match size {
            Some(size) => rectify_to(photo, quad, size),
            None => {
                let region = rectify::crop(photo, quad).image;
                let w = ID1_SIZE.0;
                let h = (region.height() as f32 * w as f32 / region.width().max(1) as f32)
                    .round()
                    .clamp(1.0, 4.0 * ID1_SIZE.1 as f32) as u32;
                image::imageops::resize(&region, w, h, image::imageops::FilterType::CatmullRom)
            }
        };
        Rectified {
            image,
            quad: *quad,
            turned: false,
        }
    }

    /// The whole photo as the document (no warp).
    pub fn whole(photo: &RgbImage) -> Self {
        let crop = rectify::whole(photo);
        Rectified {
            image: crop.image,
            quad: crop.quad,
            turned: false,
        }
    }

    /// Turns the document 180 degrees.
    pub fn turn(&mut self) {
        image::imageops::rotate180_in_place(&mut self.image);
        let q = self.quad;
        self.quad = [q[2], q[3], q[0], q[1]];
        self.turned = !self.turned;
    }

    /// Turns the document 90 degrees clockwise (a page whose outline was found with its
    /// corners a quarter turn off).
    pub fn turn_quarter(&mut self) {
        self.image = image::imageops::rotate90(&self.image);
        let q = self.quad;
        self.quad = [q[3], q[0], q[1], q[2]];
    }

    /// The perspective from the upright image to the photo.
    fn projection(&self) -> Option<imageproc::geometric_transformations::Projection> {
        let (w, h) = (self.image.width() as f32, self.image.height() as f32);
        let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
        let to = self.quad.map(|p| (p.x, p.y));
        imageproc::geometric_transformations::Projection::from_control_points(from, to)
    }

    /// Maps a quadrilateral of the upright image to the photo (unchanged when the document's
    /// quad is degenerate).
    pub fn quad_to_photo(&self, q: &Quad) -> Quad {
        match self.projection() {
            Some(proj) => q.map(|p| {
                let (x, y) = proj * (p.x, p.y);
                Point::new(x, y)
            }),
            None => *q,
        }
    }
}

/// Warps the quad to an upright `size` image (perspective, then a resize to the canonical
/// size).
pub fn rectify_to(img: &RgbImage, quad: &Quad, size: (u32, u32)) -> RgbImage {
    let crop = rectify::crop(img, quad);
    image::imageops::resize(
        &crop.image,
        size.0,
        size.1,
        image::imageops::FilterType::CatmullRom,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp};

    /// A grey card on purple cloth of the same brightness: no grey-level edge, so the outline
    /// comes from the colour channels' edges.
    #[test]
    fn a_card_as_bright_as_its_background_is_outlined_by_colour() {
        let purple = Rgb([90u8, 10, 75]);
        let grey =
            image::imageops::grayscale(&RgbImage::from_pixel(1, 1, purple)).get_pixel(0, 0)[0];
        let mut img = RgbImage::from_pixel(900, 700, purple);
        let (x0, y0, cw, ch) = (200u32, 180u32, 428u32, 270u32);
        for y in y0..y0 + ch {
            for x in x0..x0 + cw {
                img.put_pixel(x, y, Rgb([grey; 3]));
            }
        }
        let gray = image::imageops::grayscale(&img);
        assert!(
            gray.pixels().all(|p| p[0].abs_diff(grey) <= 1),
            "same brightness"
        );
        let found = find_documents(&img, Some(ID1_ASPECT));
        let best = &found[0];
        assert!(best.outlined, "{found:?}");
        let want = [
            (200.0, 180.0),
            (628.0, 180.0),
            (628.0, 450.0),
            (200.0, 450.0),
        ];
        for (p, (x, y)) in best.quad.iter().zip(want) {
            assert!(
                (p.x - x).abs() < 8.0 && (p.y - y).abs() < 8.0,
                "{:?}",
                best.quad
            );
        }
    }

    /// A light card with some text-like bars on a dark desk, warped by a perspective.
    fn scene(rot: f32) -> (RgbImage, [(f32, f32); 4]) {
        let mut img = RgbImage::from_pixel(900, 700, Rgb([60, 70, 80]));
        let (x0, y0, cw, ch) = (200u32, 180u32, 428u32, 270u32);
        for y in y0..y0 + ch {
            for x in x0..x0 + cw {
                let bar = (y - y0) % 40 < 12 && (x - x0) > 30 && (x - x0) < 300;
                img.put_pixel(
                    x,
                    y,
                    if bar {
                        Rgb([30, 30, 30])
                    } else {
                        Rgb([235, 230, 220])
                    },
                );
            }
        }
        let proj = Projection::translate(450.0, 350.0)
            * Projection::rotate(rot)
            * Projection::translate(-450.0, -350.0);
        let out = warp(
            &img,
            proj,
            Interpolation::Bilinear,
            Border::Constant(Rgb([60, 70, 80])),
        );
        let corners = [
            (x0 as f32, y0 as f32),
            ((x0 + cw) as f32, y0 as f32),
            ((x0 + cw) as f32, (y0 + ch) as f32),
            (x0 as f32, (y0 + ch) as f32),
        ]
        .map(|p| proj * p);
        (out, corners)
    }

    #[test]
    fn finds_a_rotated_card_and_its_corners() {
        for rot in [0.0f32, 0.2, -0.35] {
            let (img, want) = scene(rot);
            let found = find_documents(&img, Some(ID1_ASPECT));
            let best = &found[0];
            assert!(best.outlined, "rot {rot}: no outline");
            for (got, want) in best.quad.iter().zip(want) {
                let d = ((got.x - want.0).powi(2) + (got.y - want.1).powi(2)).sqrt();
                assert!(d < 12.0, "rot {rot}: corner {got:?} vs {want:?}");
            }
            assert!((quad_aspect(&best.quad) - ID1_ASPECT).abs() < 0.1);
        }
    }

    #[test]
    fn outlines_must_have_nearly_square_corners() {
        let quad = |p: [(f32, f32); 4]| p.map(|(x, y)| Point::new(x, y));
        // A card seen square on, rotated, and in strong perspective (top edge shortened).
        assert!(square_enough(&quad([
            (0.0, 0.0),
            (856.0, 0.0),
            (856.0, 540.0),
            (0.0, 540.0)
        ])));
        assert!(square_enough(&quad([
            (100.0, 0.0),
            (900.0, 200.0),
            (800.0, 600.0),
            (0.0, 400.0)
        ])));
        assert!(square_enough(&quad([
            (200.0, 0.0),
            (656.0, 0.0),
            (856.0, 400.0),
            (0.0, 400.0)
        ])));
        // A bank-card photo's edge contour that cut the top-left corner off (generated card
        // 00076 of seed 9002): a triangle with a fourth point near one edge.
        assert!(!square_enough(&quad([
            (1051.0, 107.0),
            (1182.0, 113.0),
            (1188.0, 734.0),
            (194.0, 716.0)
        ])));
    }

    #[test]
    fn room_beside_a_card_for_another() {
        let card = |x0: f32, y0: f32, x1: f32, y1: f32| {
            [
                Point::new(x0, y0),
                Point::new(x1, y0),
                Point::new(x1, y1),
                Point::new(x0, y1),
            ]
        };
        // A BDCI canvas: the front at the top of 1000x1000, the back below it.
        assert!(room_beside(
            &card(194.0, 98.0, 669.0, 408.0),
            1000.0,
            1000.0
        ));
        // One card in the middle of a phone photo: no room on any side.
        assert!(!room_beside(
            &card(332.0, 191.0, 1032.0, 631.0),
            1364.0,
            822.0
        ));
    }

    #[test]
    fn a_plain_image_is_its_own_document() {
        let img = RgbImage::from_pixel(300, 190, Rgb([200, 200, 200]));
        let found = find_documents(&img, Some(ID1_ASPECT));
        assert_eq!(found.len(), 1);
        assert!(!found[0].outlined);
    }

    #[test]
    fn corners_come_clockwise_with_the_long_side_on_top() {
        // A portrait rectangle given in scrambled order.
        let q = order_corners([
            Point::new(10.0, 200.0),
            Point::new(110.0, 0.0),
            Point::new(10.0, 0.0),
            Point::new(110.0, 200.0),
        ]);
        assert!(dist(q[0], q[1]) > dist(q[1], q[2]));
        assert!(geometry::area(&q) > 19000.0);
    }
}

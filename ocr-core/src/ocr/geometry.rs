//! Plane geometry for boxes: convex hulls, minimum-area rectangles, polygon areas, clipping
//! and intersection-over-union.

use super::result::{Point, Quad};

/// Signed area of a polygon (positive when counter-clockwise in a y-up frame).
pub fn signed_area(poly: &[Point]) -> f32 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.x * b.y - b.x * a.y
        })
        .sum::<f32>()
        / 2.0
}

/// Area of a polygon.
pub fn area(poly: &[Point]) -> f32 {
    signed_area(poly).abs()
}

/// Perimeter of a polygon.
pub fn perimeter(poly: &[Point]) -> f32 {
    let n = poly.len();
    (0..n).map(|i| poly[i].dist(poly[(i + 1) % n])).sum()
}

fn cross(o: Point, a: Point, b: Point) -> f32 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut p: Vec<Point> = points.to_vec();
    p.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &pt in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], pt) <= 0.0
            {
                hull.pop();
            }
            hull.push(pt);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: centre, half extents along its two axes and the unit axis `u`
/// (the other axis is `u` turned by 90 degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    /// Centre.
    pub center: Point,
    /// Half length along `u`.
    pub half_u: f32,
    /// Half length along the perpendicular axis.
    pub half_v: f32,
    /// Unit direction of the first axis.
    pub u: Point,
}

impl RotatedRect {
    /// Length of the shorter side.
    pub fn short_side(&self) -> f32 {
        2.0 * self.half_u.min(self.half_v)
    }

    /// The rectangle grown by `d` on every side.
    pub fn expanded(&self, d: f32) -> RotatedRect {
        RotatedRect {
            half_u: self.half_u + d,
            half_v: self.half_v + d,
            ..*self
        }
    }

    /// Its corners, unordered.
    pub fn corners(&self) -> [Point; 4] {
        let v = Point::new(-self.u.y, self.u.x);
        let c = self.center;
        let at = |su: f32, sv: f32| {
            Point::new(
                c.x + su * self.half_u * self.u.x + sv * self.half_v * v.x,
                c.y + su * self.half_u * self.u.y + sv * self.half_v * v.y,
            )
        };
        [at(-1.0, -1.0), at(1.0, -1.0), at(1.0, 1.0), at(-1.0, 1.0)]
    }
}

/// The minimum-area enclosing rectangle of a point set (rotating calipers over the hull).
pub fn min_area_rect(points: &[Point]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return None,
        1 => {
            return Some(RotatedRect {
                center: hull[0],
                half_u: 0.0,
                half_v: 0.0,
                u: Point::new(1.0, 0.0),
            });
        }
        _ => {}
    }
    let mut best: Option<(f32, RotatedRect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = a.dist(b);
        if len == 0.0 {
            continue;
        }
        let u = Point::new((b.x - a.x) / len, (b.y - a.y) / len);
        let v = Point::new(-u.y, u.x);
        let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let pu = p.x * u.x + p.y * u.y;
            let pv = p.x * v.x + p.y * v.y;
            u0 = u0.min(pu);
            u1 = u1.max(pu);
            v0 = v0.min(pv);
            v1 = v1.max(pv);
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.as_ref().is_none_or(|(b, _)| area < *b) {
            let (cu, cv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
            let center = Point::new(cu * u.x + cv * v.x, cu * u.y + cv * v.y);
            best = Some((
                area,
                RotatedRect {
                    center,
                    half_u: (u1 - u0) / 2.0,
                    half_v: (v1 - v0) / 2.0,
                    u,
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}

/// Orders four corners as top-left, top-right, bottom-right, bottom-left: the two leftmost
/// points form the left side (upper one first), the two rightmost the right side.
pub fn order_corners(mut pts: [Point; 4]) -> Quad {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    let (tl, bl) = if pts[0].y <= pts[1].y {
        (pts[0], pts[1])
    } else {
        (pts[1], pts[0])
    };
    let (tr, br) = if pts[2].y <= pts[3].y {
        (pts[2], pts[3])
    } else {
        (pts[3], pts[2])
    };
    [tl, tr, br, bl]
}

/// Clips `subject` by the convex polygon `clip` (Sutherland-Hodgman).
pub fn clip_polygon(subject: &[Point], clip: &[Point]) -> Vec<Point> {
    let mut out: Vec<Point> = subject.to_vec();
    let orient = if signed_area(clip) >= 0.0 { 1.0 } else { -1.0 };
    for i in 0..clip.len() {
        if out.is_empty() {
            break;
        }
        let (a, b) = (clip[i], clip[(i + 1) % clip.len()]);
        let inside = |p: Point| orient * cross(a, b, p) >= 0.0;
        let input = std::mem::take(&mut out);
        for j in 0..input.len() {
            let (p, q) = (input[j], input[(j + 1) % input.len()]);
            let (pin, qin) = (inside(p), inside(q));
            if pin {
                out.push(p);
            }
            if pin != qin {
                let (d1, d2) = (cross(a, b, p), cross(a, b, q));
                let t = d1 / (d1 - d2);
                out.push(p.lerp(q, t));
            }
        }
    }
    out
}

/// Intersection over union of a polygon and a convex polygon.
pub fn iou(a: &[Point], convex_b: &[Point]) -> f32 {
    let inter = area(&clip_polygon(a, convex_b));
    let union = area(a) + area(convex_b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f32, y: f32) -> Point {
        Point::new(x, y)
    }

    #[test]
    fn min_area_rect_of_a_rotated_rectangle() {
        // A 10 x 2 rectangle rotated by 30 degrees, with interior points.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let mut pts = Vec::new();
        for i in 0..=10 {
            for j in 0..=2 {
                let (x, y) = (i as f32, j as f32);
                pts.push(p(5.0 + x * c - y * s, 7.0 + x * s + y * c));
            }
        }
        let r = min_area_rect(&pts).unwrap();
        let (long, short) = (2.0 * r.half_u.max(r.half_v), r.short_side());
        assert!(
            (long - 10.0).abs() < 1e-3 && (short - 2.0).abs() < 1e-3,
            "{long} x {short}"
        );
    }

    #[test]
    fn corners_are_ordered() {
        let q = order_corners([p(10.0, 5.0), p(0.0, 0.0), p(0.0, 5.0), p(10.0, 0.0)]);
        assert_eq!(q, [p(0.0, 0.0), p(10.0, 0.0), p(10.0, 5.0), p(0.0, 5.0)]);
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = [p(0.0, 0.0), p(2.0, 0.0), p(2.0, 2.0), p(0.0, 2.0)];
        let b = [p(1.0, 0.0), p(3.0, 0.0), p(3.0, 2.0), p(1.0, 2.0)];
        assert!((iou(&a, &b) - 1.0 / 3.0).abs() < 1e-6);
        let far = [p(10.0, 10.0), p(11.0, 10.0), p(11.0, 11.0), p(10.0, 11.0)];
        assert_eq!(iou(&a, &far), 0.0);
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
    }
}

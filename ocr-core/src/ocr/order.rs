//! Reading order: lines top to bottom, boxes on the same line left to right.

use super::result::Quad;

fn vertical_span(q: &Quad) -> (f32, f32) {
    let top = q.iter().map(|p| p.y).fold(f32::MAX, f32::min);
    let bottom = q.iter().map(|p| p.y).fold(f32::MIN, f32::max);
    (top, bottom)
}

fn left(q: &Quad) -> f32 {
    q.iter().map(|p| p.x).fold(f32::MAX, f32::min)
}

/// Returns the indices of `quads` in reading order. Boxes are grouped into rows: a box joins
/// the current row when it overlaps the row's vertical extent by at least half of the smaller
/// height; rows go top to bottom and boxes within a row left to right.
pub fn reading_order(quads: &[Quad]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..quads.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ta, tb) = (vertical_span(&quads[a]).0, vertical_span(&quads[b]).0);
        ta.total_cmp(&tb)
            .then(left(&quads[a]).total_cmp(&left(&quads[b])))
    });
    let mut rows: Vec<(f32, f32, Vec<usize>)> = Vec::new();
    for i in idx {
        let (t, b) = vertical_span(&quads[i]);
        let joins = rows.last().is_some_and(|(rt, rb, _)| {
            let overlap = b.min(*rb) - t.max(*rt);
            overlap >= 0.5 * (b - t).min(rb - rt)
        });
        if joins {
            let row = rows.last_mut().expect("row exists");
            row.0 = row.0.min(t);
            row.1 = row.1.max(b);
            row.2.push(i);
        } else {
            rows.push((t, b, vec![i]));
        }
    }
    rows.into_iter()
        .flat_map(|(_, _, mut r)| {
            r.sort_by(|&a, &b| left(&quads[a]).total_cmp(&left(&quads[b])));
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::result::Point;

    fn q(x: f32, y: f32, w: f32, h: f32) -> Quad {
        [
            Point::new(x, y),
            Point::new(x + w, y),
            Point::new(x + w, y + h),
            Point::new(x, y + h),
        ]
    }

    #[test]
    fn rows_then_columns() {
        // Two rows; the right box of row one sits 3 px higher than the left one.
        let quads = [
            q(200.0, 7.0, 50.0, 20.0),
            q(10.0, 10.0, 80.0, 20.0),
            q(10.0, 50.0, 80.0, 20.0),
            q(120.0, 52.0, 30.0, 18.0),
        ];
        assert_eq!(reading_order(&quads), vec![1, 0, 2, 3]);
    }

    #[test]
    fn stacked_lines_stay_separate() {
        let quads = [q(0.0, 30.0, 100.0, 20.0), q(0.0, 0.0, 100.0, 20.0)];
        assert_eq!(reading_order(&quads), vec![1, 0]);
    }
}

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

/// Returns the indices of `quads` in reading order. Boxes are grouped into rows around an
/// anchor (the row's topmost box): a box joins when each of the two contains the other's
/// vertical centre, so a tall box (vertical text, a logo) cannot chain neighbouring rows
/// together. Rows go top to bottom, boxes within a row left to right.
pub fn reading_order(quads: &[Quad]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..quads.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ta, tb) = (vertical_span(&quads[a]).0, vertical_span(&quads[b]).0);
        ta.total_cmp(&tb)
            .then(left(&quads[a]).total_cmp(&left(&quads[b])))
    });
    let same_row = |a: (f32, f32), b: (f32, f32)| {
        let (ca, cb) = ((a.0 + a.1) / 2.0, (b.0 + b.1) / 2.0);
        (a.0..=a.1).contains(&cb) && (b.0..=b.1).contains(&ca)
    };
    // Each row: (anchor span, members).
    let mut rows: Vec<((f32, f32), Vec<usize>)> = Vec::new();
    for i in idx {
        let span = vertical_span(&quads[i]);
        match rows
            .iter_mut()
            .rev()
            .take(3)
            .find(|(anchor, _)| same_row(*anchor, span))
        {
            Some((_, members)) => members.push(i),
            None => rows.push((span, vec![i])),
        }
    }
    rows.into_iter()
        .flat_map(|(_, mut r)| {
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

    #[test]
    fn a_tall_box_does_not_merge_rows() {
        // Two text rows at y 240 and 270 and a vertical label spanning both, to the right.
        let quads = [
            q(25.0, 270.0, 150.0, 18.0),
            q(400.0, 230.0, 20.0, 70.0),
            q(25.0, 240.0, 200.0, 18.0),
        ];
        let order = reading_order(&quads);
        let pos = |i: usize| order.iter().position(|&j| j == i).unwrap();
        assert!(pos(2) < pos(0), "{order:?}");
    }
}

//! Text and detection metrics (definitions in `docs/metrics.md`).

use ocr_core::ocr::geometry;
use ocr_core::ocr::result::Point;
use unicode_normalization::UnicodeNormalization;

/// NFKC with all whitespace removed: the comparison form of every text metric.
pub fn normalize(s: &str) -> Vec<char> {
    s.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// Plate comparison form: [`normalize`], then `·` and `-` separators dropped, upper case.
pub fn normalize_plate(s: &str) -> Vec<char> {
    normalize(s)
        .into_iter()
        .filter(|c| *c != '·' && *c != '-')
        .flat_map(|c| c.to_uppercase())
        .collect()
}

/// Levenshtein distance between two character sequences.
pub fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Detection counts of one image (or summed over many).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DetCounts {
    /// Predictions matched one-to-one to a labelled box at IoU >= 0.5.
    pub matched: usize,
    /// Predictions that count (not mostly inside an ignore region).
    pub predicted: usize,
    /// Labelled boxes that count (not ignore).
    pub labelled: usize,
}

impl DetCounts {
    /// Adds another image's counts.
    pub fn add(&mut self, o: &DetCounts) {
        self.matched += o.matched;
        self.predicted += o.predicted;
        self.labelled += o.labelled;
    }

    /// (precision, recall, hmean).
    pub fn prh(&self) -> (f64, f64, f64) {
        let p = if self.predicted == 0 {
            0.0
        } else {
            self.matched as f64 / self.predicted as f64
        };
        let r = if self.labelled == 0 {
            0.0
        } else {
            self.matched as f64 / self.labelled as f64
        };
        let h = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        (p, r, h)
    }
}

/// ICDAR 2015-style matching: predictions covering an ignore region by more than half their
/// area are dropped; the rest match labelled boxes one-to-one, best IoU first, at IoU >= 0.5.
pub fn match_boxes(preds: &[[Point; 4]], labels: &[([Point; 4], bool)]) -> DetCounts {
    let care: Vec<&[Point; 4]> = labels
        .iter()
        .filter(|(_, ign)| !ign)
        .map(|(q, _)| q)
        .collect();
    let ignore: Vec<&[Point; 4]> = labels
        .iter()
        .filter(|(_, ign)| *ign)
        .map(|(q, _)| q)
        .collect();
    let kept: Vec<&[Point; 4]> = preds
        .iter()
        .filter(|p| {
            let a = geometry::area(&p[..]);
            !ignore.iter().any(|g| {
                a > 0.0 && geometry::area(&geometry::clip_polygon(&g[..], &p[..])) / a > 0.5
            })
        })
        .collect();
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, p) in kept.iter().enumerate() {
        for (j, g) in care.iter().enumerate() {
            let v = geometry::iou(&g[..], &p[..]);
            if v >= 0.5 {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_p, mut used_g) = (vec![false; kept.len()], vec![false; care.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !used_p[i] && !used_g[j] {
            used_p[i] = true;
            used_g[j] = true;
            matched += 1;
        }
    }
    DetCounts {
        matched,
        predicted: kept.len(),
        labelled: care.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f32, y: f32, w: f32, h: f32) -> [Point; 4] {
        [
            Point::new(x, y),
            Point::new(x + w, y),
            Point::new(x + w, y + h),
            Point::new(x, y + h),
        ]
    }

    #[test]
    fn normalisation_folds_width_and_spaces() {
        assert_eq!(normalize("（Ａ１ b）"), normalize("(A1b)"));
        assert_eq!(normalize_plate("皖A·12-3b"), normalize_plate("皖a123B"));
    }

    #[test]
    fn edit_distance_known_values() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&c("kitten"), &c("sitting")), 3);
        assert_eq!(edit_distance(&c(""), &c("abc")), 3);
        assert_eq!(edit_distance(&c("你好"), &c("你好")), 0);
    }

    #[test]
    fn matching_counts_and_ignores() {
        let labels = [
            (q(0.0, 0.0, 10.0, 10.0), false),
            (q(20.0, 0.0, 10.0, 10.0), false),
            (q(50.0, 0.0, 10.0, 10.0), true),
        ];
        // One good match, one miss (IoU too small), one inside an ignore region.
        let preds = [
            q(1.0, 0.0, 10.0, 10.0),
            q(27.0, 0.0, 10.0, 10.0),
            q(51.0, 1.0, 8.0, 8.0),
        ];
        let c = match_boxes(&preds, &labels);
        assert_eq!(
            c,
            DetCounts {
                matched: 1,
                predicted: 2,
                labelled: 2
            }
        );
        let (p, r, h) = c.prh();
        assert!((p - 0.5).abs() < 1e-9 && (r - 0.5).abs() < 1e-9 && (h - 0.5).abs() < 1e-9);
    }
}

//! Greedy CTC decoding: per time step the best class; repeats collapse, blanks separate. No
//! charset and no `std`: the pipeline maps classes to characters, and so does the SDK.

use alloc::vec::Vec;

/// One decoded character and the time steps it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedChar {
    /// Class index.
    pub class: usize,
    /// Probability at its first time step.
    pub confidence: f32,
    /// First time step.
    pub first: usize,
    /// Last time step (inclusive).
    pub last: usize,
    /// The best other allowed non-blank class at its first time step, with its probability.
    pub runner_up: Option<(usize, f32)>,
}

/// CTC's reading of one line's best class per time step: repeats merged, blanks (class 0)
/// dropped.
pub fn collapse<T: Copy + Default + PartialEq>(best: &[T]) -> Vec<T> {
    let blank = T::default();
    let mut out = Vec::new();
    let mut prev = blank;
    for &c in best {
        if c != blank && c != prev {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Decodes `steps x classes` probabilities. `allowed`, if given, restricts the classes that can
/// be emitted (the blank is always allowed): constrained decoding for known alphabets.
pub fn greedy(
    probs: &[f32],
    steps: usize,
    classes: usize,
    allowed: Option<&[bool]>,
) -> Vec<DecodedChar> {
    let mut out: Vec<DecodedChar> = Vec::new();
    let mut prev = 0usize;
    for t in 0..steps {
        let row = &probs[t * classes..(t + 1) * classes];
        let mut best = 0usize;
        for (c, &p) in row.iter().enumerate().skip(1) {
            if p > row[best] && allowed.is_none_or(|a| a.get(c).copied().unwrap_or(false)) {
                best = c;
            }
        }
        if best != 0 {
            if best == prev {
                if let Some(last) = out.last_mut() {
                    last.last = t;
                }
            } else {
                let runner_up = row
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter(|&(c, _)| {
                        c != best && allowed.is_none_or(|a| a.get(c).copied().unwrap_or(false))
                    })
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(c, &p)| (c, p));
                out.push(DecodedChar {
                    class: best,
                    confidence: row[best],
                    first: t,
                    last: t,
                    runner_up,
                });
            }
        }
        prev = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn collapse_merges_repeats_unless_a_blank_separates_them() {
        assert_eq!(
            collapse(&[0usize, 3, 3, 0, 3, 5, 5, 0, 7]),
            vec![3, 3, 5, 7]
        );
        assert_eq!(collapse::<i32>(&[0, 0, 0]), Vec::<i32>::new());
        assert_eq!(collapse::<usize>(&[]), Vec::<usize>::new());
    }

    #[test]
    fn greedy_reads_what_collapse_reads_of_the_best_classes() {
        // 4 steps x 3 classes: best 1, 1, 0, 1 -> "1 1".
        let probs = [0.1, 0.8, 0.1, 0.2, 0.7, 0.1, 0.9, 0.05, 0.05, 0.3, 0.6, 0.1];
        let got: Vec<usize> = greedy(&probs, 4, 3, None).iter().map(|d| d.class).collect();
        assert_eq!(got, collapse(&[1usize, 1, 0, 1]));
    }
}

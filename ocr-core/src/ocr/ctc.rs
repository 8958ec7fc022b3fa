//! Greedy CTC decoding: per time step the best class; repeats collapse, blanks separate.

use ocr_charset::Charset;

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

/// The class mask for a set of allowed characters (`None` when every class is allowed).
pub fn allowed_mask(charset: &Charset, allowed: &str) -> Vec<bool> {
    let mut mask = vec![false; charset.num_classes()];
    for ch in allowed.chars() {
        if let Some(c) = charset.class_of(ch.encode_utf8(&mut [0; 4])) {
            mask[c] = true;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds one-hot-ish probabilities from a class sequence.
    fn probs(seq: &[usize], classes: usize) -> Vec<f32> {
        let mut p = vec![0.01; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            p[t * classes + c] = 0.9;
        }
        p
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        // a a _ a b b _ _ c  ->  a a b c
        let seq = [1, 1, 0, 1, 2, 2, 0, 0, 3];
        let d = greedy(&probs(&seq, 4), seq.len(), 4, None);
        let classes: Vec<usize> = d.iter().map(|c| c.class).collect();
        assert_eq!(classes, vec![1, 1, 2, 3]);
        assert_eq!((d[0].first, d[0].last), (0, 1));
        assert_eq!((d[2].first, d[2].last), (4, 5));
        assert!((d[3].confidence - 0.9).abs() < 1e-6);
    }

    #[test]
    fn constrained_decoding_picks_the_best_allowed_class() {
        let mut p = vec![0.0; 4];
        p[2] = 0.6; // not allowed
        p[3] = 0.3;
        p[0] = 0.1;
        let allowed = [true, true, false, true];
        let d = greedy(&p, 1, 4, Some(&allowed));
        assert_eq!(d[0].class, 3);
        let charset = Charset::from_dictionary("0\n1\nA\n").unwrap();
        let mask = allowed_mask(&charset, "01");
        assert_eq!(mask, vec![false, true, true, false, false]);
    }
}

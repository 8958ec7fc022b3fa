//! Greedy CTC decoding ([`crate::ctc`]) and the class masks of constrained decoding.

use ocr_charset::Charset;

pub use crate::ctc::{DecodedChar, greedy};

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

//! Adaptive, context-modelled binary arithmetic coding of int8 weight tensors (tensor encoding 1
//! of the model format).
//!
//! Each int8 value is coded as its eight bits, most significant first, down a binary tree: every
//! tree node has its own adaptive probability, so the tree learns the tensor's whole value
//! distribution as it goes (an order-0 model with no table to transmit). The model is
//! conditioned on a context: the magnitude class of the previous value in the same tensor, which
//! captures that neighbouring weights of a kernel (and pruned runs of zeros) come in groups. The
//! probabilities drive a 32-bit range coder with carry propagation (the classic binary scheme
//! of LZMA-style coders): 12-bit probabilities, adapted by 1/32 of the error after each bit.
//!
//! Every tensor is coded independently from a fresh model, so tensors decode in parallel and a
//! corrupt tensor cannot disturb its neighbours. Decoding reads at most the coded bytes it is
//! given and always produces exactly the requested number of values: corrupt input yields wrong
//! values or an error, never a panic or an unbounded loop (the file checksums catch corruption
//! before decoding).

use alloc::vec;
use alloc::vec::Vec;

use super::{Error, Result};

/// Probability precision: probabilities of a 0 bit are in `(0, 1 << PROB_BITS)`.
const PROB_BITS: u32 = 12;
const PROB_ONE: u16 = 1 << PROB_BITS;
/// Adaptation rate: each bit moves its probability by `error >> ADAPT_SHIFT`.
const ADAPT_SHIFT: u32 = 5;
/// The range is renormalised (one byte shifted in or out) whenever it drops below this.
const TOP: u32 = 1 << 24;
/// Magnitude classes of the previous value, the model's context.
const CONTEXTS: usize = 6;
/// Tree nodes per context: node 1 is the root, node `2n + bit` the child of node `n`.
const NODES: usize = 256;

/// The context a value sets for its successor: the class of its magnitude.
fn context_of(v: i8) -> usize {
    match v.unsigned_abs() {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=11 => 3,
        12..=39 => 4,
        _ => 5,
    }
}

/// One adaptive probability table per context.
struct ValueModel {
    probs: Vec<u16>,
}

impl ValueModel {
    fn new() -> Self {
        Self {
            probs: vec![PROB_ONE / 2; CONTEXTS * NODES],
        }
    }
}

/// The range encoder.
struct Encoder {
    low: u64,
    range: u32,
    /// The last byte not yet written: a later carry may still increment it.
    cache: u8,
    /// `cache` plus the count of 0xFF bytes waiting behind it.
    pending: u64,
    out: Vec<u8>,
}

impl Encoder {
    fn new() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            out: Vec::new(),
        }
    }

    fn encode(&mut self, prob: &mut u16, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(*prob);
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
            *prob -= *prob >> ADAPT_SHIFT;
        } else {
            self.range = bound;
            *prob += (PROB_ONE - *prob) >> ADAPT_SHIFT;
        }
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Moves the top byte of `low` out, resolving a pending carry.
    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            while self.pending > 0 {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xFF;
                self.pending -= 1;
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

/// The range decoder over one coded tensor.
struct Decoder<'a> {
    code: u32,
    range: u32,
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8]) -> Result<Self> {
        // The encoder's first byte is always 0 (the initial cache); four more prime the code.
        if input.len() < 5 || input[0] != 0 {
            return Err(Error::Format("coded tensor has a bad header".into()));
        }
        let code = u32::from_be_bytes([input[1], input[2], input[3], input[4]]);
        Ok(Self {
            code,
            range: u32::MAX,
            input,
            pos: 5,
        })
    }

    /// Decodes one bit. Written without data-dependent branches on the bit itself (the
    /// decisions are close to unpredictable, so branches would mostly mispredict). Reading past
    /// the end yields zero bytes; [`Decoder::check_end`] turns that into an error.
    #[inline(always)]
    fn decode(&mut self, prob: &mut u16) -> bool {
        let p = u32::from(*prob);
        let bound = (self.range >> PROB_BITS) * p;
        let bit = self.code >= bound;
        let mask = u32::from(bit).wrapping_neg();
        self.code -= bound & mask;
        self.range = (bound & !mask) | ((self.range - bound) & mask);
        // 0 bit: p += (ONE - p) >> S; 1 bit: p -= p >> S.
        let up = (u32::from(PROB_ONE) - p) >> ADAPT_SHIFT;
        let down = p >> ADAPT_SHIFT;
        *prob = ((p + (up & !mask)).wrapping_sub(down & mask)) as u16;
        if self.range < TOP {
            // One byte per renormalisation suffices: a decision never shrinks the range by
            // more than 2^12 and the range was at least 2^24 before it.
            let b = self.input.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(b);
        }
        bit
    }

    /// An error if decoding needed more bytes than the coded tensor has.
    fn check_end(&self) -> Result<()> {
        if self.pos > self.input.len() {
            return Err(Error::Format("coded tensor is truncated".into()));
        }
        Ok(())
    }
}

/// Tensors with at least this many values are coded as two streams (their halves) decoded in
/// lockstep: two independent range-coder dependency chains keep the core busy where one chain
/// would wait on multiply and load latencies. Both halves share one model, so splitting costs
/// no extra learning.
const TWO_STREAMS_MIN: usize = 16 * 1024;

/// Codes one value's bits with `enc`, or (two streams) interleaves the bits of two values.
fn encode_value(enc: &mut Encoder, probs: &mut [u16], v: i8) {
    let byte = v as u8;
    let mut node = 1usize;
    for shift in (0..8).rev() {
        let bit = (byte >> shift) & 1 == 1;
        enc.encode(&mut probs[node], bit);
        node = 2 * node + usize::from(bit);
    }
}

/// Codes int8 values; [`decode_i8`] inverts it.
///
/// Layout: one range-coded stream; or, for [`TWO_STREAMS_MIN`] values and more, a `u32`
/// (little-endian) length of the first half's stream, that stream, then the second half's.
pub fn encode_i8(values: &[i8]) -> Vec<u8> {
    let mut model = ValueModel::new();
    if values.len() < TWO_STREAMS_MIN {
        let mut enc = Encoder::new();
        let mut ctx = 0;
        for &v in values {
            encode_value(
                &mut enc,
                &mut model.probs[ctx * NODES..(ctx + 1) * NODES],
                v,
            );
            ctx = context_of(v);
        }
        return enc.finish();
    }
    let (a, b) = values.split_at(values.len() / 2);
    let (mut ea, mut eb) = (Encoder::new(), Encoder::new());
    let (mut ca, mut cb) = (0, 0);
    // The same order of model updates as the decoder: bit by bit, first half then second.
    for (i, &vb) in b.iter().enumerate() {
        let (va, vb) = (a.get(i).map(|&v| v as u8), vb as u8);
        let (mut na, mut nb) = (1usize, 1usize);
        for shift in (0..8).rev() {
            if let Some(va) = va {
                let bit = (va >> shift) & 1 == 1;
                ea.encode(&mut model.probs[ca * NODES + na], bit);
                na = 2 * na + usize::from(bit);
            }
            let bit = (vb >> shift) & 1 == 1;
            eb.encode(&mut model.probs[cb * NODES + nb], bit);
            nb = 2 * nb + usize::from(bit);
        }
        if let Some(va) = va {
            ca = context_of(va as i8);
        }
        cb = context_of(vb as i8);
    }
    let (sa, sb) = (ea.finish(), eb.finish());
    let mut out = Vec::with_capacity(4 + sa.len() + sb.len());
    out.extend_from_slice(&(sa.len() as u32).to_le_bytes());
    out.extend_from_slice(&sa);
    out.extend_from_slice(&sb);
    out
}

/// Decodes `n` int8 values coded by [`encode_i8`].
pub fn decode_i8(coded: &[u8], n: usize) -> Result<Vec<i8>> {
    let mut model = ValueModel::new();
    let mut out = Vec::with_capacity(n);
    if n < TWO_STREAMS_MIN {
        let mut dec = Decoder::new(coded)?;
        let mut ctx = 0;
        for _ in 0..n {
            let probs = &mut model.probs[ctx * NODES..(ctx + 1) * NODES];
            let mut node = 1usize;
            for _ in 0..8 {
                // `node` < 256 here: it starts at 1 and takes eight steps to reach 256..512.
                let bit = dec.decode(&mut probs[node]);
                node = 2 * node + usize::from(bit);
            }
            let v = (node - NODES) as u8 as i8;
            out.push(v);
            ctx = context_of(v);
        }
        dec.check_end()?;
        return Ok(out);
    }
    let Some(len_a) = coded.get(..4) else {
        return Err(Error::Format("coded tensor is truncated".into()));
    };
    let len_a = u32::from_le_bytes([len_a[0], len_a[1], len_a[2], len_a[3]]) as usize;
    let rest = &coded[4..];
    if len_a > rest.len() {
        return Err(Error::Format(
            "coded tensor's first stream overruns it".into(),
        ));
    }
    let (sa, sb) = rest.split_at(len_a);
    let (mut da, mut db) = (Decoder::new(sa)?, Decoder::new(sb)?);
    let (half_a, half_b) = (n / 2, n - n / 2);
    let mut second = Vec::with_capacity(half_b);
    let (mut ca, mut cb) = (0, 0);
    for i in 0..half_b {
        let has_a = i < half_a;
        let (mut na, mut nb) = (1usize, 1usize);
        for _ in 0..8 {
            if has_a {
                let bit = da.decode(&mut model.probs[ca * NODES + na]);
                na = 2 * na + usize::from(bit);
            }
            let bit = db.decode(&mut model.probs[cb * NODES + nb]);
            nb = 2 * nb + usize::from(bit);
        }
        if has_a {
            let v = (na - NODES) as u8 as i8;
            out.push(v);
            ca = context_of(v);
        }
        let v = (nb - NODES) as u8 as i8;
        second.push(v);
        cb = context_of(v);
    }
    da.check_end()?;
    db.check_end()?;
    out.extend_from_slice(&second);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic, roughly Laplacian sample like quantised weights.
    fn weights(n: usize, seed: u64) -> Vec<i8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((s >> 33) as f64 + 0.5) / (1u64 << 31) as f64;
                let mag = (-u.ln() * 12.0).min(127.0);
                let sign = if (s >> 20) & 1 == 1 { -1.0 } else { 1.0 };
                (sign * mag).round() as i8
            })
            .collect()
    }

    #[test]
    fn round_trips_edge_cases() {
        let cases: Vec<Vec<i8>> = vec![
            vec![],
            vec![0],
            vec![-128],
            vec![127; 10_000],
            (i8::MIN..=i8::MAX).collect(),
            (0..5000)
                .map(|i| if i % 7 == 0 { -128 } else { 0 })
                .collect(),
            weights(100_000, 1),
        ];
        for values in cases {
            let coded = encode_i8(&values);
            assert_eq!(decode_i8(&coded, values.len()).unwrap(), values);
        }
    }

    #[test]
    fn compresses_skewed_values_and_not_uniform_ones_much() {
        let w = weights(200_000, 7);
        let coded = encode_i8(&w);
        // The adaptive model costs at most 2% over the sample's empirical order-0 entropy.
        let mut counts = [0usize; 256];
        w.iter().for_each(|&v| counts[v as u8 as usize] += 1);
        let n = w.len() as f64;
        let entropy_bytes: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| -(c as f64) * (c as f64 / n).log2() / 8.0)
            .sum();
        assert!(entropy_bytes < 0.8 * n);
        assert!(
            (coded.len() as f64) < 1.02 * entropy_bytes,
            "{} bytes against an entropy of {entropy_bytes:.0}",
            coded.len()
        );
        let mut s = 99u64;
        let uniform: Vec<i8> = (0..50_000)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                (s >> 56) as u8 as i8
            })
            .collect();
        let coded = encode_i8(&uniform);
        // Incompressible data costs at most a little over its raw size.
        assert!(coded.len() < uniform.len() * 102 / 100, "{}", coded.len());
        assert_eq!(decode_i8(&coded, uniform.len()).unwrap(), uniform);
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_or_wrong_values_never_a_panic() {
        let w = weights(20_000, 3);
        let coded = encode_i8(&w);
        for cut in [0, 1, 4, 5, coded.len() / 2, coded.len() - 1] {
            let r = decode_i8(&coded[..cut], w.len());
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut flipped = coded.clone();
        flipped[coded.len() / 3] ^= 0x10;
        if let Ok(v) = decode_i8(&flipped, w.len()) {
            assert_eq!(v.len(), w.len());
            assert_ne!(v, w);
        }
    }
}

//! Adaptive, context-modelled binary arithmetic coding of int8 weight tensors (tensor encodings
//! 1 and 2 of the model format, specified in `models/FORMAT.md`).
//!
//! Each int8 value is coded as its eight bits, most significant first, down a binary tree: every
//! tree node has its own adaptive probability, so the tree learns the tensor's whole value
//! distribution as it goes (an order-0 model with no table to transmit). The model is
//! conditioned on a context: the magnitude class of the previous value, which captures that
//! neighbouring weights of a kernel (and pruned runs of zeros) come in groups. The
//! probabilities drive a 32-bit range coder with carry propagation (the classic binary scheme
//! of LZMA-style coders): 12-bit probabilities, each moved 1/32 of the way to its target after
//! each bit.
//!
//! Tensors are cut into chunks of [`CHUNK`] values, each coded from a fresh model, so chunks
//! decode on all cores and a corrupt chunk cannot disturb its neighbours. Decoding reads at
//! most the coded bytes it is given and always produces exactly the requested number of
//! values: corrupt input yields wrong values or an error, never a panic or an unbounded loop
//! (the file checksums catch corruption before decoding).

use alloc::vec;
use alloc::vec::Vec;

use super::{Error, Result};

/// Probability precision: probabilities of a 0 bit are in `(0, 1 << PROB_BITS)`.
const PROB_BITS: u32 = 12;
const PROB_ONE: u16 = 1 << PROB_BITS;
/// Adaptation rate: each bit moves its probability `1 / 2^ADAPT_SHIFT` of the way to its
/// target (arithmetic shift).
const ADAPT_SHIFT: u32 = 5;
/// Where a 0 bit and a 1 bit pull the probability of a 0. Kept `PROB_MARGIN` inside
/// `(0, PROB_ONE)` so a probability never reaches 0 or 1, which would leave the other bit no
/// code space.
const PROB_MARGIN: i32 = 31;
const TARGET_0: i32 = PROB_ONE as i32 - PROB_MARGIN;
const TARGET_1: i32 = PROB_MARGIN;

/// The adapted probability after a bit: `p + (target - p) >> ADAPT_SHIFT`. Starting from
/// `PROB_ONE / 2` it stays within `[PROB_MARGIN, PROB_ONE - PROB_MARGIN]`.
#[inline(always)]
fn adapt(p: u16, bit: bool) -> u16 {
    let p = i32::from(p);
    let target = if bit { TARGET_1 } else { TARGET_0 };
    (p + ((target - p) >> ADAPT_SHIFT)) as u16
}
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
        } else {
            self.range = bound;
        }
        *prob = adapt(*prob, bit);
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
        *prob = adapt(*prob, bit);
        // Renormalise without a branch (whether a byte is due is as unpredictable as the
        // bits). One byte at most: probabilities stay within [31, 4065] of 4096, so a decision
        // shrinks the range at most 4096/31 < 2^8 times, and it was at least 2^24 before.
        let due = self.range < TOP;
        let shift = 8 * u32::from(due);
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += usize::from(due);
        self.range <<= shift;
        self.code = (self.code << shift) | (u32::from(b) & (0xFF * u32::from(due)));
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

/// Values per chunk. A tensor is coded as independent chunks, each from a fresh model with its
/// own range coder, so chunks decode on all cores. Restarting the model every 16384 values
/// costs about 0.2% of the coded size on the PP-OCR weights.
pub const CHUNK: usize = 16_384;

/// Codes one chunk as one range-coded stream.
fn encode_chunk(values: &[i8]) -> Vec<u8> {
    let mut model = ValueModel::new();
    let mut enc = Encoder::new();
    let mut ctx = 0;
    for &v in values {
        let byte = v as u8;
        let mut node = 1usize;
        for shift in (0..8).rev() {
            let bit = (byte >> shift) & 1 == 1;
            enc.encode(&mut model.probs[ctx * NODES + node], bit);
            node = 2 * node + usize::from(bit);
        }
        ctx = context_of(v);
    }
    enc.finish()
}

/// Decodes one chunk's stream into `values`.
fn decode_chunk(stream: &[u8], values: &mut [i8]) -> Result<()> {
    let mut model = ValueModel::new();
    let mut dec = Decoder::new(stream)?;
    let mut ctx = 0;
    for out in values.iter_mut() {
        let probs = &mut model.probs[ctx * NODES..(ctx + 1) * NODES];
        let mut node = 1usize;
        for _ in 0..8 {
            // `node` < 256 here: it starts at 1 and takes eight steps to reach 256..512.
            let bit = dec.decode(&mut probs[node]);
            node = 2 * node + usize::from(bit);
        }
        let v = (node - NODES) as u8 as i8;
        *out = v;
        ctx = context_of(v);
    }
    dec.check_end()
}

/// Codes int8 values; [`decode_i8`] inverts it.
///
/// Layout: the values are cut into chunks of [`CHUNK`] (the last may be shorter; an empty
/// tensor has one empty chunk; the count follows from the value count, so it is not stored);
/// the byte lengths of all chunks' streams but the last (`u32`, little-endian), then the
/// streams in order.
pub fn encode_i8(values: &[i8]) -> Vec<u8> {
    let mut streams: Vec<Vec<u8>> = values.chunks(CHUNK).map(encode_chunk).collect();
    if streams.is_empty() {
        streams.push(encode_chunk(&[]));
    }
    let total = streams.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(4 * streams.len() + total);
    for st in &streams[..streams.len() - 1] {
        out.extend_from_slice(&(st.len() as u32).to_le_bytes());
    }
    for st in &streams {
        out.extend_from_slice(st);
    }
    out
}

/// Decodes `n` int8 values coded by [`encode_i8`]. With the `std` feature the chunks decode
/// on the rayon pool.
pub fn decode_i8(coded: &[u8], n: usize) -> Result<Vec<i8>> {
    let chunks = n.div_ceil(CHUNK).max(1);
    let header = 4 * (chunks - 1);
    let lengths = coded
        .get(..header)
        .ok_or_else(|| Error::Format("coded tensor is truncated".into()))?;
    let mut streams: Vec<&[u8]> = Vec::with_capacity(chunks);
    let mut rest = &coded[header..];
    for j in 0..chunks {
        let len = if j + 1 < chunks {
            let b = &lengths[4 * j..4 * j + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        } else {
            rest.len()
        };
        if len > rest.len() {
            return Err(Error::Format("a coded tensor's stream overruns it".into()));
        }
        let (head, tail) = rest.split_at(len);
        streams.push(head);
        rest = tail;
    }
    let mut out = vec![0i8; n];
    if n == 0 {
        decode_chunk(streams[0], &mut [])?;
        return Ok(out);
    }
    #[cfg(feature = "std")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK)
            .zip(streams.par_iter())
            .try_for_each(|(values, stream)| decode_chunk(stream, values))?;
    }
    #[cfg(not(feature = "std"))]
    for (values, stream) in out.chunks_mut(CHUNK).zip(&streams) {
        decode_chunk(stream, values)?;
    }
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
        // The adaptive model (restarted every chunk) costs at most 3% over the sample's empirical order-0 entropy.
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
            (coded.len() as f64) < 1.03 * entropy_bytes,
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

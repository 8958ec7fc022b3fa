//! Adaptive, context-modelled binary arithmetic coding of int8 weight tensors (tensor encodings
//! 1 and 2 of the model format, specified in `models/FORMAT.md`).
//!
//! Each int8 value `v` is split into its magnitude class `c` (the bit length of `|v|`, 0..=8),
//! a sign and the mantissa bits below the class's leading one. Quantised weights carry about
//! 6.5-7.5 bits of entropy each, nearly all of it in the class and the mantissa's top bit; the
//! lower mantissa bits and the sign are close to uniform. So the class (four binary decisions
//! down a tree) and the mantissa's top bit go through adaptive probabilities, conditioned on
//! the previous value's class, which captures that neighbouring weights of a kernel (and pruned
//! runs of zeros) come in groups; the sign and the remaining mantissa bits are stored raw in a
//! side stream. Against coding all eight bits adaptively that costs about 0.1 point of size on
//! the PP-OCR detector and recogniser (1.9 on the small classifier), and it decodes in five
//! binary decisions per value instead of eight. The decisions drive a 64-bit range coder with
//! carry propagation (the classic binary scheme of LZMA-style coders), renormalised once per
//! value: 12-bit probabilities, each moved 1/32 of the way to its target after each decision.
//!
//! Tensors are cut into chunks of [`CHUNK`] values, each coded from a fresh model, so chunks
//! decode on all cores and a corrupt chunk cannot disturb its neighbours; one thread decodes
//! four chunks interleaved. Decoding reads at most the coded bytes it is given and always
//! produces exactly the requested number of values: corrupt input yields wrong values or an
//! error, never a panic or an unbounded loop (the file checksums catch corruption before
//! decoding).

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
/// The range is renormalised after every value, by whole bytes, to at least this. A value takes
/// five decisions, and probabilities stay within [31, 4065] of 4096, so a decision shrinks the
/// range at most 4096/31 < 2^7.05 times: five leave it above 2^12.7, which the next
/// `bound = (range >> 12) * p` needs to keep both sub-ranges non-empty.
const RANGE_MIN: u64 = 1 << 48;
/// Magnitude classes: 0 for 0, else the bit length of `|v|` (1 for 1, 2 for 2-3, ... 8 for
/// 128). The previous value's class is the context of the next.
const CLASSES: usize = 9;
/// Binary decisions that code a class, most significant bit first.
const CLASS_BITS: u32 = 4;
/// Tree nodes per context: node 1 is the root, node `2n + bit` the child of node `n`.
const CLASS_NODES: usize = 1 << CLASS_BITS;

/// The magnitude class of a value.
#[inline(always)]
fn class_of(v: i8) -> usize {
    (8 - v.unsigned_abs().leading_zeros()) as usize
}

/// The raw side-stream bits of a value of class `c`: the sign (classes 1 and up) and the
/// mantissa bits below the adaptively coded top one (classes 3 and up).
#[inline(always)]
fn raw_bit_count(c: usize) -> u32 {
    u32::from(c >= 1) + (c as u32).saturating_sub(2)
}

/// The adaptive probabilities of one chunk's model.
struct ValueModel {
    /// The class tree's node probabilities, per context (the previous value's class).
    class: [[u16; CLASS_NODES]; CLASSES],
    /// The probability of the mantissa's top bit being 0, per class. Classes 0 and 1 have no
    /// mantissa; they code a constant 0 bit here (costing a hundredth of a bit once the
    /// probability has adapted) so every value takes the same five decisions, without a
    /// data-dependent branch.
    top: [u16; CLASSES],
}

impl ValueModel {
    fn new() -> Self {
        Self {
            class: [[PROB_ONE / 2; CLASS_NODES]; CLASSES],
            top: [PROB_ONE / 2; CLASSES],
        }
    }
}

/// The eight bytes of `input` at `at`, big-endian, zeros past its end: one unaligned load but
/// near the end.
#[inline(always)]
fn peek_be(input: &[u8], at: usize) -> u64 {
    match input.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        Some(word) => u64::from_be_bytes(*word),
        None => {
            let mut b = [0u8; 8];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = input.get(at.saturating_add(i)).copied().unwrap_or(0);
            }
            u64::from_be_bytes(b)
        }
    }
}

/// The side stream of raw bits, written most significant bit first.
struct RawWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl RawWriter {
    fn new() -> Self {
        Self {
            out: Vec::new(),
            acc: 0,
            bits: 0,
        }
    }

    /// Appends the low `n` bits of `value` (`n` <= 8).
    fn put(&mut self, value: u32, n: u32) {
        self.acc = (self.acc << n) | u64::from(value & ((1 << n) - 1));
        self.bits += n;
        while self.bits >= 8 {
            self.bits -= 8;
            self.out.push((self.acc >> self.bits) as u8);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push((self.acc << (8 - self.bits)) as u8);
        }
        self.out
    }
}

/// Reads the side stream of raw bits. Reading past its end yields zero bits;
/// [`RawReader::check_end`] turns that into an error.
struct RawReader<'a> {
    input: &'a [u8],
    /// Bits taken so far.
    taken: usize,
}

impl<'a> RawReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input, taken: 0 }
    }

    /// Takes `n` bits (`n` <= 8) with one unaligned load and no branch (but at the stream's
    /// end).
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let at = self.taken / 8;
        let word = peek_be(self.input, at);
        // At most 7 bits already taken from the first byte plus 8 wanted: within the word.
        // Through a one-bit shift, so that `n` = 0 shifts by 63, not 64.
        let v = ((word << (self.taken % 8)) >> 1) >> (63 - n);
        self.taken += n as usize;
        v as u32
    }

    /// An error if decoding took more bits than the side stream has.
    fn check_end(&self) -> Result<()> {
        if self.taken > 8 * self.input.len() {
            return Err(Error::Format(
                "coded tensor's raw bits are truncated".into(),
            ));
        }
        Ok(())
    }
}

/// Assembles a value from its class, mantissa top bit and raw bits (sign first).
#[inline(always)]
fn assemble(c: usize, top: bool, raw: u32) -> i8 {
    let extra = (c as u32).saturating_sub(2);
    let lead = (1u32 << c) >> 1;
    let magnitude = lead | (u32::from(top) << extra) | (raw & ((1 << extra) - 1));
    let negative = (raw >> extra) & u32::from(c >= 1) == 1;
    let v = if negative {
        (magnitude as i32).wrapping_neg()
    } else {
        magnitude as i32
    };
    v as i8
}

/// The range encoder.
struct Encoder {
    /// The low end of the range: 64 bits and a carry (bit 64).
    low: u128,
    range: u64,
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
            range: u64::MAX,
            cache: 0,
            pending: 1,
            out: Vec::new(),
        }
    }

    fn encode(&mut self, prob: &mut u16, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u64::from(*prob);
        if bit {
            self.low += u128::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        *prob = adapt(*prob, bit);
    }

    /// Shifts bytes out until the range is back to at least [`RANGE_MIN`]; called after every
    /// value, as the decoder renormalises.
    fn renormalise(&mut self) {
        while self.range < RANGE_MIN {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Moves the top byte of `low` out, resolving a pending carry.
    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000_0000_0000 || self.low >= 1 << 64 {
            let carry = (self.low >> 64) as u8;
            let mut byte = self.cache;
            while self.pending > 0 {
                self.out.push(byte.wrapping_add(carry));
                byte = 0xFF;
                self.pending -= 1;
            }
            self.cache = (self.low >> 56) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF_FFFF_FFFF) << 8;
    }

    fn finish(mut self) -> Vec<u8> {
        for _ in 0..9 {
            self.shift_low();
        }
        self.out
    }
}

/// The range decoder over one coded stream.
struct Decoder<'a> {
    code: u64,
    range: u64,
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// An error unless `input` starts like a stream [`Encoder`] wrote: the encoder's first byte
    /// is always 0 (the initial cache), and eight more prime the code.
    fn check_header(input: &[u8]) -> Result<()> {
        if input.len() < 9 || input[0] != 0 {
            return Err(Error::Format("coded tensor has a bad header".into()));
        }
        Ok(())
    }

    /// A decoder over a stream that passed [`Decoder::check_header`].
    fn start(input: &'a [u8]) -> Self {
        let mut dec = Self {
            code: 0,
            range: u64::MAX,
            input,
            pos: 1,
        };
        dec.code = dec.peek();
        dec.pos += 8;
        dec
    }

    /// The eight bytes at `pos`, big-endian, zeros past the end.
    #[inline(always)]
    fn peek(&self) -> u64 {
        peek_be(self.input, self.pos)
    }

    /// Decodes one decision. Written without data-dependent branches (the decisions are close
    /// to unpredictable, so branches would mostly mispredict).
    #[inline(always)]
    fn decode(&mut self, prob: &mut u16) -> bool {
        let bound = (self.range >> PROB_BITS) * u64::from(*prob);
        let bit = self.code >= bound;
        let mask = u64::from(bit).wrapping_neg();
        self.code -= bound & mask;
        self.range = (bound & !mask) | ((self.range - bound) & mask);
        *prob = adapt(*prob, bit);
        bit
    }

    /// Shifts in the whole bytes that bring the range back to at least [`RANGE_MIN`], all at
    /// once and without a branch. Reading past the end yields zero bytes;
    /// [`Decoder::check_end`] turns that into an error.
    #[inline(always)]
    fn renormalise(&mut self) {
        let bytes = self.range.leading_zeros().saturating_sub(8) / 8;
        let shift = 8 * bytes;
        // Through a one-bit shift, so that no bytes (`shift` = 0) shifts by 63, not 64.
        let incoming = (self.peek() >> 1) >> (63 - shift);
        self.range <<= shift;
        self.code = (self.code << shift) | incoming;
        self.pos += bytes as usize;
    }

    /// An error if decoding needed more bytes than the coded stream has.
    fn check_end(&self) -> Result<()> {
        if self.pos > self.input.len() {
            return Err(Error::Format("coded tensor is truncated".into()));
        }
        Ok(())
    }
}

/// Values per chunk. A tensor is coded as independent chunks, each from a fresh model with its
/// own range coder, so chunks decode on all cores. Restarting the model every 16384 values
/// costs about 0.1% of the coded size on the PP-OCR weights.
pub const CHUNK: usize = 16_384;

/// Codes one chunk: its range-coded decisions and its raw side stream.
fn encode_chunk(values: &[i8]) -> (Vec<u8>, Vec<u8>) {
    let mut model = ValueModel::new();
    let mut enc = Encoder::new();
    let mut raw = RawWriter::new();
    let mut ctx = 0;
    for &v in values {
        let c = class_of(v);
        let mut node = 1usize;
        for shift in (0..CLASS_BITS).rev() {
            let bit = (c >> shift) & 1 == 1;
            enc.encode(&mut model.class[ctx][node], bit);
            node = 2 * node + usize::from(bit);
        }
        let magnitude = u32::from(v.unsigned_abs());
        let extra = (c as u32).saturating_sub(2);
        let top = c >= 2 && (magnitude >> extra) & 1 == 1;
        enc.encode(&mut model.top[c], top);
        enc.renormalise();
        let low = magnitude & ((1 << extra) - 1);
        raw.put((u32::from(v < 0) << extra) | low, raw_bit_count(c));
        ctx = c;
    }
    (enc.finish(), raw.finish())
}

/// Streams decoded together by one thread. A stream's decisions form one serial chain (a table
/// load, a multiply and a compare per decision, each waiting for the last), which leaves most
/// of a core idle; interleaving independent streams in one loop fills it. Four lanes decode
/// about 1.6 times as fast as one here (x86-64; two or three lanes gain less).
const LANES: usize = 4;

/// One chunk to decode: its coded and raw streams and where its values go.
struct ChunkJob<'a> {
    coded: &'a [u8],
    raw: &'a [u8],
    out: &'a mut [i8],
}

/// One decision of the class tree at `node` (1..16), in context `ctx`.
#[inline(always)]
fn class_step(dec: &mut Decoder, model: &mut ValueModel, ctx: usize, node: usize) -> usize {
    let bit = dec.decode(&mut model.class[ctx][node & (CLASS_NODES - 1)]);
    2 * node + usize::from(bit)
}

/// Completes a value whose class tree ended at `node` (16..32): the mantissa's top bit, the
/// renormalisation and the raw bits; `ctx` becomes the value's class.
#[inline(always)]
fn finish_value(
    dec: &mut Decoder,
    raw: &mut RawReader,
    model: &mut ValueModel,
    ctx: &mut usize,
    node: usize,
) -> i8 {
    // Classes above 8 only come from corrupt streams; they read as 8.
    let c = (node - CLASS_NODES).min(CLASSES - 1);
    let top = dec.decode(&mut model.top[c]);
    dec.renormalise();
    let bits = raw.take(raw_bit_count(c));
    *ctx = c;
    assemble(c, top, bits)
}

/// Decodes `L` chunks interleaved: value by value in lockstep while all have values left
/// (the jobs come sorted by length, so mostly to the end), then each chunk's tail on its own.
/// The lanes' state lives in parallel arrays, which the compiler keeps in registers better
/// than an array of per-lane structs.
fn decode_lanes<const L: usize>(jobs: &mut [ChunkJob; L]) -> Result<()> {
    for job in jobs.iter() {
        Decoder::check_header(job.coded)?;
    }
    let mut decs: [Decoder; L] = core::array::from_fn(|k| Decoder::start(jobs[k].coded));
    let mut raws: [RawReader; L] = core::array::from_fn(|k| RawReader::new(jobs[k].raw));
    let mut models: [ValueModel; L] = core::array::from_fn(|_| ValueModel::new());
    let mut ctx = [0usize; L];
    let common = jobs.iter().map(|j| j.out.len()).min().unwrap_or(0);
    for i in 0..common {
        let mut node = [1usize; L];
        for _ in 0..CLASS_BITS {
            for k in 0..L {
                node[k] = class_step(&mut decs[k], &mut models[k], ctx[k], node[k]);
            }
        }
        for k in 0..L {
            let v = finish_value(
                &mut decs[k],
                &mut raws[k],
                &mut models[k],
                &mut ctx[k],
                node[k],
            );
            jobs[k].out[i] = v;
        }
    }
    for k in 0..L {
        for i in common..jobs[k].out.len() {
            let mut node = 1;
            for _ in 0..CLASS_BITS {
                node = class_step(&mut decs[k], &mut models[k], ctx[k], node);
            }
            let v = finish_value(
                &mut decs[k],
                &mut raws[k],
                &mut models[k],
                &mut ctx[k],
                node,
            );
            jobs[k].out[i] = v;
        }
        decs[k].check_end()?;
        raws[k].check_end()?;
    }
    Ok(())
}

/// Decodes a group of at most [`LANES`] chunks.
fn decode_group(group: &mut [ChunkJob]) -> Result<()> {
    match <&mut [ChunkJob; LANES]>::try_from(&mut *group) {
        Ok(lanes) => decode_lanes(lanes),
        Err(_) => group
            .iter_mut()
            .try_for_each(|job| decode_lanes(core::array::from_mut(job))),
    }
}

/// Codes int8 values; [`decode_i8`] inverts it.
///
/// Layout: the values are cut into chunks of [`CHUNK`] (the last may be shorter; an empty
/// tensor has one empty chunk; the count follows from the value count, so it is not stored);
/// for every chunk the byte lengths of its range-coded stream and of its raw side stream
/// (`u32` each, little-endian), then every chunk's two streams in order.
pub fn encode_i8(values: &[i8]) -> Vec<u8> {
    let mut chunks: Vec<(Vec<u8>, Vec<u8>)> = values.chunks(CHUNK).map(encode_chunk).collect();
    if chunks.is_empty() {
        chunks.push(encode_chunk(&[]));
    }
    let total = chunks.iter().map(|(c, r)| c.len() + r.len()).sum::<usize>();
    let mut out = Vec::with_capacity(8 * chunks.len() + total);
    for (coded, raw) in &chunks {
        out.extend_from_slice(&(coded.len() as u32).to_le_bytes());
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    }
    for (coded, raw) in &chunks {
        out.extend_from_slice(coded);
        out.extend_from_slice(raw);
    }
    out
}

/// Splits a tensor coded by [`encode_i8`] into its chunks' jobs, which decode into `out` (as
/// many values as the tensor has).
fn chunk_jobs<'a>(coded: &'a [u8], out: &'a mut [i8]) -> Result<Vec<ChunkJob<'a>>> {
    let truncated = || Error::Format("coded tensor is truncated".into());
    let chunks = out.len().div_ceil(CHUNK).max(1);
    let lengths = coded.get(..8 * chunks).ok_or_else(truncated)?;
    let mut rest = &coded[8 * chunks..];
    let mut take = |field: &[u8]| -> Result<&'a [u8]> {
        let len = u32::from_le_bytes([field[0], field[1], field[2], field[3]]) as usize;
        if len > rest.len() {
            return Err(Error::Format("a coded tensor's stream overruns it".into()));
        }
        let (stream, tail) = rest.split_at(len);
        rest = tail;
        Ok(stream)
    };
    let mut outs = out.chunks_mut(CHUNK);
    let mut jobs = Vec::with_capacity(chunks);
    for field in lengths.chunks_exact(8) {
        let coded = take(&field[..4])?;
        let raw = take(&field[4..])?;
        // An empty tensor still has its one (empty) chunk, whose header is checked.
        let out = outs.next().unwrap_or(&mut []);
        jobs.push(ChunkJob { coded, raw, out });
    }
    if !rest.is_empty() {
        return Err(Error::Format(
            "a coded tensor has bytes after its streams".into(),
        ));
    }
    Ok(jobs)
}

/// Decodes every chunk of several coded tensors, `LANES` chunks of similar length at a time
/// per thread (on the rayon pool with the `std` feature): `tensors` pairs each tensor's coded
/// bytes with the buffer its values go to.
pub fn decode_tensors(tensors: &mut [(&[u8], &mut [i8])]) -> Result<()> {
    // Full chunks first, so lanes of one group run in lockstep to the end and the long groups
    // start early while the pool fills; the shorter last chunks of tensors follow. (Two lists,
    // not a sort by length: the SDK would carry the sort's code.)
    let (mut jobs, mut partial) = (Vec::new(), Vec::new());
    for (coded, out) in tensors.iter_mut() {
        for job in chunk_jobs(coded, out)? {
            if job.out.len() == CHUNK {
                jobs.push(job);
            } else {
                partial.push(job);
            }
        }
    }
    jobs.append(&mut partial);
    #[cfg(feature = "std")]
    {
        use rayon::prelude::*;
        jobs.par_chunks_mut(LANES).try_for_each(decode_group)
    }
    #[cfg(not(feature = "std"))]
    jobs.chunks_mut(LANES).try_for_each(decode_group)
}

/// Decodes `n` int8 values coded by [`encode_i8`].
pub fn decode_i8(coded: &[u8], n: usize) -> Result<Vec<i8>> {
    let mut out = vec![0i8; n];
    decode_tensors(&mut [(coded, &mut out)])?;
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
    fn tensors_decoded_together_in_lanes_match_and_a_short_one_is_caught() {
        // Lengths that make full four-lane groups, unequal lanes (tails) and an empty tensor.
        let tensors: Vec<Vec<i8>> = [40_000, 16_384, 9_000, 0, 100, 33_000]
            .iter()
            .enumerate()
            .map(|(i, &n)| weights(n, 10 + i as u64))
            .collect();
        let coded: Vec<Vec<u8>> = tensors.iter().map(|t| encode_i8(t)).collect();
        // All tensors decoded in one call, into buffers of their lengths.
        let decode_all = |coded: &[Vec<u8>]| -> Result<Vec<Vec<i8>>> {
            let mut outs: Vec<Vec<i8>> = tensors.iter().map(|t| vec![0; t.len()]).collect();
            let mut jobs: Vec<(&[u8], &mut [i8])> = coded
                .iter()
                .zip(&mut outs)
                .map(|(c, o)| (c.as_slice(), o.as_mut_slice()))
                .collect();
            decode_tensors(&mut jobs)?;
            Ok(outs)
        };
        assert_eq!(decode_all(&coded).unwrap(), tensors);
        // Every chunk's streams are checked, whichever lane and group it lands in: shorten
        // each tensor's final raw stream by its last byte in turn (lengths kept consistent).
        for victim in [0, 1, 2, 4, 5] {
            let mut coded = coded.clone();
            let chunks = tensors[victim].len().div_ceil(CHUNK);
            let field = 8 * (chunks - 1) + 4;
            let b = &mut coded[victim][field..field + 4];
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            b.copy_from_slice(&(len - 1).to_le_bytes());
            coded[victim].pop();
            assert!(decode_all(&coded).is_err(), "tensor {victim}");
        }
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

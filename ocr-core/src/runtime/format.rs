//! The Kestrel model file format (`.kmod`), version 1: [`ModelDef`] and its byte encoding.
//!
//! The layout is specified in `models/FORMAT.md`. In short: a 48-byte header (magic, version,
//! section lengths, two CRC-32s), a body of counted tables (strings, metadata, values, graph
//! inputs/outputs, constants, nodes, split points) and a 64-byte-aligned payload holding the
//! constant tensors' bytes. Every count, index, offset and length is checked while decoding, and
//! counts are bounded by the bytes that remain, so malformed input yields [`Error::Format`]
//! without panicking or allocating more than the input's size.

use super::{Error, Result};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// File magic, the first eight bytes of every model file.
pub const MAGIC: &[u8; 8] = b"KESTRELM";
/// Format major version written by this build; files with another major version are refused.
pub const VERSION_MAJOR: u16 = 1;
/// Format minor version of files that use this build's additions (1.1: coded tensors; 1.2:
/// their current coder, class + raw bits). Files without coded tensors are written as 1.0, so
/// readers from before the additions read them.
pub const VERSION_MINOR: u16 = 2;
/// Minor version of the first coder (all eight bits adaptive), whose coded tensors this build
/// refuses with a clear error rather than decode wrongly.
const MINOR_FIRST_CODER: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 48;
/// Alignment of the payload section and of every tensor inside it.
pub const PAYLOAD_ALIGN: usize = 64;
/// Largest tensor rank accepted.
pub const MAX_RANK: usize = 8;
/// Marker for an absent (optional) node input.
pub const NO_VALUE: u32 = u32::MAX;

/// One dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size (e.g. `batch`, `width`), fixed per run.
    Symbol(String),
}

/// A graph input or output: which value, and its declared dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoDef {
    /// Value id.
    pub value: u32,
    /// Declared dimensions.
    pub dims: Vec<Dim>,
}

/// Element type of a stored constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// Signed 8-bit integer (quantised weights).
    I8,
    /// Signed 32-bit integer (quantised biases, shape constants).
    I32,
}

impl DType {
    fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
            DType::I32 => 2,
        }
    }

    fn from_code(c: u8) -> Result<Self> {
        match c {
            0 => Ok(DType::F32),
            1 => Ok(DType::I8),
            2 => Ok(DType::I32),
            _ => Err(Error::Format(msg!("unknown dtype code {c}"))),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 => 1,
        }
    }
}

/// The elements of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    /// fp32 elements.
    F32(Vec<f32>),
    /// int8 elements.
    I8(Vec<i8>),
    /// int32 elements.
    I32(Vec<i32>),
}

impl ConstData {
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            ConstData::F32(_) => DType::F32,
            ConstData::I8(_) => DType::I8,
            ConstData::I32(_) => DType::I32,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ConstData::F32(v) => v.len(),
            ConstData::I8(v) => v.len(),
            ConstData::I32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-channel affine quantisation parameters of a constant: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantParams {
    /// The channel axis the parameters run along.
    pub axis: u32,
    /// One scale per channel (or one for the whole tensor).
    pub scales: Vec<f32>,
    /// One zero point per channel (or one for the whole tensor).
    pub zero_points: Vec<i32>,
}

/// A constant tensor (weights, biases, shape constants) bound to a value id.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstDef {
    /// Value id this constant defines.
    pub value: u32,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements.
    pub data: ConstData,
    /// Quantisation parameters, for quantised tensors.
    pub quant: Option<QuantParams>,
}

/// How a constant's elements are stored in the payload (the constant entry's encoding code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Code 0: raw little-endian elements.
    Raw,
    /// Code 1: int8 elements, arithmetic coded ([`super::entropy`]).
    Coded,
    /// Code 2: an fp32 tensor stored as int8 codes (arithmetic coded as code 1) and its
    /// quantisation parameters; the reader dequantises it to fp32 and drops the parameters.
    /// The constant handed to the writer must be int8 with quantisation parameters.
    CodedDequantised,
}

impl Encoding {
    fn code(self) -> u8 {
        match self {
            Encoding::Raw => 0,
            Encoding::Coded => 1,
            Encoding::CodedDequantised => 2,
        }
    }
}

/// Largest element count of a coded tensor per coded byte. Adaptive coding of a constant run
/// can in principle beat this, but no real weight tensor comes near it, and the bound keeps a
/// forged element count from forcing a huge allocation.
const MAX_CODED_EXPANSION: usize = 4096;

/// CRC-32 (IEEE 802.3, reflected), the checksum of the header fields. With `std`, the
/// `crc32fast` crate (SIMD); without it [`crc32_bytewise`].
fn crc32(bytes: &[u8]) -> u32 {
    #[cfg(feature = "std")]
    {
        crc32fast::hash(bytes)
    }
    #[cfg(not(feature = "std"))]
    {
        crc32_bytewise(bytes)
    }
}

/// CRC-32 with a 1 KB table, one byte per step: slower than crc32fast, but 15 KB smaller,
/// which matters for the embeddable SDK.
#[cfg_attr(feature = "std", allow(dead_code))]
fn crc32_bytewise(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// A node attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f32),
    /// Integer list.
    Ints(Vec<i64>),
    /// Float list.
    Floats(Vec<f32>),
    /// String.
    Str(String),
}

/// One node of the graph, untyped: op name, wiring and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDef {
    /// Op name (see `models/FORMAT.md` for the op set).
    pub op: String,
    /// Node name, for error messages and profiling.
    pub name: String,
    /// Input value ids; `None` for an absent optional input.
    pub inputs: Vec<Option<u32>>,
    /// Output value ids.
    pub outputs: Vec<u32>,
    /// Named attributes.
    pub attrs: Vec<(String, Attr)>,
}

impl NodeDef {
    /// Looks up an attribute by name.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A named point in the graph where a device may stop and a server continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPointDef {
    /// Split point name.
    pub name: String,
    /// The value crossing the split.
    pub value: u32,
}

/// The complete, untyped content of a model file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelDef {
    /// Key/value metadata (charset, preprocessing, provenance).
    pub metadata: Vec<(String, String)>,
    /// Value names; a value's id is its index.
    pub values: Vec<String>,
    /// Graph inputs.
    pub inputs: Vec<IoDef>,
    /// Graph outputs.
    pub outputs: Vec<IoDef>,
    /// Constant tensors.
    pub constants: Vec<ConstDef>,
    /// Nodes in topological order.
    pub nodes: Vec<NodeDef>,
    /// Split points.
    pub split_points: Vec<SplitPointDef>,
}

impl ModelDef {
    /// Looks up a metadata entry.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Format(msg!(
                "truncated: need {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// Reads an element count and checks that `count * min_bytes` more bytes can follow, so a
    /// corrupt count can never trigger a large allocation.
    fn count(&mut self, min_bytes: usize, what: &str) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_bytes.max(1)) > self.remaining() {
            return Err(Error::Format(msg!(
                "{what} count {n} exceeds the remaining {} bytes",
                self.remaining()
            )));
        }
        Ok(n)
    }

    fn usize_u64(&mut self, what: &str) -> Result<usize> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| Error::Format(msg!("{what} {v} too large")))
    }
}

fn string_at(strings: &[String], idx: u32, what: &str) -> Result<String> {
    strings
        .get(idx as usize)
        .cloned()
        .ok_or_else(|| Error::Format(msg!("{what}: string index {idx} out of range")))
}

fn check_value(idx: u32, n_values: usize, what: &str) -> Result<u32> {
    if (idx as usize) < n_values {
        Ok(idx)
    } else {
        Err(Error::Format(msg!(
            "{what}: value id {idx} out of range ({n_values} values)"
        )))
    }
}

/// Header fields of a model file.
#[derive(Debug, Clone, Copy)]
struct Header {
    minor: u16,
    body_len: usize,
    payload_offset: usize,
    payload_len: usize,
    body_crc: u32,
    payload_crc: u32,
}

fn read_header(bytes: &[u8]) -> Result<Header> {
    let mut r = Reader::new(bytes);
    let magic = r
        .bytes(8)
        .map_err(|_| Error::Format("file too short for header".into()))?;
    if magic != MAGIC {
        return Err(Error::Format("bad magic: not a Kestrel model file".into()));
    }
    let major = r.u16()?;
    let minor = r.u16()?;
    if major != VERSION_MAJOR {
        return Err(Error::Unsupported(msg!(
            "model format version {major}.{minor}; this build reads {VERSION_MAJOR}.x"
        )));
    }
    let _flags = r.u32()?;
    let body_len = r.usize_u64("body length")?;
    let payload_offset = r.usize_u64("payload offset")?;
    let payload_len = r.usize_u64("payload length")?;
    let body_crc = r.u32()?;
    let payload_crc = r.u32()?;
    let body_end = HEADER_LEN
        .checked_add(body_len)
        .ok_or_else(|| Error::Format("body length overflows".into()))?;
    if body_end > bytes.len() {
        return Err(Error::Format(msg!(
            "truncated: body ends at {body_end}, file has {} bytes",
            bytes.len()
        )));
    }
    if payload_offset < body_end || payload_offset % PAYLOAD_ALIGN != 0 {
        return Err(Error::Format(msg!(
            "payload offset {payload_offset} overlaps the body or is misaligned"
        )));
    }
    let payload_end = payload_offset
        .checked_add(payload_len)
        .ok_or_else(|| Error::Format("payload length overflows".into()))?;
    if payload_end > bytes.len() {
        return Err(Error::Format(msg!(
            "truncated: payload ends at {payload_end}, file has {} bytes",
            bytes.len()
        )));
    }
    Ok(Header {
        minor,
        body_len,
        payload_offset,
        payload_len,
        body_crc,
        payload_crc,
    })
}

/// Decodes a model file, verifying its checksums.
pub fn decode(bytes: &[u8]) -> Result<ModelDef> {
    let h = read_header(bytes)?;
    let body = &bytes[HEADER_LEN..HEADER_LEN + h.body_len];
    let payload = &bytes[h.payload_offset..h.payload_offset + h.payload_len];
    if crc32(body) != h.body_crc {
        return Err(Error::Format(
            "body checksum mismatch (corrupt file)".into(),
        ));
    }
    if crc32(payload) != h.payload_crc {
        return Err(Error::Format(
            "payload checksum mismatch (corrupt file)".into(),
        ));
    }
    decode_sections(body, payload, h.minor)
}

/// Recomputes and stores both checksums of an encoded model in place. Used by tools that patch
/// files, and by tests that corrupt bytes on purpose to exercise the structural checks behind
/// the checksums.
pub fn reseal(bytes: &mut [u8]) -> Result<()> {
    let h = read_header(bytes)?;
    let body_crc = crc32(&bytes[HEADER_LEN..HEADER_LEN + h.body_len]);
    let payload_crc = crc32(&bytes[h.payload_offset..h.payload_offset + h.payload_len]);
    bytes[40..44].copy_from_slice(&body_crc.to_le_bytes());
    bytes[44..48].copy_from_slice(&payload_crc.to_le_bytes());
    Ok(())
}

fn read_io(r: &mut Reader, strings: &[String], n_values: usize) -> Result<Vec<IoDef>> {
    let n = r.count(8, "graph input/output")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let value = check_value(r.u32()?, n_values, "graph input/output")?;
        let rank = r.count(5, "dimension")?;
        if rank > MAX_RANK {
            return Err(Error::Format(msg!("rank {rank} > {MAX_RANK}")));
        }
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(match r.u8()? {
                0 => Dim::Fixed(r.u64()?),
                1 => Dim::Symbol(string_at(strings, r.u32()?, "dimension symbol")?),
                k => return Err(Error::Format(msg!("bad dimension kind {k}"))),
            });
        }
        out.push(IoDef { value, dims });
    }
    Ok(out)
}

/// A coded constant whose elements are decoded after the tables are read (in parallel with the
/// `std` feature): its index in the constant table, its coded bytes and element count.
struct CodedConst<'a> {
    index: usize,
    encoding: Encoding,
    bytes: &'a [u8],
    elems: usize,
}

/// Decodes the coded constants into `constants`: all their chunks together (in parallel with
/// the `std` feature), then the [`Encoding::CodedDequantised`] ones are dequantised (their
/// parameters are dropped afterwards).
fn decode_all_coded(coded: &[CodedConst], constants: &mut [ConstDef]) -> Result<()> {
    let mut codes: Vec<Vec<i8>> = coded.iter().map(|c| alloc::vec![0i8; c.elems]).collect();
    let mut tensors: Vec<(&[u8], &mut [i8])> = coded
        .iter()
        .zip(&mut codes)
        .map(|(c, out)| (c.bytes, out.as_mut_slice()))
        .collect();
    super::entropy::decode_tensors(&mut tensors)?;
    for (c, codes) in coded.iter().zip(codes) {
        let def = &mut constants[c.index];
        def.data = match c.encoding {
            Encoding::CodedDequantised => {
                let q = def.quant.take().ok_or_else(|| {
                    Error::Format("dequantised tensor without quantisation parameters".into())
                })?;
                ConstData::F32(dequantise(&codes, &def.shape, &q)?)
            }
            _ => ConstData::I8(codes),
        };
    }
    Ok(())
}

fn read_const<'a>(
    r: &mut Reader,
    payload: &'a [u8],
    n_values: usize,
    index: usize,
    minor: u16,
) -> Result<(ConstDef, Option<CodedConst<'a>>)> {
    let value = check_value(r.u32()?, n_values, "constant")?;
    let dtype = DType::from_code(r.u8()?)?;
    let encoding = match r.u8()? {
        0 => Encoding::Raw,
        1 if dtype == DType::I8 => Encoding::Coded,
        2 if dtype == DType::F32 => Encoding::CodedDequantised,
        e => {
            return Err(Error::Unsupported(msg!(
                "tensor encoding {e} for dtype {dtype:?}"
            )));
        }
    };
    if encoding != Encoding::Raw && minor == MINOR_FIRST_CODER {
        return Err(Error::Unsupported(
            "coded tensors of format 1.1 (the first coder); compress the uncoded model again"
                .into(),
        ));
    }
    let _reserved = r.u16()?;
    let rank = r.count(8, "constant dimension")?;
    if rank > MAX_RANK {
        return Err(Error::Format(msg!("rank {rank} > {MAX_RANK}")));
    }
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(r.usize_u64("dimension")?);
    }
    let quant = match r.u8()? {
        0 => None,
        1 => {
            let axis = r.u32()?;
            let n = r.count(8, "quantisation parameter")?;
            let mut scales = Vec::with_capacity(n);
            for _ in 0..n {
                scales.push(r.f32()?);
            }
            let mut zero_points = Vec::with_capacity(n);
            for _ in 0..n {
                zero_points.push(r.i32()?);
            }
            if axis as usize >= rank {
                return Err(Error::Format(msg!(
                    "quantisation axis {axis} out of range for rank {rank}"
                )));
            }
            // Zero points are int8 codes: anything wider would overflow dequantisation.
            if let Some(z) = zero_points.iter().find(|z| i8::try_from(**z).is_err()) {
                return Err(Error::Format(msg!(
                    "quantisation zero point {z} outside int8"
                )));
            }
            Some(QuantParams {
                axis,
                scales,
                zero_points,
            })
        }
        k => return Err(Error::Format(msg!("bad quantisation kind {k}"))),
    };
    let offset = r.usize_u64("tensor offset")?;
    let length = r.usize_u64("tensor length")?;
    let elems = super::tensor::num_elements(&shape)
        .ok_or_else(|| Error::Format(msg!("shape {shape:?} overflows")))?;
    let length_ok = match encoding {
        Encoding::Raw => elems.checked_mul(dtype.size()) == Some(length),
        _ => elems <= length.saturating_mul(MAX_CODED_EXPANSION),
    };
    if !length_ok {
        return Err(Error::Format(msg!(
            "tensor of shape {shape:?} and dtype {dtype:?} cannot be held by {length} bytes \
             ({encoding:?})"
        )));
    }
    let end = offset
        .checked_add(length)
        .filter(|&e| e <= payload.len())
        .ok_or_else(|| {
            Error::Format(msg!(
                "tensor bytes {offset}+{length} outside the {}-byte payload",
                payload.len()
            ))
        })?;
    let bytes = &payload[offset..end];
    let (data, coded) = match encoding {
        Encoding::Raw => (raw_elements(dtype, bytes), None),
        _ => {
            if encoding == Encoding::CodedDequantised && quant.is_none() {
                return Err(Error::Format(
                    "dequantised tensor without quantisation parameters".into(),
                ));
            }
            let c = CodedConst {
                index,
                encoding,
                bytes,
                elems,
            };
            (ConstData::I8(Vec::new()), Some(c))
        }
    };
    if let Some(q) = &quant {
        let channels = shape[q.axis as usize];
        if q.scales.len() != 1 && q.scales.len() != channels {
            return Err(Error::Format(msg!(
                "{} quantisation scales for {channels} channels",
                q.scales.len()
            )));
        }
    }
    let def = ConstDef {
        value,
        shape,
        data,
        quant,
    };
    Ok((def, coded))
}

/// Reads raw little-endian elements (`bytes.len()` is a multiple of the element size).
fn raw_elements(dtype: DType, bytes: &[u8]) -> ConstData {
    match dtype {
        DType::F32 => ConstData::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::I32 => ConstData::I32(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::I8 => ConstData::I8(bytes.iter().map(|&b| b as i8).collect()),
    }
}

/// `real = scale * (q - zero_point)` per channel along `q.axis`.
fn dequantise(codes: &[i8], shape: &[usize], q: &QuantParams) -> Result<Vec<f32>> {
    let axis = q.axis as usize;
    let channels = shape[axis];
    let n = q.scales.len();
    if q.zero_points.len() != n || (n != 1 && n != channels) {
        return Err(Error::Format(msg!(
            "{n} quantisation scales for {channels} channels"
        )));
    }
    let inner: usize = shape[axis + 1..].iter().product();
    Ok(codes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let ch = if n == 1 {
                0
            } else {
                (i / inner.max(1)) % channels
            };
            q.scales[ch] * (i32::from(c) - q.zero_points[ch]) as f32
        })
        .collect())
}

fn read_attr(r: &mut Reader, strings: &[String]) -> Result<Attr> {
    Ok(match r.u8()? {
        0 => Attr::Int(r.i64()?),
        1 => Attr::Float(r.f32()?),
        2 => {
            let n = r.count(8, "attribute element")?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.i64()?);
            }
            Attr::Ints(v)
        }
        3 => {
            let n = r.count(4, "attribute element")?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.f32()?);
            }
            Attr::Floats(v)
        }
        4 => Attr::Str(string_at(strings, r.u32()?, "attribute")?),
        k => return Err(Error::Format(msg!("bad attribute type {k}"))),
    })
}

fn decode_sections(body: &[u8], payload: &[u8], minor: u16) -> Result<ModelDef> {
    let mut r = Reader::new(body);

    let n_strings = r.count(4, "string")?;
    let mut strings = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        let len = r.u32()? as usize;
        let b = r.bytes(len)?;
        let s = core::str::from_utf8(b).map_err(|_| Error::Format("string is not UTF-8".into()))?;
        strings.push(s.to_string());
    }

    let n_meta = r.count(8, "metadata entry")?;
    let mut metadata = Vec::with_capacity(n_meta);
    for _ in 0..n_meta {
        let k = string_at(&strings, r.u32()?, "metadata key")?;
        let v = string_at(&strings, r.u32()?, "metadata value")?;
        metadata.push((k, v));
    }

    let n_values = r.count(4, "value")?;
    let mut values = Vec::with_capacity(n_values);
    for _ in 0..n_values {
        values.push(string_at(&strings, r.u32()?, "value name")?);
    }

    let inputs = read_io(&mut r, &strings, n_values)?;
    let outputs = read_io(&mut r, &strings, n_values)?;

    let n_consts = r.count(30, "constant")?;
    let mut constants = Vec::with_capacity(n_consts);
    let mut coded = Vec::new();
    for i in 0..n_consts {
        let (c, pending) = read_const(&mut r, payload, n_values, i, minor)?;
        constants.push(c);
        coded.extend(pending);
    }

    let n_nodes = r.count(20, "node")?;
    let mut nodes = Vec::with_capacity(n_nodes);
    for _ in 0..n_nodes {
        let op = string_at(&strings, r.u32()?, "node op")?;
        let name = string_at(&strings, r.u32()?, "node name")?;
        let nin = r.count(4, "node input")?;
        let mut inputs = Vec::with_capacity(nin);
        for _ in 0..nin {
            let v = r.u32()?;
            inputs.push(if v == NO_VALUE {
                None
            } else {
                Some(check_value(v, n_values, "node input")?)
            });
        }
        let nout = r.count(4, "node output")?;
        let mut outs = Vec::with_capacity(nout);
        for _ in 0..nout {
            outs.push(check_value(r.u32()?, n_values, "node output")?);
        }
        let nattr = r.count(5, "attribute")?;
        let mut attrs = Vec::with_capacity(nattr);
        for _ in 0..nattr {
            let key = string_at(&strings, r.u32()?, "attribute name")?;
            attrs.push((key, read_attr(&mut r, &strings)?));
        }
        nodes.push(NodeDef {
            op,
            name,
            inputs,
            outputs: outs,
            attrs,
        });
    }

    let n_split = r.count(8, "split point")?;
    let mut split_points = Vec::with_capacity(n_split);
    for _ in 0..n_split {
        let name = string_at(&strings, r.u32()?, "split point name")?;
        let value = check_value(r.u32()?, n_values, "split point")?;
        split_points.push(SplitPointDef { name, value });
    }
    if r.remaining() != 0 {
        return Err(Error::Format(msg!(
            "{} unexpected trailing bytes in the body",
            r.remaining()
        )));
    }
    // The tables are valid; only now spend time on the coded tensors.
    decode_all_coded(&coded, &mut constants)?;

    Ok(ModelDef {
        metadata,
        values,
        inputs,
        outputs,
        constants,
        nodes,
        split_points,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Interns strings into the string table.
#[derive(Default)]
struct StringTable {
    strings: Vec<String>,
}

impl StringTable {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.strings.iter().position(|x| x == s) {
            return i as u32;
        }
        self.strings.push(s.to_string());
        (self.strings.len() - 1) as u32
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn align_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

/// Encodes a model definition into the file format.
pub fn encode(def: &ModelDef) -> Vec<u8> {
    encode_with(def, |_| Encoding::Raw)
}

/// Encodes a model file, storing each constant as `encoding` says (given its index in
/// `def.constants`). A [`Encoding::Coded`] choice for a non-int8 constant, or a
/// [`Encoding::CodedDequantised`] one for a constant without int8 data and quantisation
/// parameters, falls back to raw.
pub fn encode_with(def: &ModelDef, encoding: impl Fn(usize) -> Encoding) -> Vec<u8> {
    let mut coded_any = false;
    let mut st = StringTable::default();
    // Intern all strings first so the table precedes everything that refers to it.
    let mut tables = Vec::new();
    let mut payload = Vec::new();

    put_u32(&mut tables, def.metadata.len() as u32);
    for (k, v) in &def.metadata {
        put_u32(&mut tables, st.id(k));
        put_u32(&mut tables, st.id(v));
    }
    put_u32(&mut tables, def.values.len() as u32);
    for v in &def.values {
        put_u32(&mut tables, st.id(v));
    }
    for ios in [&def.inputs, &def.outputs] {
        put_u32(&mut tables, ios.len() as u32);
        for io in ios.iter() {
            put_u32(&mut tables, io.value);
            put_u32(&mut tables, io.dims.len() as u32);
            for d in &io.dims {
                match d {
                    Dim::Fixed(n) => {
                        tables.push(0);
                        put_u64(&mut tables, *n);
                    }
                    Dim::Symbol(s) => {
                        tables.push(1);
                        put_u32(&mut tables, st.id(s));
                    }
                }
            }
        }
    }
    put_u32(&mut tables, def.constants.len() as u32);
    for (i, c) in def.constants.iter().enumerate() {
        let enc = match (encoding(i), &c.data, &c.quant) {
            (Encoding::Coded, ConstData::I8(_), _) => Encoding::Coded,
            (Encoding::CodedDequantised, ConstData::I8(_), Some(_)) => Encoding::CodedDequantised,
            _ => Encoding::Raw,
        };
        coded_any |= enc != Encoding::Raw;
        put_u32(&mut tables, c.value);
        let dtype = match enc {
            Encoding::CodedDequantised => DType::F32,
            _ => c.data.dtype(),
        };
        tables.push(dtype.code());
        tables.push(enc.code());
        tables.extend_from_slice(&0u16.to_le_bytes());
        put_u32(&mut tables, c.shape.len() as u32);
        for &d in &c.shape {
            put_u64(&mut tables, d as u64);
        }
        match &c.quant {
            None => tables.push(0),
            Some(q) => {
                tables.push(1);
                put_u32(&mut tables, q.axis);
                put_u32(&mut tables, q.scales.len() as u32);
                for s in &q.scales {
                    tables.extend_from_slice(&s.to_le_bytes());
                }
                for z in &q.zero_points {
                    tables.extend_from_slice(&z.to_le_bytes());
                }
            }
        }
        payload.resize(align_up(payload.len(), PAYLOAD_ALIGN), 0);
        let offset = payload.len();
        match &c.data {
            ConstData::I8(v) if enc != Encoding::Raw => {
                payload.extend(super::entropy::encode_i8(v));
            }
            ConstData::F32(v) => v
                .iter()
                .for_each(|x| payload.extend_from_slice(&x.to_le_bytes())),
            ConstData::I32(v) => v
                .iter()
                .for_each(|x| payload.extend_from_slice(&x.to_le_bytes())),
            ConstData::I8(v) => payload.extend(v.iter().map(|&x| x as u8)),
        }
        put_u64(&mut tables, offset as u64);
        put_u64(&mut tables, (payload.len() - offset) as u64);
    }
    put_u32(&mut tables, def.nodes.len() as u32);
    for n in &def.nodes {
        put_u32(&mut tables, st.id(&n.op));
        put_u32(&mut tables, st.id(&n.name));
        put_u32(&mut tables, n.inputs.len() as u32);
        for i in &n.inputs {
            put_u32(&mut tables, i.unwrap_or(NO_VALUE));
        }
        put_u32(&mut tables, n.outputs.len() as u32);
        for &o in &n.outputs {
            put_u32(&mut tables, o);
        }
        put_u32(&mut tables, n.attrs.len() as u32);
        for (k, a) in &n.attrs {
            put_u32(&mut tables, st.id(k));
            match a {
                Attr::Int(v) => {
                    tables.push(0);
                    tables.extend_from_slice(&v.to_le_bytes());
                }
                Attr::Float(v) => {
                    tables.push(1);
                    tables.extend_from_slice(&v.to_le_bytes());
                }
                Attr::Ints(v) => {
                    tables.push(2);
                    put_u32(&mut tables, v.len() as u32);
                    v.iter()
                        .for_each(|x| tables.extend_from_slice(&x.to_le_bytes()));
                }
                Attr::Floats(v) => {
                    tables.push(3);
                    put_u32(&mut tables, v.len() as u32);
                    v.iter()
                        .for_each(|x| tables.extend_from_slice(&x.to_le_bytes()));
                }
                Attr::Str(s) => {
                    tables.push(4);
                    put_u32(&mut tables, st.id(s));
                }
            }
        }
    }
    put_u32(&mut tables, def.split_points.len() as u32);
    for s in &def.split_points {
        put_u32(&mut tables, st.id(&s.name));
        put_u32(&mut tables, s.value);
    }

    let mut body = Vec::new();
    put_u32(&mut body, st.strings.len() as u32);
    for s in &st.strings {
        put_u32(&mut body, s.len() as u32);
        body.extend_from_slice(s.as_bytes());
    }
    body.extend_from_slice(&tables);

    let payload_offset = align_up(HEADER_LEN + body.len(), PAYLOAD_ALIGN);
    let mut out = Vec::with_capacity(payload_offset + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    let minor = if coded_any { VERSION_MINOR } else { 0 };
    out.extend_from_slice(&minor.to_le_bytes());
    put_u32(&mut out, 0); // flags
    put_u64(&mut out, body.len() as u64);
    put_u64(&mut out, payload_offset as u64);
    put_u64(&mut out, payload.len() as u64);
    put_u32(&mut out, crc32(&body));
    put_u32(&mut out, crc32(&payload));
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&body);
    out.resize(payload_offset, 0);
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> ModelDef {
        ModelDef {
            metadata: vec![("k".into(), "v".into())],
            values: vec!["x".into(), "w".into(), "y".into()],
            inputs: vec![IoDef {
                value: 0,
                dims: vec![Dim::Symbol("n".into()), Dim::Fixed(3)],
            }],
            outputs: vec![IoDef {
                value: 2,
                dims: vec![Dim::Symbol("n".into()), Dim::Fixed(2)],
            }],
            constants: vec![ConstDef {
                value: 1,
                shape: vec![3, 2],
                data: ConstData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                quant: None,
            }],
            nodes: vec![NodeDef {
                op: "MatMul".into(),
                name: "mm".into(),
                inputs: vec![Some(0), Some(1)],
                outputs: vec![2],
                attrs: vec![("a".into(), Attr::Ints(vec![1, -2]))],
            }],
            split_points: vec![SplitPointDef {
                name: "mid".into(),
                value: 0,
            }],
        }
    }

    #[test]
    fn bytewise_crc_matches_crc32fast() {
        assert_eq!(crc32_bytewise(b"123456789"), 0xCBF4_3926);
        let data: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(crc32_bytewise(&data), crc32(&data));
    }

    #[test]
    fn round_trip() {
        let def = sample();
        let bytes = encode(&def);
        assert_eq!(decode(&bytes).unwrap(), def);
    }

    #[test]
    fn coded_and_dequantised_constants_round_trip() {
        let mut def = sample();
        let codes: Vec<i8> = (0..600).map(|i| ((i * 37) % 23 - 11) as i8).collect();
        def.constants[0] = ConstDef {
            value: 1,
            shape: vec![3, 200],
            data: ConstData::I8(codes.clone()),
            quant: Some(QuantParams {
                axis: 0,
                scales: vec![0.5, 0.25, 2.0],
                zero_points: vec![0, 0, 0],
            }),
        };
        // Coded int8 reads back exactly.
        let bytes = encode_with(&def, |_| Encoding::Coded);
        assert_eq!(decode(&bytes).unwrap(), def);
        assert!(bytes.len() < encode(&def).len());
        // Coded files say 1.2; plain ones stay 1.0 for older readers.
        assert_eq!(bytes[10..12], [2, 0]);
        assert_eq!(encode(&def)[10..12], [0, 0]);
        // Coded tensors of a 1.1 file (the first coder) are refused, not decoded wrongly.
        let mut old = bytes.clone();
        old[10] = 1;
        let err = decode(&old).unwrap_err().to_string();
        assert!(err.contains("format 1.1"), "{err}");
        // Dequantised: fp32 = scale of the row x code, parameters dropped.
        let back = decode(&encode_with(&def, |_| Encoding::CodedDequantised)).unwrap();
        let expect: Vec<f32> = codes
            .iter()
            .enumerate()
            .map(|(i, &c)| [0.5, 0.25, 2.0][i / 200] * f32::from(c))
            .collect();
        assert_eq!(back.constants[0].data, ConstData::F32(expect));
        assert_eq!(back.constants[0].quant, None);
        // A coded choice for an fp32 constant falls back to raw.
        let plain = sample();
        assert_eq!(
            encode_with(&plain, |_| Encoding::CodedDequantised),
            encode(&plain)
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated at {n} decoded");
        }
    }

    #[test]
    fn checksum_catches_a_flipped_bit() {
        let mut bytes = encode(&sample());
        let i = HEADER_LEN + 5;
        bytes[i] ^= 1;
        assert!(matches!(decode(&bytes), Err(Error::Format(_))));
    }
}

//! Shape inference and plan-time evaluation.
//!
//! Given the shapes (and, where known, the values) of a node's inputs, [`infer`] returns the
//! output shape, the output value when it can be computed at plan time (shape arithmetic such as
//! `Shape -> Slice -> Concat -> Reshape`), and the resolved parameters the executor needs
//! ([`Aux`]). The converter uses the same function to fold constants, so the two never disagree.

use super::op::{BinaryOp, CastTo, Op, UnaryOp};
use super::ops::movement;
use super::tensor::num_elements;
use super::{Error, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Largest element count of any one tensor (2^31 fp32 = 8 GiB).
pub const MAX_ELEMENTS: usize = 1 << 31;

/// Values known at plan time.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Floating-point values.
    F32(Vec<f32>),
    /// Integer values (shapes, indices).
    I64(Vec<i64>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }
}

/// What is known of a value while planning: always its shape, sometimes its contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Contents, when known at plan time.
    pub data: Option<Data>,
}

impl Info {
    /// A value of known shape whose contents are only known at run time.
    pub fn dynamic(shape: Vec<usize>) -> Self {
        Info { shape, data: None }
    }
}

/// One sliced axis: output index `i` reads input index `start + i * step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceDim {
    /// First input index.
    pub start: isize,
    /// Step (non-zero).
    pub step: isize,
    /// Output length.
    pub len: usize,
}

/// Parameters resolved at plan time for the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum Aux {
    /// Nothing beyond the op and shapes.
    None,
    /// A normalised axis.
    Axis(usize),
    /// Normalised axes.
    Axes(Vec<usize>),
    /// Slice parameters for every input axis.
    Slice(Vec<SliceDim>),
    /// Gather axis and normalised indices.
    Gather(usize, Vec<usize>),
}

fn shape_err(name: &str, msg: alloc::string::String) -> Error {
    Error::Shape(msg!("node '{name}': {msg}"))
}

fn norm_axis(axis: i64, rank: usize, name: &str) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r.max(1)).contains(&a) {
        Ok(a as usize)
    } else {
        Err(shape_err(
            name,
            msg!("axis {axis} out of range for rank {rank}"),
        ))
    }
}

fn checked_elems(shape: &[usize], name: &str) -> Result<usize> {
    match num_elements(shape) {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(Error::Limit(msg!(
            "node '{name}': tensor of shape {shape:?} is too large"
        ))),
    }
}

/// Numpy-style broadcast of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize], name: &str) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(shape_err(
                name,
                msg!("shapes {a:?} and {b:?} do not broadcast"),
            ));
        };
    }
    Ok(out)
}

/// Output size of a sliding window along one axis.
pub fn window_out(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Option<usize> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    let room = padded.checked_sub(span)?;
    let mut out = if ceil_mode {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    // A window may not start entirely inside the end padding.
    if ceil_mode && (out - 1) * stride >= input + pad_begin {
        out -= 1;
    }
    Some(out)
}

fn data_i64<'a>(info: &'a Info, name: &str, what: &str) -> Result<&'a [i64]> {
    match &info.data {
        Some(Data::I64(v)) => Ok(v),
        Some(Data::F32(_)) => Err(shape_err(name, msg!("{what} must be integers"))),
        None => Err(Error::Unsupported(msg!(
            "node '{name}': {what} must be known at plan time"
        ))),
    }
}

fn input<'a>(inputs: &[Option<&'a Info>], i: usize, name: &str) -> Result<&'a Info> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| shape_err(name, msg!("input {i} is missing")))
}

/// Maps a data-movement function over whichever element type the input holds.
fn map_data(
    d: &Data,
    f_f32: impl Fn(&[f32]) -> Vec<f32>,
    f_i64: impl Fn(&[i64]) -> Vec<i64>,
) -> Data {
    match d {
        Data::F32(v) => Data::F32(f_f32(v)),
        Data::I64(v) => Data::I64(f_i64(v)),
    }
}

fn reshape_target(x: &Info, target: &[i64], allowzero: bool, name: &str) -> Result<Vec<usize>> {
    let total = checked_elems(&x.shape, name)?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *x.shape
                    .get(i)
                    .ok_or_else(|| shape_err(name, msg!("reshape copies missing dimension {i}")))?,
            ),
            t if t >= 0 => out.push(t as usize),
            _ => {
                return Err(shape_err(name, msg!("bad reshape target {target:?}")));
            }
        }
    }
    let known = checked_elems(&out, name)?;
    if let Some(i) = infer_at {
        if known == 0 || total % known != 0 {
            return Err(shape_err(
                name,
                msg!("cannot reshape {:?} to {target:?}", x.shape),
            ));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(shape_err(
            name,
            msg!("cannot reshape {:?} to {target:?}", x.shape),
        ));
    }
    Ok(out)
}

fn slice_dims(inputs: &[Option<&Info>], name: &str) -> Result<Vec<SliceDim>> {
    let x = input(inputs, 0, name)?;
    let rank = x.shape.len();
    let starts = data_i64(input(inputs, 1, name)?, name, "slice starts")?;
    let ends = data_i64(input(inputs, 2, name)?, name, "slice ends")?;
    let axes: Vec<i64> = match inputs.get(3).copied().flatten() {
        Some(a) => data_i64(a, name, "slice axes")?.to_vec(),
        None => (0..starts.len() as i64).collect(),
    };
    let steps: Vec<i64> = match inputs.get(4).copied().flatten() {
        Some(s) => data_i64(s, name, "slice steps")?.to_vec(),
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(shape_err(name, "slice parameter lengths differ".into()));
    }
    let mut dims: Vec<SliceDim> = x
        .shape
        .iter()
        .map(|&d| SliceDim {
            start: 0,
            step: 1,
            len: d,
        })
        .collect();
    let mut seen = vec![false; rank];
    for i in 0..starts.len() {
        let axis = norm_axis(axes[i], rank, name)?;
        if seen[axis] {
            return Err(shape_err(name, "repeated slice axis".into()));
        }
        seen[axis] = true;
        let dim = x.shape[axis] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(shape_err(name, "slice step 0".into()));
        }
        let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let fix = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = if step > 0 {
            (clamp(fix(starts[i]), 0, dim), clamp(fix(ends[i]), 0, dim))
        } else {
            (
                clamp(fix(starts[i]), -1, dim - 1),
                clamp(fix(ends[i]), -1, dim - 1),
            )
        };
        let len = if step > 0 {
            if end > start {
                (end - start + step - 1) / step
            } else {
                0
            }
        } else if start > end {
            (start - end + (-step) - 1) / (-step)
        } else {
            0
        };
        dims[axis] = SliceDim {
            start: start as isize,
            step: step as isize,
            len: len as usize,
        };
    }
    Ok(dims)
}

/// Infers a node's output and resolves its parameters. `inputs[i]` is `None` for an absent
/// optional input.
pub fn infer(op: &Op, name: &str, inputs: &[Option<&Info>]) -> Result<(Info, Aux)> {
    let x = input(inputs, 0, name)?;
    let all_known = inputs.iter().flatten().all(|i| i.data.is_some());
    let mut aux = Aux::None;
    let (shape, data): (Vec<usize>, Option<Data>) = match op {
        Op::Conv(p) => {
            let w = input(inputs, 1, name)?;
            if x.shape.len() != 4 || w.shape.len() != 4 {
                return Err(shape_err(
                    name,
                    msg!(
                        "conv needs NCHW input and OIHW weights, got {:?} and {:?}",
                        x.shape,
                        w.shape
                    ),
                ));
            }
            let (m, cg) = (w.shape[0], w.shape[1]);
            if cg * p.group != x.shape[1] || m % p.group != 0 {
                return Err(shape_err(
                    name,
                    msg!(
                        "input has {} channels; weights {:?} with group {}",
                        x.shape[1],
                        w.shape,
                        p.group
                    ),
                ));
            }
            if let Some(b) = inputs.get(2).copied().flatten()
                && checked_elems(&b.shape, name)? != m
            {
                return Err(shape_err(
                    name,
                    msg!("bias shape {:?} for {m} channels", b.shape),
                ));
            }
            let oh = window_out(
                x.shape[2],
                p.pads[0],
                p.pads[2],
                w.shape[2],
                p.strides[0],
                p.dilations[0],
                false,
            );
            let ow = window_out(
                x.shape[3],
                p.pads[1],
                p.pads[3],
                w.shape[3],
                p.strides[1],
                p.dilations[1],
                false,
            );
            match (oh, ow) {
                (Some(oh), Some(ow)) => (vec![x.shape[0], m, oh, ow], None),
                _ => {
                    return Err(shape_err(
                        name,
                        msg!("input {:?} smaller than the kernel", x.shape),
                    ));
                }
            }
        }
        Op::ConvTranspose(p) => {
            let w = input(inputs, 1, name)?;
            if x.shape.len() != 4 || w.shape.len() != 4 || w.shape[0] != x.shape[1] {
                return Err(shape_err(
                    name,
                    msg!(
                        "conv-transpose input {:?} and weights {:?}",
                        x.shape,
                        w.shape
                    ),
                ));
            }
            let co = w.shape[1];
            if let Some(b) = inputs.get(2).copied().flatten()
                && checked_elems(&b.shape, name)? != co
            {
                return Err(shape_err(
                    name,
                    msg!("bias shape {:?} for {co} channels", b.shape),
                ));
            }
            let dim = |i: usize, k: usize| -> Option<usize> {
                let full = p.strides[i]
                    .checked_mul(x.shape[2 + i].checked_sub(1)?)?
                    .checked_add(p.output_padding[i])?
                    .checked_add((k.checked_sub(1)?).checked_mul(p.dilations[i])? + 1)?;
                full.checked_sub(p.pads[i] + p.pads[i + 2])
                    .filter(|&d| d > 0)
            };
            match (dim(0, w.shape[2]), dim(1, w.shape[3])) {
                (Some(oh), Some(ow)) => (vec![x.shape[0], co, oh, ow], None),
                _ => {
                    return Err(shape_err(
                        name,
                        msg!("bad conv-transpose input {:?}", x.shape),
                    ));
                }
            }
        }
        Op::MaxPool(p) | Op::AveragePool(p) => {
            if x.shape.len() != 4 {
                return Err(shape_err(
                    name,
                    msg!("pooling needs NCHW, got {:?}", x.shape),
                ));
            }
            if p.pads[0] >= p.kernel[0]
                || p.pads[2] >= p.kernel[0]
                || p.pads[1] >= p.kernel[1]
                || p.pads[3] >= p.kernel[1]
            {
                return Err(shape_err(
                    name,
                    "pads must be smaller than the window".into(),
                ));
            }
            let oh = window_out(
                x.shape[2],
                p.pads[0],
                p.pads[2],
                p.kernel[0],
                p.strides[0],
                1,
                p.ceil_mode,
            );
            let ow = window_out(
                x.shape[3],
                p.pads[1],
                p.pads[3],
                p.kernel[1],
                p.strides[1],
                1,
                p.ceil_mode,
            );
            match (oh, ow) {
                (Some(oh), Some(ow)) => (vec![x.shape[0], x.shape[1], oh, ow], None),
                _ => {
                    return Err(shape_err(
                        name,
                        msg!("input {:?} smaller than the window", x.shape),
                    ));
                }
            }
        }
        Op::GlobalAveragePool => {
            if x.shape.len() != 4 || x.shape[2] * x.shape[3] == 0 {
                return Err(shape_err(
                    name,
                    msg!("global pooling needs non-empty NCHW, got {:?}", x.shape),
                ));
            }
            (vec![x.shape[0], x.shape[1], 1, 1], None)
        }
        Op::Resize { scale_h, scale_w } => {
            if x.shape.len() != 4 {
                return Err(shape_err(
                    name,
                    msg!("resize needs NCHW, got {:?}", x.shape),
                ));
            }
            let s = vec![
                x.shape[0],
                x.shape[1],
                x.shape[2].saturating_mul(*scale_h),
                x.shape[3].saturating_mul(*scale_w),
            ];
            (s, None)
        }
        Op::Unary(u) => {
            let data = match (&x.data, u) {
                (Some(Data::F32(v)), UnaryOp::Act(a)) => {
                    Some(Data::F32(v.iter().map(|&e| a.apply(e)).collect()))
                }
                (Some(Data::F32(v)), UnaryOp::Sqrt) => {
                    Some(Data::F32(v.iter().map(|&e| libm::sqrtf(e)).collect()))
                }
                (Some(d), UnaryOp::Identity) => Some(d.clone()),
                (Some(Data::I64(_)), _) => {
                    return Err(shape_err(name, "float op on integers".into()));
                }
                (None, _) => None,
            };
            (x.shape.clone(), data)
        }
        Op::Binary(b) => {
            let y = input(inputs, 1, name)?;
            let shape = broadcast_shapes(&x.shape, &y.shape, name)?;
            checked_elems(&shape, name)?;
            let data = match (&x.data, &y.data) {
                (Some(Data::F32(a)), Some(Data::F32(c))) => {
                    let mut out = vec![0f32; num_elements(&shape).unwrap_or(0)];
                    super::ops::elementwise::binary_generic(
                        *b,
                        a,
                        &x.shape,
                        c,
                        &y.shape,
                        &mut out,
                        &shape,
                        |op, p, q| op.apply(p, q),
                    );
                    Some(Data::F32(out))
                }
                (Some(Data::I64(a)), Some(Data::I64(c))) => {
                    if *b == BinaryOp::Div && c.contains(&0) {
                        return Err(shape_err(name, "integer division by zero".into()));
                    }
                    let mut out = vec![0i64; num_elements(&shape).unwrap_or(0)];
                    super::ops::elementwise::binary_generic(
                        *b,
                        a,
                        &x.shape,
                        c,
                        &y.shape,
                        &mut out,
                        &shape,
                        |op, p, q| match op {
                            BinaryOp::Add => p.wrapping_add(q),
                            BinaryOp::Sub => p.wrapping_sub(q),
                            BinaryOp::Mul => p.wrapping_mul(q),
                            BinaryOp::Div => p.wrapping_div(q),
                            BinaryOp::Pow => p.wrapping_pow(q.clamp(0, 64) as u32),
                        },
                    );
                    Some(Data::I64(out))
                }
                (Some(_), Some(_)) => {
                    return Err(shape_err(name, "mixed integer and float operands".into()));
                }
                _ => None,
            };
            (shape, data)
        }
        Op::MatMul(_) | Op::QMatMul { .. } => {
            let y = input(inputs, 1, name)?;
            let (ra, rb) = (x.shape.len(), y.shape.len());
            if ra < 2 || rb < 2 || x.shape[ra - 1] != y.shape[rb - 2] {
                return Err(shape_err(
                    name,
                    msg!("cannot multiply {:?} by {:?}", x.shape, y.shape),
                ));
            }
            let mut shape = broadcast_shapes(&x.shape[..ra - 2], &y.shape[..rb - 2], name)?;
            shape.push(x.shape[ra - 2]);
            shape.push(y.shape[rb - 1]);
            if let Some(b) = inputs.get(2).copied().flatten()
                && checked_elems(&b.shape, name)? != y.shape[rb - 1]
            {
                return Err(shape_err(name, msg!("bias shape {:?}", b.shape)));
            }
            (shape, None)
        }
        Op::Softmax { axis, .. } => {
            aux = Aux::Axis(norm_axis(*axis, x.shape.len(), name)?);
            (x.shape.clone(), None)
        }
        Op::ReduceMean { axes, keepdims } => {
            let rank = x.shape.len();
            let listed: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, rank, name))
                .collect::<Result<_>>()?;
            // Sorted and unique by construction (no sort: the SDK would carry its code).
            let ax: Vec<usize> = (0..rank)
                .filter(|i| axes.is_empty() || listed.contains(i))
                .collect();
            let mut shape = Vec::new();
            for (i, &d) in x.shape.iter().enumerate() {
                if ax.contains(&i) {
                    if d == 0 {
                        return Err(shape_err(name, "mean over an empty axis".into()));
                    }
                    if *keepdims {
                        shape.push(1);
                    }
                } else {
                    shape.push(d);
                }
            }
            aux = Aux::Axes(ax);
            (shape, None)
        }
        Op::LayerNorm { .. } => {
            let last = *x
                .shape
                .last()
                .ok_or_else(|| shape_err(name, "layer norm of a scalar".into()))?;
            for i in 1..3 {
                let p = input(inputs, i, name)?;
                if checked_elems(&p.shape, name)? != last {
                    return Err(shape_err(
                        name,
                        msg!("scale/bias shape {:?} for {last} features", p.shape),
                    ));
                }
            }
            if last == 0 {
                return Err(shape_err(name, "layer norm over an empty axis".into()));
            }
            (x.shape.clone(), None)
        }
        Op::Transpose { perm } => {
            let rank = x.shape.len();
            let perm: Vec<usize> = if perm.is_empty() {
                (0..rank).rev().collect()
            } else {
                perm.clone()
            };
            if perm.len() != rank {
                return Err(shape_err(
                    name,
                    msg!("permutation {perm:?} for rank {rank}"),
                ));
            }
            let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
            let data = x.data.as_ref().map(|d| {
                map_data(
                    d,
                    |v| movement::transpose(v, &x.shape, &perm),
                    |v| movement::transpose(v, &x.shape, &perm),
                )
            });
            aux = Aux::Axes(perm);
            (shape, data)
        }
        Op::Reshape { allowzero } => {
            let target = data_i64(input(inputs, 1, name)?, name, "reshape target")?;
            (reshape_target(x, target, *allowzero, name)?, x.data.clone())
        }
        Op::Squeeze { axes } => {
            let rank = x.shape.len();
            let ax: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, rank, name))
                .collect::<Result<_>>()?;
            let mut shape = Vec::new();
            for (i, &d) in x.shape.iter().enumerate() {
                let listed = ax.contains(&i);
                if listed && d != 1 {
                    return Err(shape_err(
                        name,
                        msg!("cannot squeeze axis {i} of {:?}", x.shape),
                    ));
                }
                if !(listed || (ax.is_empty() && d == 1)) {
                    shape.push(d);
                }
            }
            (shape, x.data.clone())
        }
        Op::Unsqueeze { axes } => {
            let rank = x.shape.len() + axes.len();
            let ax: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, rank, name))
                .collect::<Result<_>>()?;
            let mut shape = Vec::with_capacity(rank);
            let mut it = x.shape.iter();
            for i in 0..rank {
                if ax.contains(&i) {
                    shape.push(1);
                } else {
                    shape.push(
                        *it.next()
                            .ok_or_else(|| shape_err(name, "repeated unsqueeze axis".into()))?,
                    );
                }
            }
            (shape, x.data.clone())
        }
        Op::Flatten { axis } => {
            let rank = x.shape.len();
            let a = if *axis < 0 {
                *axis + rank as i64
            } else {
                *axis
            };
            if !(0..=rank as i64).contains(&a) {
                return Err(shape_err(name, msg!("flatten axis {axis} for rank {rank}")));
            }
            let a = a as usize;
            let outer = checked_elems(&x.shape[..a], name)?;
            let inner = checked_elems(&x.shape[a..], name)?;
            (vec![outer, inner], x.data.clone())
        }
        Op::Concat { axis } => {
            let rank = x.shape.len();
            let a = norm_axis(*axis, rank, name)?;
            let mut shape = x.shape.clone();
            shape[a] = 0;
            let parts: Vec<&Info> = inputs.iter().flatten().copied().collect();
            for p in &parts {
                if p.shape.len() != rank
                    || p.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != a && d != x.shape[i])
                {
                    return Err(shape_err(
                        name,
                        msg!("cannot concatenate {:?} and {:?}", x.shape, p.shape),
                    ));
                }
                shape[a] = shape[a].saturating_add(p.shape[a]);
            }
            checked_elems(&shape, name)?;
            let data = if all_known {
                let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape.as_slice()).collect();
                match parts[0].data.as_ref() {
                    Some(Data::F32(_)) => {
                        let vs: Option<Vec<&[f32]>> = parts
                            .iter()
                            .map(|p| match &p.data {
                                Some(Data::F32(v)) => Some(v.as_slice()),
                                _ => None,
                            })
                            .collect();
                        let vs = vs.ok_or_else(|| shape_err(name, "mixed concat types".into()))?;
                        Some(Data::F32(movement::concat(&vs, &shapes, a)))
                    }
                    Some(Data::I64(_)) => {
                        let vs: Option<Vec<&[i64]>> = parts
                            .iter()
                            .map(|p| match &p.data {
                                Some(Data::I64(v)) => Some(v.as_slice()),
                                _ => None,
                            })
                            .collect();
                        let vs = vs.ok_or_else(|| shape_err(name, "mixed concat types".into()))?;
                        Some(Data::I64(movement::concat(&vs, &shapes, a)))
                    }
                    None => None,
                }
            } else {
                None
            };
            aux = Aux::Axis(a);
            (shape, data)
        }
        Op::Shape => (
            vec![x.shape.len()],
            Some(Data::I64(x.shape.iter().map(|&d| d as i64).collect())),
        ),
        Op::Gather { axis } => {
            let idx = input(inputs, 1, name)?;
            let rank = x.shape.len();
            let a = norm_axis(*axis, rank, name)?;
            let dim = x.shape[a] as i64;
            let indices: Vec<usize> = data_i64(idx, name, "gather indices")?
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + dim } else { i };
                    if (0..dim).contains(&j) {
                        Ok(j as usize)
                    } else {
                        Err(shape_err(name, msg!("gather index {i} out of range {dim}")))
                    }
                })
                .collect::<Result<_>>()?;
            let mut shape = x.shape[..a].to_vec();
            shape.extend_from_slice(&idx.shape);
            shape.extend_from_slice(&x.shape[a + 1..]);
            let data = x.data.as_ref().map(|d| {
                map_data(
                    d,
                    |v| movement::gather(v, &x.shape, a, &indices),
                    |v| movement::gather(v, &x.shape, a, &indices),
                )
            });
            aux = Aux::Gather(a, indices);
            (shape, data)
        }
        Op::Slice => {
            let dims = slice_dims(inputs, name)?;
            let shape: Vec<usize> = dims.iter().map(|d| d.len).collect();
            let data = x.data.as_ref().map(|d| {
                map_data(
                    d,
                    |v| movement::slice(v, &x.shape, &dims),
                    |v| movement::slice(v, &x.shape, &dims),
                )
            });
            aux = Aux::Slice(dims);
            (shape, data)
        }
        Op::Cast(to) => {
            let data = match (&x.data, to) {
                (Some(Data::F32(v)), CastTo::Int) => {
                    Some(Data::I64(v.iter().map(|&f| f as i64).collect()))
                }
                (Some(Data::I64(v)), CastTo::Float) => {
                    Some(Data::F32(v.iter().map(|&i| i as f32).collect()))
                }
                (Some(d), _) => Some(d.clone()),
                (None, CastTo::Float) => None,
                (None, CastTo::Int) => {
                    return Err(Error::Unsupported(msg!(
                        "node '{name}': casting run-time values to integers"
                    )));
                }
            };
            (x.shape.clone(), data)
        }
    };
    checked_elems(&shape, name)?;
    if let Some(d) = &data
        && d.len() != num_elements(&shape).unwrap_or(usize::MAX)
    {
        return Err(shape_err(name, "internal: evaluated size mismatch".into()));
    }
    Ok((Info { shape, data }, aux))
}

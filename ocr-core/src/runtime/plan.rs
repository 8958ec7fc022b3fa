//! Planning: one pass over the graph for a given set of input shapes.
//!
//! The plan infers every value's shape, evaluates shape arithmetic at plan time, drops nodes
//! whose results are known, turns reshapes into aliases, and assigns every run-time value a
//! slot in one arena so buffers are reused once their last reader has run. Running a plan
//! allocates nothing but the output tensors.

use super::format::Dim;
use super::model::Model;
use super::op::{Op, UnaryOp};
use super::ops::{conv, matmul, qconv};
use super::parallel::Threads;
use super::static_eval::{self, Aux, Info};
use super::{Error, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Slots are aligned to 16 floats (64 bytes) for SIMD loads.
const SLOT_ALIGN: usize = 16;

/// Where a value lives at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Offset into the arena, in floats.
    pub offset: usize,
    /// Length in floats.
    pub len: usize,
}

/// A node that runs at run time.
#[derive(Debug, Clone)]
pub struct Step {
    /// Index into the model's nodes.
    pub node: usize,
    /// Resolved parameters.
    pub aux: Aux,
    /// Scratch floats this step needs.
    pub scratch: usize,
    /// Scratch bytes this step needs (int8 operand panels).
    pub qscratch: usize,
}

/// An execution plan for one set of input shapes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Input shapes this plan was made for.
    pub input_shapes: Vec<Vec<usize>>,
    /// Shape (and plan-time contents) of every value reached.
    pub infos: Vec<Option<Info>>,
    /// Arena slot of every run-time value.
    pub slots: Vec<Option<Slot>>,
    /// Nodes to execute, in order.
    pub steps: Vec<Step>,
    /// Floats of the value area of the arena.
    pub values_len: usize,
    /// Floats of scratch after the value area.
    pub scratch_len: usize,
    /// Bytes of int8 scratch.
    pub qscratch_len: usize,
}

impl Plan {
    /// Total arena floats.
    pub fn arena_len(&self) -> usize {
        self.values_len + self.scratch_len
    }
}

/// A first-fit allocator over arena offsets.
#[derive(Default)]
struct Allocator {
    free: Vec<(usize, usize)>, // (offset, len), sorted by offset
    end: usize,
}

impl Allocator {
    fn alloc(&mut self, len: usize) -> usize {
        let len = len.div_ceil(SLOT_ALIGN).max(1) * SLOT_ALIGN;
        if let Some(i) = self.free.iter().position(|&(_, l)| l >= len) {
            let (off, l) = self.free[i];
            if l == len {
                self.free.remove(i);
            } else {
                self.free[i] = (off + len, l - len);
            }
            return off;
        }
        // Grow: extend a trailing free block if there is one.
        if let Some(&(off, l)) = self.free.last()
            && off + l == self.end
        {
            self.free.pop();
            self.end = off + len;
            return off;
        }
        let off = self.end;
        self.end += len;
        off
    }

    fn release(&mut self, off: usize, len: usize) {
        let len = len.div_ceil(SLOT_ALIGN).max(1) * SLOT_ALIGN;
        let i = self.free.partition_point(|&(o, _)| o < off);
        self.free.insert(i, (off, len));
        // Merge with neighbours.
        if i + 1 < self.free.len() && self.free[i].0 + self.free[i].1 == self.free[i + 1].0 {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == self.free[i].0 {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }
}

/// Checks caller-supplied input shapes against the model's declared inputs.
fn check_inputs(model: &Model, shapes: &[Vec<usize>]) -> Result<()> {
    let specs = model.inputs();
    if shapes.len() != specs.len() {
        return Err(Error::Input(alloc::format!(
            "model takes {} inputs, got {}",
            specs.len(),
            shapes.len()
        )));
    }
    let mut symbols: Vec<(&str, usize)> = Vec::new();
    for (spec, shape) in specs.iter().zip(shapes) {
        if shape.len() != spec.dims.len() {
            return Err(Error::Input(alloc::format!(
                "input '{}' needs rank {}, got shape {shape:?}",
                spec.name,
                spec.dims.len()
            )));
        }
        for (i, (d, &n)) in spec.dims.iter().zip(shape).enumerate() {
            match d {
                Dim::Fixed(f) if *f != n as u64 => {
                    return Err(Error::Input(alloc::format!(
                        "input '{}' dimension {i} must be {f}, got {n}",
                        spec.name
                    )));
                }
                Dim::Symbol(s) => match symbols.iter().find(|(k, _)| k == s) {
                    Some(&(_, m)) if m != n => {
                        return Err(Error::Input(alloc::format!(
                            "input '{}' dimension {i} ('{s}') is {n}, elsewhere {m}",
                            spec.name
                        )));
                    }
                    Some(_) => {}
                    None => symbols.push((s.as_str(), n)),
                },
                _ => {}
            }
            if n == 0 {
                return Err(Error::Input(alloc::format!(
                    "input '{}' has an empty dimension {i}",
                    spec.name
                )));
            }
        }
    }
    Ok(())
}

/// Ops whose output is the input's buffer under another shape.
fn is_alias(op: &Op) -> bool {
    matches!(
        op,
        Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Flatten { .. }
            | Op::Unary(UnaryOp::Identity)
    )
}

/// Plans `model` for inputs of `shapes`, sizing scratch for `threads`. `max_arena_floats`
/// bounds the arena so hostile input shapes fail cleanly instead of exhausting memory.
pub fn plan(
    model: &Model,
    shapes: &[Vec<usize>],
    threads: &Threads,
    max_arena_floats: usize,
) -> Result<Plan> {
    check_inputs(model, shapes)?;
    let nv = model.value_count();
    let mut infos: Vec<Option<Info>> = model.constants.clone();
    for (spec, shape) in model.inputs().iter().zip(shapes) {
        infos[spec.value as usize] = Some(Info::dynamic(shape.clone()));
    }

    // Pass 1: shapes, plan-time values and the steps that remain.
    let mut steps = Vec::new();
    // Buffer id of each run-time value (aliases share their input's buffer).
    let mut buffer_of: Vec<Option<usize>> = vec![None; nv];
    let mut buffer_len: Vec<usize> = Vec::new();
    for (spec, shape) in model.inputs().iter().zip(shapes) {
        buffer_of[spec.value as usize] = Some(buffer_len.len());
        buffer_len.push(shape.iter().product());
    }
    for (ni, node) in model.nodes.iter().enumerate() {
        let ins: Vec<Option<&Info>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|v| infos[v as usize].as_ref()))
            .collect();
        for (i, (id, info)) in node.inputs.iter().zip(&ins).enumerate() {
            if id.is_some() && info.is_none() {
                return Err(Error::Shape(alloc::format!(
                    "node '{}' input {i} was not computed",
                    node.name
                )));
            }
        }
        let (info, aux) = static_eval::infer(&node.op, &node.name, &ins)?;
        let out = node.outputs[0];
        let known = info.data.is_some();
        let len: usize = info.shape.iter().product();
        let (scratch, qscratch) = if known {
            (0, 0)
        } else {
            scratch_for(node, &ins, &info, threads)
        };
        infos[out as usize] = Some(info);
        if known {
            continue;
        }
        if is_alias(&node.op) {
            let src = node.inputs[0].unwrap_or(0) as usize;
            buffer_of[out as usize] = buffer_of[src];
            continue;
        }
        buffer_of[out as usize] = Some(buffer_len.len());
        buffer_len.push(len);
        steps.push(Step {
            node: ni,
            aux,
            scratch,
            qscratch,
        });
    }

    // Pass 2: buffer lifetimes (last step that reads each buffer; outputs live to the end).
    let nb = buffer_len.len();
    let mut last_use = vec![0usize; nb];
    for (si, step) in steps.iter().enumerate() {
        for v in model.nodes[step.node].inputs.iter().flatten() {
            if let Some(b) = buffer_of[*v as usize] {
                last_use[b] = last_use[b].max(si);
            }
        }
    }
    for spec in model.outputs() {
        if let Some(b) = buffer_of[spec.value as usize] {
            last_use[b] = usize::MAX;
        }
    }
    for (_, v) in model.split_points() {
        if let Some(b) = buffer_of[*v as usize] {
            last_use[b] = usize::MAX;
        }
    }

    // Pass 3: assign offsets.
    let mut alloc = Allocator::default();
    let mut offset_of: Vec<Option<usize>> = vec![None; nb];
    for spec in model.inputs() {
        if let Some(b) = buffer_of[spec.value as usize] {
            offset_of[b] = Some(alloc.alloc(buffer_len[b]));
        }
    }
    for (si, step) in steps.iter().enumerate() {
        let out = model.nodes[step.node].outputs[0] as usize;
        if let Some(b) = buffer_of[out] {
            offset_of[b] = Some(alloc.alloc(buffer_len[b]));
        }
        if alloc.end > max_arena_floats {
            return Err(Error::Limit(alloc::format!(
                "inputs {shapes:?} need more than {max_arena_floats} arena floats"
            )));
        }
        // Free buffers whose last reader is this step (never the one just written).
        let mut freed: Vec<usize> = Vec::new();
        for v in model.nodes[step.node].inputs.iter().flatten() {
            if let Some(b) = buffer_of[*v as usize]
                && last_use[b] == si
                && !freed.contains(&b)
            {
                if let Some(off) = offset_of[b] {
                    alloc.release(off, buffer_len[b]);
                }
                freed.push(b);
            }
        }
    }
    let slots: Vec<Option<Slot>> = (0..nv)
        .map(|v| {
            buffer_of[v].and_then(|b| {
                offset_of[b].map(|offset| Slot {
                    offset,
                    len: infos[v].as_ref().map_or(0, |i| i.shape.iter().product()),
                })
            })
        })
        .collect();
    let scratch_len = steps.iter().map(|s| s.scratch).max().unwrap_or(0);
    let qscratch_len = steps.iter().map(|s| s.qscratch).max().unwrap_or(0);
    if alloc.end.saturating_add(scratch_len) > max_arena_floats {
        return Err(Error::Limit(alloc::format!(
            "inputs {shapes:?} need more than {max_arena_floats} arena floats"
        )));
    }
    Ok(Plan {
        input_shapes: shapes.to_vec(),
        infos,
        slots,
        steps,
        values_len: alloc.end,
        scratch_len,
        qscratch_len,
    })
}

fn scratch_for(
    node: &super::op::Node,
    ins: &[Option<&Info>],
    out: &Info,
    threads: &Threads,
) -> (usize, usize) {
    let shape = |i: usize| {
        ins.get(i)
            .copied()
            .flatten()
            .map_or(&[][..], |x| x.shape.as_slice())
    };
    let out_shape = out.shape.as_slice();
    match &node.op {
        Op::Conv(p) if p.act_quant.is_some() => (
            0,
            qconv::qconv_scratch_len(p, shape(0), shape(1), out_shape, threads),
        ),
        Op::Conv(p) => (
            conv::conv_scratch_len(p, shape(0), shape(1), out_shape, threads),
            0,
        ),
        Op::ConvTranspose(p) => (
            conv::conv_transpose_scratch_len(p, shape(0), shape(1), out_shape, threads),
            0,
        ),
        Op::MatMul(_) => (matmul::matmul_scratch_len(shape(0), shape(1), threads), 0),
        _ => (0, 0),
    }
}

//! Planning: one pass over the graph for a given set of input shapes.
//!
//! The plan infers every value's shape, evaluates shape arithmetic at plan time, drops nodes
//! whose results are known, turns reshapes into aliases, and assigns every run-time value a
//! slot in one arena so buffers are reused once their last reader has run. Running a plan
//! allocates nothing but the output tensors.

use super::format::Dim;
use super::model::Model;
use super::op::{ActQuant, Op, UnaryOp};
use super::ops::{conv, matmul, qconv, qmatmul};
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
    /// Run-time values no step computes (aliases, concatenations written in place by their
    /// inputs' producers), each with the number of steps after which it is complete: what
    /// [`crate::runtime::Session::run_observed`] reports them after.
    pub unstepped: Vec<(usize, u32)>,
    /// By value id: `Some(q)` for a value stored as u8 codes quantised with `q` (an int8
    /// convolution's output that only int8 convolutions read, see [`coded_values`]); its slot
    /// holds the codes, four to a float.
    pub codes: Vec<Option<ActQuant>>,
    /// Whether the plan was made to chain int8 layers (`codes` may still be all `None`).
    pub chain_int8: bool,
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
        return Err(Error::Input(msg!(
            "model takes {} inputs, got {}",
            specs.len(),
            shapes.len()
        )));
    }
    let mut symbols: Vec<(&str, usize)> = Vec::new();
    for (spec, shape) in specs.iter().zip(shapes) {
        if shape.len() != spec.dims.len() {
            return Err(Error::Input(msg!(
                "input '{}' needs rank {}, got shape {shape:?}",
                spec.name,
                spec.dims.len()
            )));
        }
        for (i, (d, &n)) in spec.dims.iter().zip(shape).enumerate() {
            match d {
                Dim::Fixed(f) if *f != n as u64 => {
                    return Err(Error::Input(msg!(
                        "input '{}' dimension {i} must be {f}, got {n}",
                        spec.name
                    )));
                }
                Dim::Symbol(s) => match symbols.iter().find(|(k, _)| k == s) {
                    Some(&(_, m)) if m != n => {
                        return Err(Error::Input(msg!(
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
                return Err(Error::Input(msg!(
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

/// Where a buffer lives: its own allocation, or a range of a concatenation's output that
/// its producer writes in place.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// The buffer allocated in the arena.
    root: usize,
    /// Offset of this buffer in the root's range, in floats.
    offset: usize,
}

/// Buffers that a Concat's output can take over: when every dimension before the axis is 1,
/// each input is one contiguous range of the output, so its producer can write it there and
/// the copy disappears (det's neck concatenates four 24-channel maps of 240x240 floats). Each
/// input must be a distinct buffer written by a step of this plan and in no other
/// concatenation. Returns the buffers with their offsets in the output.
fn concat_in_place(
    node: &super::op::Node,
    axis: usize,
    infos: &[Option<Info>],
    buffer_of: &[Option<usize>],
    placement: &[Placement],
    first_step_buffer: usize,
) -> Option<Vec<(usize, usize)>> {
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0;
    for v in &node.inputs {
        let v = (*v)? as usize;
        let info = infos[v].as_ref()?;
        let b = buffer_of[v]?;
        let placed_elsewhere = placement[b].root != b;
        let holds_others = placement
            .iter()
            .enumerate()
            .any(|(i, p)| p.root == b && i != b);
        if info.data.is_some()
            || info.shape[..axis].iter().any(|&d| d != 1)
            || b < first_step_buffer
            || placed_elsewhere
            || holds_others
            || pieces.iter().any(|&(o, _)| o == b)
        {
            return None;
        }
        pieces.push((b, offset));
        offset += info.shape.iter().product::<usize>();
    }
    Some(pieces)
}

/// The quantisation of a node's data input if the node is an int8 convolution that is not
/// depthwise (the convolutions whose input and output may be codes).
fn int8_gemm_input(model: &Model, ni: usize) -> Option<ActQuant> {
    let node = &model.nodes[ni];
    let Op::Conv(p) = &node.op else { return None };
    model.int8_weights.get(ni)?.as_ref()?;
    let w = node.inputs.get(1).copied().flatten()?;
    let w_shape = &model.constants.get(w as usize)?.as_ref()?.shape;
    match p.is_depthwise(w_shape) {
        true => None,
        false => p.act_quant,
    }
}

/// Values to store as u8 codes: outputs of int8 (non-depthwise) convolutions that every reader
/// takes as the data input of an int8 (non-depthwise) convolution, all readers quantising
/// with the same scale and zero point. The producer then quantises in its epilogue and the
/// readers skip their own pass (`ops::qconv`, "Chained int8 layers"). Graph outputs and split
/// points stay fp32, as does everything when `chain` is false.
pub fn coded_values(model: &Model, chain: bool) -> Vec<Option<ActQuant>> {
    let mut codes: Vec<Option<ActQuant>> = vec![None; model.value_count()];
    if !chain {
        return codes;
    }
    // Each value's common reader quantisation so far: Some(Some(q)) while every reader is a
    // chainable convolution quantising with q, Some(None) once one is not.
    let mut readers: Vec<Option<Option<ActQuant>>> = vec![None; model.value_count()];
    for (ni, node) in model.nodes.iter().enumerate() {
        let q = int8_gemm_input(model, ni);
        for (i, v) in node.inputs.iter().enumerate() {
            let Some(r) = v.and_then(|v| readers.get_mut(v as usize)) else {
                continue;
            };
            let this = q.filter(|_| i == 0);
            *r = match *r {
                None => Some(this),
                Some(prev) if prev == this => Some(prev),
                Some(_) => Some(None),
            };
        }
    }
    let kept: Vec<u32> = model
        .outputs()
        .iter()
        .map(|o| o.value)
        .chain(model.split_points().iter().map(|(_, v)| *v))
        .collect();
    for (ni, node) in model.nodes.iter().enumerate() {
        let Some(&out) = node.outputs.first() else {
            continue;
        };
        if int8_gemm_input(model, ni).is_some() && !kept.contains(&out) {
            codes[out as usize] = readers[out as usize].flatten();
        }
    }
    codes
}

/// Plans `model` for inputs of `shapes`, sizing scratch for `threads`. `max_arena_floats`
/// bounds the arena so hostile input shapes fail cleanly instead of exhausting memory.
/// `chain_int8` stores the values [`coded_values`] picks as codes.
pub fn plan(
    model: &Model,
    shapes: &[Vec<usize>],
    threads: &Threads,
    max_arena_floats: usize,
    chain_int8: bool,
) -> Result<Plan> {
    check_inputs(model, shapes)?;
    let nv = model.value_count();
    let mut codes = coded_values(model, chain_int8);
    let mut infos: Vec<Option<Info>> = model.constants.clone();
    for (spec, shape) in model.inputs().iter().zip(shapes) {
        infos[spec.value as usize] = Some(Info::dynamic(shape.clone()));
    }

    // Pass 1: shapes, plan-time values and the steps that remain.
    let mut steps = Vec::new();
    let mut unstepped = Vec::new();
    // Buffer id of each run-time value (aliases share their input's buffer).
    let mut buffer_of: Vec<Option<usize>> = vec![None; nv];
    let mut buffer_len: Vec<usize> = Vec::new();
    let mut placement: Vec<Placement> = Vec::new();
    for (spec, shape) in model.inputs().iter().zip(shapes) {
        buffer_of[spec.value as usize] = Some(buffer_len.len());
        placement.push(Placement {
            root: buffer_len.len(),
            offset: 0,
        });
        buffer_len.push(shape.iter().product());
    }
    let first_step_buffer = buffer_len.len();
    for (ni, node) in model.nodes.iter().enumerate() {
        let ins: Vec<Option<&Info>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|v| infos[v as usize].as_ref()))
            .collect();
        for (i, (id, info)) in node.inputs.iter().zip(&ins).enumerate() {
            if id.is_some() && info.is_none() {
                return Err(Error::Shape(msg!(
                    "node '{}' input {i} was not computed",
                    node.name
                )));
            }
        }
        let (info, aux) = static_eval::infer(&node.op, &node.name, &ins)?;
        let out = node.outputs[0];
        let known = info.data.is_some();
        if known {
            codes[out as usize] = None;
        }
        let len = slot_len(&info.shape, codes[out as usize].is_some());
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
            unstepped.push((steps.len(), out));
            continue;
        }
        let root = buffer_len.len();
        buffer_of[out as usize] = Some(root);
        buffer_len.push(len);
        placement.push(Placement { root, offset: 0 });
        if let (Op::Concat { .. }, Aux::Axis(axis)) = (&node.op, &aux)
            && let Some(pieces) = concat_in_place(
                node,
                *axis,
                &infos,
                &buffer_of,
                &placement,
                first_step_buffer,
            )
        {
            // The inputs' producers write into the output; the Concat step is not run.
            for (b, offset) in pieces {
                placement[b] = Placement { root, offset };
            }
            // Complete once the producers so far have run (they include every piece's).
            unstepped.push((steps.len(), out));
            continue;
        }
        steps.push(Step {
            node: ni,
            aux,
            scratch,
            qscratch,
        });
    }

    // Pass 2: buffer lifetimes (last step that reads each buffer; outputs live to the end).
    // A buffer placed in a concatenation's output lives as long as that output: lifetimes,
    // allocation and release all go by the root.
    let nb = buffer_len.len();
    let root_of = |v: &u32| buffer_of[*v as usize].map(|b| placement[b].root);
    let mut last_use = vec![0usize; nb];
    for (si, step) in steps.iter().enumerate() {
        for r in model.nodes[step.node]
            .inputs
            .iter()
            .flatten()
            .filter_map(root_of)
        {
            last_use[r] = last_use[r].max(si);
        }
    }
    for spec in model.outputs() {
        if let Some(r) = root_of(&spec.value) {
            last_use[r] = usize::MAX;
        }
    }
    for (_, v) in model.split_points() {
        if let Some(r) = root_of(v) {
            last_use[r] = usize::MAX;
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
            let Placement { root, offset } = placement[b];
            let base = *offset_of[root].get_or_insert_with(|| alloc.alloc(buffer_len[root]));
            offset_of[b] = Some(base + offset);
        }
        if alloc.end > max_arena_floats {
            return Err(Error::Limit(msg!(
                "inputs {shapes:?} need more than {max_arena_floats} arena floats"
            )));
        }
        // Free buffers whose last reader is this step (never the one just written).
        let mut freed: Vec<usize> = Vec::new();
        for r in model.nodes[step.node]
            .inputs
            .iter()
            .flatten()
            .filter_map(root_of)
        {
            if last_use[r] == si && !freed.contains(&r) {
                if let Some(off) = offset_of[r] {
                    alloc.release(off, buffer_len[r]);
                }
                freed.push(r);
            }
        }
    }
    let slots: Vec<Option<Slot>> = (0..nv)
        .map(|v| {
            buffer_of[v].and_then(|b| {
                offset_of[b].map(|offset| Slot {
                    offset,
                    len: infos[v]
                        .as_ref()
                        .map_or(0, |i| slot_len(&i.shape, codes[v].is_some())),
                })
            })
        })
        .collect();
    let scratch_len = steps.iter().map(|s| s.scratch).max().unwrap_or(0);
    let qscratch_len = steps.iter().map(|s| s.qscratch).max().unwrap_or(0);
    if alloc.end.saturating_add(scratch_len) > max_arena_floats {
        return Err(Error::Limit(msg!(
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
        unstepped,
        codes,
        chain_int8,
    })
}

/// Floats a value of `shape` takes in the arena: one per element, or one per four codes.
fn slot_len(shape: &[usize], coded: bool) -> usize {
    let n: usize = shape.iter().product();
    if coded { n.div_ceil(4) } else { n }
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
        Op::QMatMul { .. } => (0, qmatmul::qmatmul_scratch_len(shape(0), shape(1), threads)),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::format::{Attr, ConstData, ConstDef, IoDef, ModelDef, NodeDef};
    use crate::runtime::{Session, Tensor};
    use alloc::string::String;

    fn node(op: &str, inputs: &[u32], output: u32, attrs: Vec<(String, Attr)>) -> NodeDef {
        NodeDef {
            op: op.into(),
            name: alloc::format!("{op}{output}"),
            inputs: inputs.iter().map(|&v| Some(v)).collect(),
            outputs: vec![output],
            attrs,
        }
    }

    fn axis(a: i64) -> Vec<(String, Attr)> {
        vec![("axis".into(), Attr::Int(a))]
    }

    /// `x [1, 2, 2, 3]`; `a = x * 2`, `b = x + 1`, `c = a * b`; outputs `Concat(a, b, c)` on
    /// the channel axis (placed in place), `Concat(x, a)` (a graph input: copied) and
    /// `Concat(b, b)` on axis 2 (a piece repeated and channels before the axis: copied).
    fn model() -> Model {
        let dims = |d: &[u64]| d.iter().map(|&n| Dim::Fixed(n)).collect();
        let scalar = |value, v| ConstDef {
            value,
            shape: vec![],
            data: ConstData::F32(vec![v]),
            quant: None,
        };
        let def = ModelDef {
            metadata: vec![],
            values: ["x", "two", "one", "a", "b", "c", "abc", "xa", "bb"]
                .map(String::from)
                .to_vec(),
            inputs: vec![IoDef {
                value: 0,
                dims: dims(&[1, 2, 2, 3]),
            }],
            outputs: [(6, [1, 6, 2, 3]), (7, [1, 4, 2, 3]), (8, [1, 2, 4, 3])]
                .map(|(value, d)| IoDef {
                    value,
                    dims: dims(&d),
                })
                .to_vec(),
            constants: vec![scalar(1, 2.0), scalar(2, 1.0)],
            nodes: vec![
                node("Mul", &[0, 1], 3, vec![]),
                node("Add", &[0, 2], 4, vec![]),
                node("Mul", &[3, 4], 5, vec![]),
                node("Concat", &[3, 4, 5], 6, axis(1)),
                node("Concat", &[0, 3], 7, axis(1)),
                node("Concat", &[4, 4], 8, axis(2)),
            ],
            split_points: vec![],
        };
        Model::from_def(def).unwrap()
    }

    /// A concatenation whose pieces are contiguous takes its inputs' buffers over (no step,
    /// the pieces laid out in order), the others still copy, and every result is right.
    #[test]
    fn contiguous_concatenations_are_written_in_place() {
        let model = model();
        let shape = vec![1, 2, 2, 3];
        let p = plan(
            &model,
            core::slice::from_ref(&shape),
            &Threads::single(),
            usize::MAX,
            true,
        )
        .unwrap();
        let concats: Vec<usize> = p
            .steps
            .iter()
            .filter(|s| model.nodes[s.node].op.name() == "Concat")
            .map(|s| model.nodes[s.node].outputs[0] as usize)
            .collect();
        assert_eq!(concats, [7, 8]);
        let slot = |v: usize| p.slots[v].unwrap();
        assert_eq!(slot(3).offset, slot(6).offset);
        assert_eq!(slot(4).offset, slot(6).offset + 12);
        assert_eq!(slot(5).offset, slot(6).offset + 24);

        let x: Vec<f32> = (0..12).map(|i| i as f32 - 4.0).collect();
        let out = Session::new(model)
            .run(&[&Tensor::new(shape, x.clone()).unwrap()])
            .unwrap();
        let a: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
        let b: Vec<f32> = x.iter().map(|v| v + 1.0).collect();
        let c: Vec<f32> = a.iter().zip(&b).map(|(a, b)| a * b).collect();
        assert_eq!(out[0].data(), [&a[..], &b, &c].concat());
        assert_eq!(out[1].data(), [&x[..], &a].concat());
        // Axis 2 of [1, 2, 2, 3]: per channel, b's two rows then b's two rows again.
        let bb: Vec<f32> = b.chunks(6).flat_map(|ch| [ch, ch].concat()).collect();
        assert_eq!(out[2].data(), bb);
    }

    /// An observed run reports every value once with its final contents, the in-place
    /// concatenation (no step of its own) included: calibration reads convolution inputs
    /// this way.
    #[test]
    fn observed_runs_report_values_no_step_computes() {
        let shape = vec![1, 2, 2, 3];
        let x: Vec<f32> = (0..12).map(|i| i as f32 - 4.0).collect();
        let mut session = Session::new(model());
        let mut seen: Vec<(u32, Vec<usize>, Vec<f32>)> = Vec::new();
        let out = session
            .run_observed(&[&Tensor::new(shape, x).unwrap()], &mut |v, s, d| {
                seen.push((v, s.to_vec(), d.to_vec()))
            })
            .unwrap();
        let mut ids: Vec<u32> = seen.iter().map(|(v, _, _)| *v).collect();
        ids.sort();
        assert_eq!(ids, [0, 3, 4, 5, 6, 7, 8]);
        let abc = seen.iter().find(|(v, _, _)| *v == 6).unwrap();
        assert_eq!(abc.1, [1, 6, 2, 3]);
        assert_eq!(abc.2, out[0].data());
    }
}

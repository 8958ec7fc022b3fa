//! Running a model: a [`Session`] caches plans by input shape and owns the arena they run in.

use super::model::{Model, Prepacked};
use super::op::Op;
use super::ops::{conv, elementwise, matmul, movement, pool, qconv, qmatmul, reduce};
use super::parallel::Threads;
use super::plan::{self, Plan, Slot};
use super::static_eval::{Aux, Data};
use super::{Error, Result, Tensor};
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Called with (value id, shape, data) for every value a run computes.
pub type Observer<'a> = dyn FnMut(u32, &[usize], &[f32]) + 'a;

/// Plans kept per session (recognisers see a handful of widths).
const PLAN_CACHE: usize = 16;

/// Default arena bound: 2^30 floats (4 GiB).
pub const DEFAULT_MAX_ARENA_FLOATS: usize = 1 << 30;

/// An execution context for one model: thread pool, plan cache and arena. Not shared between
/// threads; make one per worker (the [`Model`] itself is shared).
pub struct Session {
    model: Arc<Model>,
    threads: Threads,
    plans: Vec<Plan>,
    arena: Vec<f32>,
    qscratch: Vec<u8>,
    max_arena_floats: usize,
    chain_int8: bool,
    profile: Option<Vec<(alloc::string::String, f64)>>,
    profile_nodes: bool,
}

impl Session {
    /// A single-threaded session.
    pub fn new(model: impl Into<Arc<Model>>) -> Self {
        Self::with_threads(model, Threads::single())
    }

    /// A session that spreads work over `threads`.
    pub fn with_threads(model: impl Into<Arc<Model>>, threads: Threads) -> Self {
        Session {
            model: model.into(),
            threads,
            plans: Vec::new(),
            arena: Vec::new(),
            qscratch: Vec::new(),
            max_arena_floats: DEFAULT_MAX_ARENA_FLOATS,
            chain_int8: true,
            profile: None,
            profile_nodes: false,
        }
    }

    /// Bounds the arena (in floats); inputs that need more fail with [`Error::Limit`].
    pub fn set_max_arena_floats(&mut self, n: usize) {
        self.max_arena_floats = n;
    }

    /// Whether [`Session::run`] passes activations between consecutive int8 convolutions as u8
    /// codes (the default) or as fp32 tensors, as [`Session::run_observed`] always does. Both
    /// give the same results; the switch is there to compare them.
    pub fn set_int8_chaining(&mut self, chain: bool) {
        self.chain_int8 = chain;
    }

    /// Starts (or resets) per-op timing: every later run adds each step's wall time, keyed by
    /// op kind, to [`Session::profile`]. Needs the `std` feature for a clock.
    pub fn enable_profiling(&mut self) {
        self.profile = Some(Vec::new());
    }

    /// Like [`Session::enable_profiling`], keyed by node name (with its op kind) instead.
    pub fn enable_node_profiling(&mut self) {
        self.profile = Some(Vec::new());
        self.profile_nodes = true;
    }

    /// Accumulated milliseconds per op kind since [`Session::enable_profiling`].
    pub fn profile(&self) -> &[(alloc::string::String, f64)] {
        self.profile.as_deref().unwrap_or(&[])
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs the model on `inputs` (in the model's input order) and returns its outputs.
    pub fn run(&mut self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        // The whole graph runs on a pool thread: each operator's parallel pieces then start
        // on that thread at once, and the caller is not put to sleep and woken per operator
        // (which costs more than a small operator's work).
        let threads = self.threads.clone();
        let chain = self.chain_int8;
        threads.install(|| self.run_planned(inputs, chain, &mut |_, _, _| {}))
    }

    /// [`Session::run`], calling `observe(value, shape, data)` with every graph input and every
    /// value a step computes (calibration collects activation ranges this way). Every value is
    /// fp32 here: int8 layers are not chained.
    pub fn run_observed(
        &mut self,
        inputs: &[&Tensor],
        observe: &mut Observer,
    ) -> Result<Vec<Tensor>> {
        self.run_planned(inputs, false, observe)
    }

    fn run_planned(
        &mut self,
        inputs: &[&Tensor],
        chain_int8: bool,
        observe: &mut Observer,
    ) -> Result<Vec<Tensor>> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let pi = self.plan_index(&shapes, chain_int8)?;
        let plan = &self.plans[pi];
        let arena = aligned(&mut self.arena, plan.arena_len());
        let qscratch = aligned(&mut self.qscratch, plan.qscratch_len);
        let model = &*self.model;
        for (spec, t) in model.inputs().iter().zip(inputs) {
            if let Some(s) = plan.slots[spec.value as usize] {
                arena[s.offset..s.offset + s.len].copy_from_slice(t.data());
            }
            observe(spec.value, t.shape(), t.data());
        }
        execute(
            model,
            plan,
            &self.threads,
            arena,
            qscratch,
            self.profile.as_mut(),
            self.profile_nodes,
            observe,
        )?;
        model
            .outputs()
            .iter()
            .map(|o| fetch(model, plan, arena, o.value))
            .collect()
    }

    fn plan_index(&mut self, shapes: &[Vec<usize>], chain_int8: bool) -> Result<usize> {
        if let Some(i) = self
            .plans
            .iter()
            .position(|p| p.input_shapes == shapes && p.chain_int8 == chain_int8)
        {
            return Ok(i);
        }
        let p = plan::plan(
            &self.model,
            shapes,
            &self.threads,
            self.max_arena_floats,
            chain_int8,
        )?;
        if self.plans.len() == PLAN_CACHE {
            self.plans.remove(0);
        }
        self.plans.push(p);
        Ok(self.plans.len() - 1)
    }
}

/// The first `len` elements of `buf` from a 64-byte boundary on, growing `buf` as needed. The
/// plan places values at multiples of 64 bytes from the arena's start; with the start itself
/// on a cache line, whole-vector loads do not straddle two lines and the output ranges of
/// parallel tasks do not share one (a heap block alone is only 16-byte aligned).
fn aligned<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    let slack = 64 / core::mem::size_of::<T>();
    if buf.len() < len + slack {
        buf.resize(len + slack, T::default());
    }
    let start = buf.as_ptr().align_offset(64).min(slack);
    &mut buf[start..start + len]
}

/// Copies a value out of the arena (or the constants / plan-time values) into a tensor.
fn fetch(model: &Model, plan: &Plan, arena: &[f32], v: u32) -> Result<Tensor> {
    let info = plan.infos[v as usize]
        .as_ref()
        .ok_or_else(|| Error::Shape(msg!("value {v} was not computed")))?;
    let data = match (&info.data, plan.slots[v as usize]) {
        (Some(Data::F32(d)), _) => d.clone(),
        (Some(Data::I64(d)), _) => d.iter().map(|&x| x as f32).collect(),
        (None, Some(s)) => arena[s.offset..s.offset + s.len].to_vec(),
        (None, None) => {
            return Err(Error::Shape(msg!(
                "value '{}' has no storage",
                model.value_name(v)
            )));
        }
    };
    Tensor::new(info.shape.clone(), data)
}

/// Run-time view of a node input: its shape and elements.
struct In<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

/// A short name for an op kind, used as the profile key.
#[cfg(feature = "std")]
fn op_kind(op: &Op) -> alloc::string::String {
    match op {
        Op::Conv(p) if p.group > 1 => "Conv(grouped)".into(),
        Op::Unary(u) => alloc::format!("{u:?}"),
        Op::Binary(b) => alloc::format!("{b:?}"),
        other => other.name().into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn execute(
    model: &Model,
    plan: &Plan,
    threads: &Threads,
    arena: &mut [f32],
    qscratch: &mut [u8],
    mut profile: Option<&mut Vec<(alloc::string::String, f64)>>,
    profile_nodes: bool,
    observe: &mut Observer,
) -> Result<()> {
    #[cfg(not(feature = "std"))]
    let _ = (&mut profile, profile_nodes);
    let ks = model.kernels();
    let (values, scratch_all) = arena.split_at_mut(plan.values_len);
    // Values no step computes are reported once the steps that complete them have run.
    let mut unstepped = plan.unstepped.iter().peekable();
    let mut observe_unstepped = |done: usize, values: &[f32], observe: &mut Observer| {
        while let Some(&(_, v)) = unstepped.next_if(|(d, _)| *d <= done) {
            if let (Some(s), Some(info)) = (plan.slots[v as usize], &plan.infos[v as usize]) {
                observe(v, &info.shape, &values[s.offset..s.offset + s.len]);
            }
        }
    };
    observe_unstepped(0, values, observe);
    for (si, step) in plan.steps.iter().enumerate() {
        #[cfg(feature = "std")]
        let started = std::time::Instant::now();
        let node = &model.nodes[step.node];
        let out_v = node.outputs[0] as usize;
        let out_slot: Slot = plan.slots[out_v]
            .ok_or_else(|| Error::Shape(msg!("node '{}' has no output slot", node.name)))?;
        let out_shape: &[usize] = plan.infos[out_v].as_ref().map_or(&[][..], |i| &i.shape);
        let (before, rest) = values.split_at_mut(out_slot.offset);
        let (out, after) = rest.split_at_mut(out_slot.len);
        let (before, after) = (&*before, &*after);
        let out_end = out_slot.offset + out_slot.len;
        let input =
            |i: usize| -> Result<In> {
                let v =
                    node.inputs.get(i).copied().flatten().ok_or_else(|| {
                        Error::Shape(msg!("node '{}' input {i} is absent", node.name))
                    })? as usize;
                let info = plan.infos[v].as_ref().ok_or_else(|| {
                    Error::Shape(msg!("node '{}' input {i} not computed", node.name))
                })?;
                let data: &[f32] = match (&info.data, plan.slots[v]) {
                    (Some(Data::F32(d)), _) => d,
                    (Some(Data::I64(_)), _) => {
                        return Err(Error::Unsupported(msg!(
                            "node '{}' reads integer input {i} at run time",
                            node.name
                        )));
                    }
                    (None, Some(s)) if s.offset + s.len <= out_slot.offset => {
                        &before[s.offset..s.offset + s.len]
                    }
                    (None, Some(s)) if s.offset >= out_end => {
                        &after[s.offset - out_end..s.offset - out_end + s.len]
                    }
                    _ => {
                        return Err(Error::Shape(msg!(
                            "node '{}' input {i} overlaps its output",
                            node.name
                        )));
                    }
                };
                Ok(In {
                    shape: &info.shape,
                    data,
                })
            };
        let opt_input = |i: usize| -> Result<Option<In>> {
            match node.inputs.get(i).copied().flatten() {
                Some(_) => input(i).map(Some),
                None => Ok(None),
            }
        };
        // An int8 layer's prepared weights and the shape of the weights they were made from.
        let int8_weights = || -> Result<(&super::model::QWeights, &[usize])> {
            let wv = node.inputs[1].unwrap_or(0) as usize;
            let w_shape = plan.infos[wv].as_ref().map_or(&[][..], |i| &i.shape[..]);
            let qw = model.int8_weights[step.node]
                .as_ref()
                .ok_or_else(|| Error::Format(msg!("node '{}' has no int8 weights", node.name)))?;
            Ok((qw, w_shape))
        };
        let scratch = &mut scratch_all[..step.scratch];
        match (&node.op, &step.aux) {
            (Op::Conv(p), _) if p.act_quant.is_some() => {
                let (x, b) = (input(0)?, opt_input(2)?);
                let (qw, w_shape) = int8_weights()?;
                // Coded values hold their codes four to a float (`Plan::codes`).
                let xv = node.inputs[0].unwrap_or(0) as usize;
                let x_data = match plan.codes[xv] {
                    Some(_) => qconv::QInput::Codes(
                        &bytemuck::cast_slice(x.data)[..x.shape.iter().product::<usize>()],
                    ),
                    None => qconv::QInput::F32(x.data),
                };
                let out_data = match plan.codes[out_v] {
                    Some(q) => qconv::QOutput::Codes(
                        &mut bytemuck::cast_slice_mut(&mut *out)
                            [..out_shape.iter().product::<usize>()],
                        q,
                    ),
                    None => qconv::QOutput::F32(&mut *out),
                };
                qconv::qconv(
                    ks,
                    threads,
                    p,
                    qw,
                    x_data,
                    x.shape,
                    w_shape,
                    b.map(|b| b.data),
                    out_data,
                    out_shape,
                    &mut qscratch[..step.qscratch],
                );
            }
            (Op::Conv(p), _) => {
                let (x, w, b) = (input(0)?, input(1)?, opt_input(2)?);
                let packed = match &model.prepacked[step.node] {
                    Some(Prepacked::Conv(pw)) => Some(&pw[..]),
                    _ => None,
                };
                conv::conv(
                    ks,
                    threads,
                    p,
                    x.data,
                    x.shape,
                    w.data,
                    w.shape,
                    packed,
                    b.map(|b| b.data),
                    out,
                    out_shape,
                    scratch,
                );
            }
            (Op::ConvTranspose(p), _) => {
                let (x, w, b) = (input(0)?, input(1)?, opt_input(2)?);
                let packed = match &model.prepacked[step.node] {
                    Some(Prepacked::ConvTranspose(pw)) => Some(&pw[..]),
                    _ => None,
                };
                conv::conv_transpose(
                    ks,
                    threads,
                    p,
                    x.data,
                    x.shape,
                    w.data,
                    w.shape,
                    packed,
                    b.map(|b| b.data),
                    out,
                    out_shape,
                    scratch,
                );
            }
            (Op::MaxPool(p), _) | (Op::AveragePool(p), _) => {
                let x = input(0)?;
                pool::pool(
                    threads,
                    p,
                    matches!(node.op, Op::MaxPool(_)),
                    x.data,
                    x.shape,
                    out,
                    out_shape,
                );
            }
            (Op::GlobalAveragePool, _) => {
                let x = input(0)?;
                pool::global_average_pool(threads, x.data, x.shape, out);
            }
            (Op::Resize { scale_h, scale_w }, _) => {
                let x = input(0)?;
                pool::resize_nearest(threads, x.data, x.shape, *scale_h, *scale_w, out);
            }
            (Op::Unary(u), _) => elementwise::unary_par(threads, *u, input(0)?.data, out),
            (Op::Binary(b), _) => {
                let (x, y) = (input(0)?, input(1)?);
                elementwise::binary_par(
                    threads, *b, x.data, x.shape, y.data, y.shape, out, out_shape,
                );
            }
            (
                Op::QMatMul {
                    epilogue,
                    act_quant,
                },
                _,
            ) => {
                let (x, b) = (input(0)?, opt_input(2)?);
                let (qw, w_shape) = int8_weights()?;
                qmatmul::qmatmul(
                    ks,
                    threads,
                    *act_quant,
                    qw,
                    x.data,
                    x.shape,
                    w_shape,
                    b.map(|b| b.data),
                    epilogue,
                    out,
                    &mut qscratch[..step.qscratch],
                );
            }
            (Op::MatMul(epi), _) => {
                let (a, b, bias) = (input(0)?, input(1)?, opt_input(2)?);
                let packed = match &model.prepacked[step.node] {
                    Some(Prepacked::MatMulB(pb)) => Some(&pb[..]),
                    _ => None,
                };
                matmul::matmul(
                    ks,
                    threads,
                    a.data,
                    a.shape,
                    b.data,
                    b.shape,
                    packed,
                    bias.map(|b| b.data),
                    epi,
                    out,
                    out_shape,
                    scratch,
                );
            }
            (Op::Softmax { legacy_2d, .. }, Aux::Axis(a)) => {
                let x = input(0)?;
                if *legacy_2d {
                    let outer: usize = x.shape[..*a].iter().product();
                    reduce::softmax(
                        ks,
                        threads,
                        x.data,
                        &[outer, x.data.len() / outer.max(1)],
                        1,
                        out,
                    );
                } else {
                    reduce::softmax(ks, threads, x.data, x.shape, *a, out);
                }
            }
            (Op::ReduceMean { .. }, Aux::Axes(axes)) => {
                let x = input(0)?;
                reduce::reduce_mean(x.data, x.shape, axes, out);
            }
            (Op::LayerNorm { epsilon }, _) => {
                let (x, g, b) = (input(0)?, input(1)?, input(2)?);
                let d = *x.shape.last().unwrap_or(&1);
                reduce::layer_norm(x.data, d, g.data, b.data, *epsilon, out);
            }
            (Op::Transpose { .. }, Aux::Axes(perm)) => {
                let x = input(0)?;
                movement::transpose_into(x.data, x.shape, perm, out);
            }
            (Op::Concat { .. }, Aux::Axis(a)) => {
                let parts: Vec<In> = (0..node.inputs.len()).map(&input).collect::<Result<_>>()?;
                let datas: Vec<&[f32]> = parts.iter().map(|p| p.data).collect();
                let shapes: Vec<&[usize]> = parts.iter().map(|p| p.shape).collect();
                movement::concat_into(&datas, &shapes, *a, out);
            }
            (Op::Gather { .. }, Aux::Gather(axis, idx)) => {
                let x = input(0)?;
                movement::gather_into(x.data, x.shape, *axis, idx, out);
            }
            (Op::Slice, Aux::Slice(dims)) => {
                let x = input(0)?;
                movement::slice_into(x.data, x.shape, dims, out);
            }
            (Op::Cast(_), _) => out.copy_from_slice(input(0)?.data),
            (op, _) => {
                return Err(Error::Unsupported(msg!(
                    "node '{}': {} cannot run on run-time data",
                    node.name,
                    op.name()
                )));
            }
        }
        // Codes are not fp32 values; only runs that chain nothing are observed.
        if plan.codes[out_v].is_none() {
            observe(out_v as u32, out_shape, out);
        }
        observe_unstepped(si + 1, values, observe);
        // Profiles need a clock, so they are kept with the `std` feature only.
        #[cfg(feature = "std")]
        if let Some(p) = profile.as_deref_mut() {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let kind = if profile_nodes {
                alloc::format!("{} [{}]", node.name, op_kind(&node.op))
            } else {
                op_kind(&node.op)
            };
            match p.iter_mut().find(|(k, _)| *k == kind) {
                Some(e) => e.1 += ms,
                None => p.push((kind, ms)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::aligned;
    use alloc::vec::Vec;

    /// The arena and scratch slices start on a cache line and have the asked length, however
    /// the buffer was sized and aligned before.
    #[test]
    fn buffers_start_on_a_cache_line() {
        for len in [0usize, 1, 15, 16, 1000, 1 << 16] {
            let mut floats: Vec<f32> = Vec::with_capacity(3);
            let mut bytes: Vec<u8> = Vec::new();
            for _ in 0..3 {
                let f = aligned(&mut floats, len);
                assert_eq!((f.len(), f.as_ptr() as usize % 64), (len, 0));
                let b = aligned(&mut bytes, len + 3);
                assert_eq!((b.len(), b.as_ptr() as usize % 64), (len + 3, 0));
            }
        }
    }
}

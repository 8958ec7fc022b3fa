//! Graph passes: constant folding, identity removal, batch-norm and affine folding, activation
//! and epilogue fusion, pattern fusion (hard-swish, swish, layer norm), dead-code removal and
//! denormal flushing.

use crate::graph::{Graph, set_attr};
use ocr_core::runtime::format::{Attr, NodeDef};
use ocr_core::runtime::op::Op;
use ocr_core::runtime::static_eval::{self, Data, Info};

/// What the passes changed, for the converter's report.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Nodes evaluated at conversion time.
    pub folded: usize,
    /// Identity-like nodes removed.
    pub identities: usize,
    /// Batch norms folded into convolutions.
    pub batch_norms: usize,
    /// Scalar affines folded into convolution weights.
    pub affines: usize,
    /// Activations fused into a producer.
    pub activations: usize,
    /// Post-activation affines fused into an epilogue.
    pub post_affines: usize,
    /// Biases fused into matrix products.
    pub biases: usize,
    /// Hard-swish / swish / layer-norm patterns fused.
    pub patterns: usize,
    /// Dead nodes removed.
    pub dead: usize,
    /// Denormal weights flushed to zero.
    pub denormals: usize,
}

/// Runs every pass in order.
pub fn optimise(g: &mut Graph) -> Result<Report, String> {
    let mut r = Report::default();
    fold_constants(g, &mut r)?;
    remove_identities(g, &mut r);
    fold_batch_norms(g, &mut r)?;
    fuse_patterns(g, &mut r);
    fuse_gated_residuals(g, &mut r);
    remove_identities(g, &mut r);
    fold_conv_affines(g, &mut r);
    fuse_matmul_bias(g, &mut r);
    fuse_activations(g, &mut r);
    fuse_post_affines(g, &mut r);
    remove_dead(g, &mut r);
    flush_denormals(g, &mut r);
    Ok(r)
}

fn single_output(n: &NodeDef) -> u32 {
    n.outputs[0]
}

/// Evaluates nodes whose inputs are all constants.
fn fold_constants(g: &mut Graph, r: &mut Report) -> Result<(), String> {
    let mut dead = vec![false; g.nodes.len()];
    for (i, is_dead) in dead.iter_mut().enumerate() {
        let n = &g.nodes[i];
        if n.outputs.len() != 1 || n.inputs.iter().flatten().any(|v| !g.consts.contains_key(v)) {
            continue;
        }
        let Ok(op) = Op::parse(n) else { continue };
        let ins: Vec<Option<&Info>> = n
            .inputs
            .iter()
            .map(|v| v.and_then(|v| g.consts.get(&v)))
            .collect();
        let Ok((info, _)) = static_eval::infer(&op, &n.name, &ins) else {
            continue;
        };
        if info.data.is_some() && !g.is_pinned(single_output(n)) {
            let out = single_output(n);
            g.consts.insert(out, info);
            *is_dead = true;
            r.folded += 1;
        }
    }
    g.remove_nodes(&dead);
    Ok(())
}

/// Removes Identity, `x * 1`, `x + 0`, `x / 1` and `x - 0`.
fn remove_identities(g: &mut Graph, r: &mut Report) {
    loop {
        let mut found = None;
        for (i, n) in g.nodes.iter().enumerate() {
            let out = single_output(n);
            if g.is_pinned(out) {
                continue;
            }
            let x = match n.op.as_str() {
                "Identity" => n.inputs[0],
                "Mul" | "Add" | "Sub" | "Div" => {
                    let neutral = if n.op == "Mul" || n.op == "Div" {
                        1.0
                    } else {
                        0.0
                    };
                    let (a, b) = (n.inputs[0], n.inputs[1]);
                    let is_neutral = |v: Option<u32>| v.and_then(|v| g.scalar(v)) == Some(neutral);
                    if is_neutral(b) {
                        a
                    } else if is_neutral(a) && (n.op == "Mul" || n.op == "Add") {
                        b
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(x) = x
                && !g.consts.contains_key(&x)
            {
                found = Some((i, out, x));
                break;
            }
        }
        let Some((i, out, x)) = found else { return };
        g.nodes.remove(i);
        g.replace_uses(out, x);
        r.identities += 1;
    }
}

/// Folds `BatchNormalization` into the preceding convolution; a standalone one becomes a
/// per-channel `Mul` + `Add`.
fn fold_batch_norms(g: &mut Graph, r: &mut Report) -> Result<(), String> {
    let mut i = 0;
    while i < g.nodes.len() {
        if g.nodes[i].op != "BatchNormalization" {
            i += 1;
            continue;
        }
        let bn = g.nodes[i].clone();
        let eps = match bn.attr("epsilon") {
            Some(Attr::Float(e)) => *e,
            _ => 1e-5,
        };
        let get = |k: usize| {
            bn.inputs
                .get(k)
                .copied()
                .flatten()
                .and_then(|v| g.const_f32(v))
                .map(|(_, d)| d.to_vec())
        };
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4))
        else {
            return Err(format!(
                "node '{}': BatchNormalization parameters must be constant",
                bn.name
            ));
        };
        let c = gamma.len();
        let scale: Vec<f32> = (0..c).map(|j| gamma[j] / (var[j] + eps).sqrt()).collect();
        let shift: Vec<f32> = (0..c).map(|j| beta[j] - mean[j] * scale[j]).collect();
        let x = bn.inputs[0].ok_or("BatchNormalization without input")?;
        let producers = g.producers();
        let consumers = g.consumers();
        let conv = producers[x as usize].filter(|&p| {
            is_scalable_conv(&g.nodes[p]) && consumers[x as usize].len() == 1 && !g.is_pinned(x)
        });
        if let Some(p) = conv
            && fold_scale_into_conv(g, p, &scale, &shift)
        {
            absorb(g, p, i);
            r.batch_norms += 1;
            continue;
        }
        // Standalone: y = x * scale + shift, per channel of NCHW.
        let sv = g.add_const_f32(&format!("{}.scale", bn.name), vec![c, 1, 1], scale);
        let hv = g.add_const_f32(&format!("{}.shift", bn.name), vec![c, 1, 1], shift);
        let mid = g.fresh(&format!("{}.scaled", bn.name));
        g.nodes[i] = NodeDef {
            op: "Mul".into(),
            name: format!("{}.mul", bn.name),
            inputs: vec![Some(x), Some(sv)],
            outputs: vec![mid],
            attrs: vec![],
        };
        g.nodes.insert(
            i + 1,
            NodeDef {
                op: "Add".into(),
                name: format!("{}.add", bn.name),
                inputs: vec![Some(mid), Some(hv)],
                outputs: bn.outputs.clone(),
                attrs: vec![],
            },
        );
        i += 2;
    }
    Ok(())
}

/// Whether node `n` is a convolution whose output channels [`fold_scale_into_conv`] can scale:
/// any `Conv`, or a group-1 `ConvTranspose`, without a fused activation.
fn is_scalable_conv(n: &NodeDef) -> bool {
    let plain_transpose =
        n.op == "ConvTranspose" && matches!(n.attr("group"), None | Some(Attr::Int(1)));
    (n.op == "Conv" || plain_transpose) && n.attr("activation").is_none()
}

/// Output channel count of a convolution's constant weight shape, and the output channel of
/// the weight at flat index `i`: `Conv` weights are `[Co, Ci/g, kh, kw]`, group-1
/// `ConvTranspose` weights `[Ci, Co, kh, kw]`.
fn weight_channels(op: &str, wshape: &[usize]) -> Option<(usize, impl Fn(usize) -> usize + use<>)> {
    let per_tap: usize = wshape.iter().skip(2).product();
    let (m, transpose) = match op {
        "ConvTranspose" => (*wshape.get(1)?, true),
        _ => (*wshape.first()?, false),
    };
    let inner = if transpose {
        per_tap
    } else {
        wshape.iter().skip(1).product()
    };
    (m > 0 && inner > 0).then_some((m, move |i: usize| {
        if transpose {
            (i / inner) % m
        } else {
            i / inner
        }
    }))
}

/// Scales a convolution's output channels: `w[o] *= scale[o]`, `b[o] = b[o] * scale[o] + shift[o]`.
/// Returns false when the weights are not constant or the channel counts differ.
fn fold_scale_into_conv(g: &mut Graph, p: usize, scale: &[f32], shift: &[f32]) -> bool {
    let node = &g.nodes[p];
    let Some(wv) = node.inputs[1] else {
        return false;
    };
    let Some((wshape, w)) = g.const_f32(wv).map(|(s, d)| (s.to_vec(), d.to_vec())) else {
        return false;
    };
    let Some((m, channel_of)) = weight_channels(&node.op, &wshape) else {
        return false;
    };
    let per = |v: &[f32], j: usize| if v.len() == 1 { v[0] } else { v[j] };
    if (scale.len() != m && scale.len() != 1) || (shift.len() != m && shift.len() != 1) {
        return false;
    }
    let bias: Vec<f32> = match node.inputs.get(2).copied().flatten() {
        Some(bv) => match g.const_f32(bv) {
            Some((_, b)) if b.len() == m => b.to_vec(),
            _ => return false,
        },
        None => vec![0.0; m],
    };
    let w2: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(i, &x)| x * per(scale, channel_of(i)))
        .collect();
    let b2: Vec<f32> = (0..m)
        .map(|j| bias[j] * per(scale, j) + per(shift, j))
        .collect();
    let name = g.nodes[p].name.clone();
    let nw = g.add_const_f32(&format!("{name}.w"), wshape, w2);
    let nb = g.add_const_f32(&format!("{name}.b"), vec![m], b2);
    let node = &mut g.nodes[p];
    node.inputs[1] = Some(nw);
    if node.inputs.len() < 3 {
        node.inputs.push(Some(nb));
    } else {
        node.inputs[2] = Some(nb);
    }
    true
}

/// Removes node `c`, whose work node `p` has taken over: `p` now writes `c`'s output value
/// (keeping its name, which may be a graph output), and `p`'s old output, read by `c` alone,
/// disappears.
fn absorb(g: &mut Graph, p: usize, c: usize) {
    debug_assert!(p < c);
    g.nodes[p].outputs[0] = single_output(&g.nodes[c]);
    g.nodes.remove(c);
}

/// The single node reading `v`, if exactly one does and `v` is not pinned.
fn sole_consumer(g: &Graph, consumers: &[Vec<usize>], v: u32) -> Option<usize> {
    (consumers[v as usize].len() == 1 && !g.is_pinned(v)).then(|| consumers[v as usize][0])
}

/// The other input of a binary node, given one of them.
fn other_input(n: &NodeDef, v: u32) -> Option<u32> {
    if n.inputs.len() != 2 {
        return None;
    }
    match (n.inputs[0], n.inputs[1]) {
        (Some(a), Some(b)) if a == v => Some(b),
        (Some(a), Some(b)) if b == v => Some(a),
        _ => None,
    }
}

/// Folds `Conv -> Mul(const) -> Add(const)` (scalar or per-channel) into the weights; likewise
/// after a `ConvTranspose` (PP-OCR's detection head: bias `Add`, then a batch norm).
fn fold_conv_affines(g: &mut Graph, r: &mut Report) {
    let mut changed = true;
    while changed {
        changed = false;
        let consumers = g.consumers();
        for p in 0..g.nodes.len() {
            if !is_scalable_conv(&g.nodes[p]) {
                continue;
            }
            let out = single_output(&g.nodes[p]);
            let Some(c) = sole_consumer(g, &consumers, out) else {
                continue;
            };
            let cn = &g.nodes[c];
            let m = g.nodes[p].inputs[1]
                .and_then(|w| g.const_f32(w))
                .and_then(|(s, _)| weight_channels(&g.nodes[p].op, s))
                .map_or(0, |(m, _)| m);
            let Some(other) = other_input(cn, out) else {
                continue;
            };
            let Some((oshape, odata)) = g.const_f32(other).map(|(s, d)| (s.to_vec(), d.to_vec()))
            else {
                continue;
            };
            // Scalar, or one value per output channel shaped [C,1,1] / [1,C,1,1].
            let per_channel = odata.len() == m
                && oshape.iter().rev().take(2).all(|&d| d == 1)
                && oshape.len() >= 3;
            if odata.len() != 1 && !per_channel {
                continue;
            }
            let (scale, shift) = match cn.op.as_str() {
                "Mul" => (odata, vec![0.0]),
                "Add" => (vec![1.0], odata),
                "Sub" if cn.inputs[0] == Some(out) => {
                    (vec![1.0], odata.iter().map(|x| -x).collect())
                }
                "Div" if cn.inputs[0] == Some(out) => {
                    (odata.iter().map(|x| 1.0 / x).collect(), vec![0.0])
                }
                _ => continue,
            };
            if fold_scale_into_conv(g, p, &scale, &shift) {
                absorb(g, p, c);
                r.affines += 1;
                changed = true;
                break;
            }
        }
    }
}

/// Fuses `MatMul -> Add(const [N])` into the matrix product's bias.
fn fuse_matmul_bias(g: &mut Graph, r: &mut Report) {
    loop {
        let consumers = g.consumers();
        let mut hit = None;
        for (p, n) in g.nodes.iter().enumerate() {
            if n.op != "MatMul" || n.inputs.len() > 2 || n.attr("activation").is_some() {
                continue;
            }
            let out = single_output(n);
            let Some(c) = sole_consumer(g, &consumers, out) else {
                continue;
            };
            let cn = &g.nodes[c];
            if cn.op != "Add" {
                continue;
            }
            let Some(other) = other_input(cn, out) else {
                continue;
            };
            let ncols = n.inputs[1]
                .and_then(|b| g.const_f32(b))
                .map(|(s, _)| *s.last().unwrap_or(&0));
            if let Some((bs, _)) = g.const_f32(other)
                && bs.iter().rev().skip(1).all(|&d| d == 1)
                && Some(*bs.last().unwrap_or(&0)) == ncols
            {
                hit = Some((p, c, other));
                break;
            }
        }
        let Some((p, c, bias)) = hit else { return };
        g.nodes[p].inputs.push(Some(bias));
        absorb(g, p, c);
        r.biases += 1;
    }
}

/// Activation name and attributes of a standalone activation node.
fn activation_of(n: &NodeDef) -> Option<Vec<(String, Attr)>> {
    let mut attrs = vec![("activation".to_string(), Attr::Str(n.op.clone()))];
    match n.op.as_str() {
        "Relu" | "Sigmoid" | "HardSwish" | "Swish" => {}
        "HardSigmoid" | "Clip" => {
            for k in ["alpha", "beta", "min", "max"] {
                if let Some(v) = n.attr(k) {
                    attrs.push((k.to_string(), v.clone()));
                }
            }
        }
        _ => return None,
    }
    Some(attrs)
}

/// Fuses a standalone activation into the Conv / ConvTranspose / MatMul that feeds it.
fn fuse_activations(g: &mut Graph, r: &mut Report) {
    loop {
        let consumers = g.consumers();
        let mut hit = None;
        for (p, n) in g.nodes.iter().enumerate() {
            if !matches!(n.op.as_str(), "Conv" | "ConvTranspose" | "MatMul")
                || n.attr("activation").is_some()
            {
                continue;
            }
            let out = single_output(n);
            let Some(c) = sole_consumer(g, &consumers, out) else {
                continue;
            };
            if let Some(attrs) = activation_of(&g.nodes[c]) {
                hit = Some((p, c, attrs));
                break;
            }
        }
        let Some((p, c, attrs)) = hit else { return };
        for (k, v) in attrs {
            set_attr(&mut g.nodes[p], &k, v);
        }
        absorb(g, p, c);
        r.activations += 1;
    }
}

/// Fuses a scalar `Mul` and/or `Add` after an activated Conv/MatMul into its epilogue.
fn fuse_post_affines(g: &mut Graph, r: &mut Report) {
    loop {
        let consumers = g.consumers();
        let mut hit = None;
        for (p, n) in g.nodes.iter().enumerate() {
            if !matches!(n.op.as_str(), "Conv" | "ConvTranspose" | "MatMul")
                || n.attr("activation").is_none()
            {
                continue;
            }
            let out = single_output(n);
            let Some(c) = sole_consumer(g, &consumers, out) else {
                continue;
            };
            let cn = &g.nodes[c];
            let Some(s) = other_input(cn, out).and_then(|o| g.scalar(o)) else {
                continue;
            };
            let scale = match n.attr("post_scale") {
                Some(Attr::Float(f)) => *f,
                _ => 1.0,
            };
            let bias = match n.attr("post_bias") {
                Some(Attr::Float(f)) => *f,
                _ => 0.0,
            };
            let new = match cn.op.as_str() {
                "Mul" => (scale * s, bias * s),
                "Add" => (scale, bias + s),
                "Sub" if cn.inputs[0] == Some(out) => (scale, bias - s),
                _ => continue,
            };
            hit = Some((p, c, new));
            break;
        }
        let Some((p, c, (scale, bias))) = hit else {
            return;
        };
        set_attr(&mut g.nodes[p], "post_scale", Attr::Float(scale));
        set_attr(&mut g.nodes[p], "post_bias", Attr::Float(bias));
        absorb(g, p, c);
        r.post_affines += 1;
    }
}

/// Fuses the hard-swish (`x * clip(x + 3, 0, 6) / 6`), swish (`x * sigmoid(x)`) and layer-norm
/// patterns the exporters write out op by op.
fn fuse_patterns(g: &mut Graph, r: &mut Report) {
    while let Some((dead, new_node, at)) = find_pattern(g) {
        let mut flags = vec![false; g.nodes.len()];
        for d in &dead {
            flags[*d] = true;
        }
        g.nodes[at] = new_node;
        flags[at] = false;
        g.remove_nodes(&flags);
        r.patterns += 1;
    }
}

/// Rewrites the gated residual `y = x + x * s` (PP-OCR's RSE blocks, `s` a per-channel
/// attention) as `y = x * (1 + s)`: one pass over the large `x` instead of two, and the
/// `1 + s` over the small `s`. Exact up to one rounding.
fn fuse_gated_residuals(g: &mut Graph, r: &mut Report) {
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let hit = g.nodes.iter().enumerate().find_map(|(i, n)| {
            if n.op != "Add" || n.inputs.len() != 2 {
                return None;
            }
            [(0, 1), (1, 0)].into_iter().find_map(|(xi, mi)| {
                let (x, mv) = (n.inputs[xi]?, n.inputs[mi]?);
                let m = producers[mv as usize]?;
                let s = other_input(&g.nodes[m], x)?;
                (g.nodes[m].op == "Mul" && s != x && sole_consumer(g, &consumers, mv) == Some(i))
                    .then_some((i, m, x, s, mv))
            })
        });
        let Some((i, m, x, s, gate)) = hit else {
            return;
        };
        let name = g.nodes[m].name.clone();
        let one = g.add_const_f32(&format!("{name}.one"), vec![], vec![1.0]);
        // The Mul's output value becomes the gate `1 + s`; it had no reader but the Add.
        g.nodes[m] = NodeDef {
            op: "Add".into(),
            name: format!("{name}.gate"),
            inputs: vec![Some(s), Some(one)],
            outputs: vec![gate],
            attrs: vec![],
        };
        let y = &mut g.nodes[i];
        y.op = "Mul".into();
        y.inputs = vec![Some(x), Some(gate)];
        r.patterns += 1;
    }
}

/// Finds one fusable pattern: the nodes to delete, the replacement node and the index it takes.
fn find_pattern(g: &Graph) -> Option<(Vec<usize>, NodeDef, usize)> {
    let consumers = g.consumers();
    let producers = g.producers();
    let cx = Ctx {
        g,
        consumers: &consumers,
        producers: &producers,
    };
    (0..g.nodes.len()).find_map(|i| {
        match_hard_swish(&cx, i)
            .or_else(|| match_swish(&cx, i))
            .or_else(|| match_layer_norm(&cx, i))
            .map(|(dead, node)| (dead, node, i))
    })
}

/// What the pattern matchers look at.
struct Ctx<'a> {
    g: &'a Graph,
    consumers: &'a [Vec<usize>],
    producers: &'a [Option<usize>],
}

impl Ctx<'_> {
    fn prod(&self, v: Option<u32>) -> Option<usize> {
        v.and_then(|v| self.producers[v as usize])
    }
    fn only(&self, v: u32) -> Option<usize> {
        sole_consumer(self.g, self.consumers, v)
    }
    fn input(&self, node: usize, i: usize) -> Option<u32> {
        self.g.nodes[node].inputs.get(i).copied().flatten()
    }
    fn scalar_input(&self, node: usize, i: usize) -> Option<f32> {
        self.input(node, i).and_then(|v| self.g.scalar(v))
    }
}

/// Hard-swish: `a = Add(x, 3); c = Clip(a, 0, 6); m = Mul(x, c); y = Div(m, 6)`.
fn match_hard_swish(cx: &Ctx, i: usize) -> Option<(Vec<usize>, NodeDef)> {
    let g = cx.g;
    let n = &g.nodes[i];
    if n.op != "Div" || cx.scalar_input(i, 1) != Some(6.0) {
        return None;
    }
    let m = cx.prod(cx.input(i, 0))?;
    if g.nodes[m].op != "Mul" || cx.only(single_output(&g.nodes[m])) != Some(i) {
        return None;
    }
    for (xi, ci) in [(0, 1), (1, 0)] {
        let (Some(x), Some(cv)) = (cx.input(m, xi), cx.input(m, ci)) else {
            continue;
        };
        let Some(c) = cx.prod(Some(cv)) else { continue };
        let cn = &g.nodes[c];
        let bounds = (cn.attr("min"), cn.attr("max"));
        if cn.op != "Clip"
            || bounds != (Some(&Attr::Float(0.0)), Some(&Attr::Float(6.0)))
            || cx.only(cv) != Some(m)
        {
            continue;
        }
        let Some(a) = cx.prod(cx.input(c, 0)) else {
            continue;
        };
        let an = &g.nodes[a];
        if an.op == "Add"
            && other_input(an, x).and_then(|t| g.scalar(t)) == Some(3.0)
            && cx.only(single_output(an)) == Some(c)
        {
            let node = NodeDef {
                op: "HardSwish".into(),
                name: n.name.clone(),
                inputs: vec![Some(x)],
                outputs: n.outputs.clone(),
                attrs: vec![],
            };
            return Some((vec![a, c, m], node));
        }
    }
    None
}

/// Swish: `s = Sigmoid(x); y = Mul(x, s)`.
fn match_swish(cx: &Ctx, i: usize) -> Option<(Vec<usize>, NodeDef)> {
    let n = &cx.g.nodes[i];
    if n.op != "Mul" {
        return None;
    }
    for (xi, si) in [(0, 1), (1, 0)] {
        let (Some(x), Some(sv)) = (cx.input(i, xi), cx.input(i, si)) else {
            continue;
        };
        let Some(s) = cx.prod(Some(sv)) else { continue };
        let sn = &cx.g.nodes[s];
        if sn.op == "Sigmoid" && sn.inputs[0] == Some(x) && cx.only(sv) == Some(i) {
            let node = NodeDef {
                op: "Swish".into(),
                name: n.name.clone(),
                inputs: vec![Some(x)],
                outputs: n.outputs.clone(),
                attrs: vec![],
            };
            return Some((vec![s], node));
        }
    }
    None
}

/// Layer norm over the last axis: `m = ReduceMean(x); d = Sub(x, m); p = Pow(d, 2);
/// v = ReduceMean(p); e = Add(v, eps); s = Sqrt(e); q = Div(d, s); k = Mul(q, gamma);
/// y = Add(k, beta)`.
fn match_layer_norm(cx: &Ctx, i: usize) -> Option<(Vec<usize>, NodeDef)> {
    let g = cx.g;
    let op = |j: usize| g.nodes[j].op.as_str();
    let is_const = |v: u32| g.const_f32(v).is_some();
    if op(i) != "Add" {
        return None;
    }
    let beta = cx.input(i, 1).filter(|&b| is_const(b))?;
    let k = cx.prod(cx.input(i, 0)).filter(|&k| op(k) == "Mul")?;
    let gamma = cx.input(k, 1).filter(|&v| is_const(v))?;
    let q = cx.prod(cx.input(k, 0)).filter(|&q| op(q) == "Div")?;
    let d = cx.prod(cx.input(q, 0)).filter(|&d| op(d) == "Sub")?;
    let s = cx.prod(cx.input(q, 1)).filter(|&s| op(s) == "Sqrt")?;
    let e = cx.prod(cx.input(s, 0)).filter(|&e| op(e) == "Add")?;
    let eps = cx.scalar_input(e, 1)?;
    let last_axis =
        |j: usize| op(j) == "ReduceMean" && g.nodes[j].attr("axes") == Some(&Attr::Ints(vec![-1]));
    let v = cx.prod(cx.input(e, 0)).filter(|&v| last_axis(v))?;
    let p = cx
        .prod(cx.input(v, 0))
        .filter(|&p| op(p) == "Pow" && cx.scalar_input(p, 1) == Some(2.0))?;
    let m = cx.prod(cx.input(d, 1)).filter(|&m| last_axis(m))?;
    let x = cx.input(d, 0)?;
    if cx.input(p, 0) != Some(single_output(&g.nodes[d])) || cx.input(m, 0) != Some(x) {
        return None;
    }
    // Every intermediate must be private to the pattern.
    let inner = [m, d, p, v, e, s, q, k];
    let private = inner.iter().all(|&j| {
        let o = single_output(&g.nodes[j]);
        !g.is_pinned(o)
            && cx.consumers[o as usize]
                .iter()
                .all(|c| inner.contains(c) || *c == i)
    });
    if !private {
        return None;
    }
    let node = NodeDef {
        op: "LayerNorm".into(),
        name: g.nodes[i].name.clone(),
        inputs: vec![Some(x), Some(gamma), Some(beta)],
        outputs: g.nodes[i].outputs.clone(),
        attrs: vec![("epsilon".into(), Attr::Float(eps))],
    };
    Some((inner.to_vec(), node))
}

/// Removes nodes whose outputs nobody reads.
fn remove_dead(g: &mut Graph, r: &mut Report) {
    loop {
        let consumers = g.consumers();
        let dead: Vec<bool> = g
            .nodes
            .iter()
            .map(|n| {
                n.outputs
                    .iter()
                    .all(|&o| consumers[o as usize].is_empty() && !g.is_pinned(o))
            })
            .collect();
        let count = dead.iter().filter(|&&d| d).count();
        if count == 0 {
            return;
        }
        r.dead += count;
        g.remove_nodes(&dead);
    }
}

/// Flushes denormal fp32 constants to zero (denormal arithmetic is slow on many CPUs).
fn flush_denormals(g: &mut Graph, r: &mut Report) {
    for info in g.consts.values_mut() {
        if let Some(Data::F32(d)) = &mut info.data {
            for x in d.iter_mut() {
                if x.is_subnormal() {
                    *x = 0.0;
                    r.denormals += 1;
                }
            }
        }
    }
}

//! Structured channel pruning: whole output channels of convolutions removed from the fp32
//! graph before quantisation, so the pruned model is smaller *and* computes less.
//!
//! A channel can go when nothing but convolutions reads it: a convolution (the producer)
//! whose output feeds only ordinary convolutions (the readers, which lose one input column)
//! and depthwise convolutions (which lose that channel too, and whose outputs obey the same
//! rule); pooling and activation nodes pass channels through unchanged and obey it too.
//! Outputs read by anything else (squeeze-excitation pooling and products, residual
//! additions, concatenations, resizes, graph outputs, split points) tie their channels to
//! other tensors and are left whole.
//!
//! Per group, channels are ranked by the output energy they carry into the readers beyond
//! their mean on the calibration inputs, `var_j * sum_r |W_r[:, j]|^2`; the mean is kept
//! by folding it into the readers' biases. Each group is then pruned alone and its effect on
//! the model's outputs measured (the same measures as the quantisation sensitivity
//! analysis); groups are pruned least sensitive first, as many as keep the share of decoded
//! outputs that change within the bound (their number doubled, then bisected). Quantisation then calibrates the
//! pruned model: its ranges are those of the pruned activations.

use crate::graph::{Graph, set_attr};
use crate::quantize::{compare, fp32_outputs};
use ocr_core::runtime::format::{Attr, encode};
use ocr_core::runtime::static_eval::{Data, Info};
use ocr_core::runtime::{Model, Session, Tensor};
use std::collections::HashMap;

/// Channel pruning settings.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// Share of each pruned group's channels to remove (0 to 1).
    pub share: f32,
    /// Prune groups, least sensitive first, while at most this share of decoded outputs
    /// (recognised lines, classifier decisions, detector pixels) changes on the calibration
    /// inputs (`None`: every prunable group).
    pub max_changed: Option<f32>,
}

/// What pruning did to one group of channels.
#[derive(Debug, Clone)]
pub struct PrunedGroup {
    /// The convolution whose output channels were removed.
    pub producer: String,
    /// Depthwise convolutions and readers that lost the same channels.
    pub followers: Vec<String>,
    /// Channels before.
    pub before: usize,
    /// Channels after (the same as `before` for a group left whole).
    pub after: usize,
    /// Output error with this group alone pruned (see [`crate::quantize::Sensitivity`]).
    pub error: f32,
    /// Share of decoded outputs that change with this group alone pruned.
    pub changed: f32,
}

/// Per-channel (mean, variance) of values, by value id.
type Moments = HashMap<u32, (Vec<f64>, Vec<f64>)>;

/// Ops that map each channel to itself alone (pooling over space, element-wise activations):
/// channels pruned before them are pruned after them.
const PASS_THROUGH: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "Relu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Swish",
    "Clip",
];

/// Channels that leave one convolution and are read only by convolutions.
#[derive(Debug)]
struct Group {
    producer: usize,
    channels: usize,
    /// Depthwise convolutions that carry the channels on, one to one.
    depthwise: Vec<usize>,
    /// Ordinary convolutions reading the channels, each with the value it reads.
    readers: Vec<(usize, u32)>,
}

fn conv_group(g: &Graph, node: usize) -> Option<i64> {
    match g.nodes[node].attr("group") {
        None => Some(1),
        Some(Attr::Int(v)) => Some(*v),
        Some(_) => None,
    }
}

/// The shape of a convolution's weight, when it is an fp32 constant only this node reads.
fn own_weight(g: &Graph, uses: &[Vec<usize>], node: usize, slot: usize) -> Option<Vec<usize>> {
    let v = g.nodes[node].inputs.get(slot).copied().flatten()?;
    let (shape, _) = g.const_f32(v)?;
    (uses[v as usize].len() == 1).then(|| shape.to_vec())
}

/// Every group of channels that can be pruned.
fn groups(g: &Graph) -> Vec<Group> {
    let uses = g.consumers();
    let mut out = Vec::new();
    for (p, node) in g.nodes.iter().enumerate() {
        if node.op != "Conv" || node.outputs.len() != 1 || conv_group(g, p) != Some(1) {
            continue;
        }
        let Some(w) = own_weight(g, &uses, p, 1).filter(|s| s.len() == 4) else {
            continue;
        };
        let bias_ok = match node.inputs.get(2).copied().flatten() {
            None => true,
            Some(_) => own_weight(g, &uses, p, 2).is_some(),
        };
        let channels = w[0];
        let mut group = Group {
            producer: p,
            channels,
            depthwise: Vec::new(),
            readers: Vec::new(),
        };
        let mut ok = bias_ok && channels > 1;
        let mut pending = vec![node.outputs[0]];
        while let Some(v) = pending.pop().filter(|_| ok) {
            if g.is_pinned(v) || uses[v as usize].is_empty() {
                ok = false;
            }
            for &c in &uses[v as usize] {
                let cn = &g.nodes[c];
                let reads_data_only =
                    cn.inputs.first() == Some(&Some(v)) && !cn.inputs[1..].contains(&Some(v));
                let weight = own_weight(g, &uses, c, 1).filter(|s| s.len() == 4);
                let bias_ok = cn.inputs.get(2).copied().flatten().is_none()
                    || own_weight(g, &uses, c, 2).is_some();
                match (cn.op.as_str(), reads_data_only && bias_ok, weight) {
                    ("Conv", true, Some(w)) if conv_group(g, c) == Some(1) && w[1] == channels => {
                        group.readers.push((c, v));
                    }
                    ("Conv", true, Some(w))
                        if conv_group(g, c) == Some(channels as i64)
                            && w[0] == channels
                            && w[1] == 1
                            && cn.outputs.len() == 1 =>
                    {
                        group.depthwise.push(c);
                        pending.push(cn.outputs[0]);
                    }
                    (op, _, _)
                        if PASS_THROUGH.contains(&op)
                            && reads_data_only
                            && cn.outputs.len() == 1 =>
                    {
                        pending.push(cn.outputs[0]);
                    }
                    _ => ok = false,
                }
            }
        }
        if ok && !group.readers.is_empty() {
            out.push(group);
        }
    }
    out
}

/// Per-channel mean and variance of `values` over the calibration inputs.
fn channel_moments(g: &Graph, values: &[u32], inputs: &[Tensor]) -> Result<Moments, String> {
    let model = Model::from_bytes(&encode(&g.to_def()?)).map_err(|e| e.to_string())?;
    // The encoded file numbers values afresh: match them by name.
    let wanted: HashMap<u32, u32> = (0..model.value_count() as u32)
        .filter_map(|v| {
            let name = model.value_name(v);
            values
                .iter()
                .find(|&&w| g.names[w as usize] == name)
                .map(|&w| (v, w))
        })
        .collect();
    // (sum, sum of squares, count) per channel.
    type Sums = (Vec<f64>, Vec<f64>, f64);
    let mut sums: HashMap<u32, Sums> = HashMap::new();
    let mut session = Session::new(model);
    for x in inputs {
        session
            .run_observed(&[x], &mut |v, shape, data| {
                let (Some(&w), &[n, c, ..]) = (wanted.get(&v), shape) else {
                    return;
                };
                if n * c == 0 {
                    return;
                }
                let s = sums
                    .entry(w)
                    .or_insert_with(|| (vec![0.0; c], vec![0.0; c], 0.0));
                if s.0.len() != c {
                    return;
                }
                let plane = data.len() / (n * c);
                for (i, p) in data.chunks_exact(plane.max(1)).enumerate() {
                    let (a, b) = p.iter().fold((0f64, 0f64), |(a, b), &x| {
                        (a + x as f64, b + x as f64 * x as f64)
                    });
                    s.0[i % c] += a;
                    s.1[i % c] += b;
                }
                s.2 += (n * plane) as f64;
            })
            .map_err(|e| format!("pruning statistics run failed: {e}"))?;
    }
    Ok(sums
        .into_iter()
        .map(|(v, (s, sq, n))| {
            let n = n.max(1.0);
            let mean: Vec<f64> = s.iter().map(|a| a / n).collect();
            let var = sq
                .iter()
                .zip(&mean)
                .map(|(b, m)| (b / n - m * m).max(0.0))
                .collect();
            (v, (mean, var))
        })
        .collect())
}

fn weights(g: &Graph, node: usize, slot: usize) -> (Vec<usize>, Vec<f32>) {
    let v = g.nodes[node].inputs[slot].expect("checked weight");
    let (s, d) = g.const_f32(v).expect("checked weight");
    (s.to_vec(), d.to_vec())
}

fn set_const(g: &mut Graph, v: u32, shape: Vec<usize>, data: Vec<f32>) {
    g.consts.insert(
        v,
        Info {
            shape,
            data: Some(Data::F32(data)),
        },
    );
}

/// Channels ranked least important first: the energy each carries into the readers beyond
/// its mean.
fn ranking(g: &Graph, group: &Group, moments: &Moments) -> Vec<usize> {
    let c = group.channels;
    let mut importance = vec![0f64; c];
    for &(r, v) in &group.readers {
        let (shape, w) = weights(g, r, 1);
        let taps = shape[2] * shape[3];
        let Some((_, var)) = moments.get(&v) else {
            continue;
        };
        for o in 0..shape[0] {
            for (j, imp) in importance.iter_mut().enumerate() {
                let col = &w[(o * c + j) * taps..(o * c + j + 1) * taps];
                *imp += var[j] * col.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
            }
        }
    }
    let mut order: Vec<usize> = (0..c).collect();
    order.sort_by(|&a, &b| importance[a].total_cmp(&importance[b]).then(a.cmp(&b)));
    order
}

/// How many of `channels` pruning removes at `share`: at least one stays, and the count
/// kept is a multiple of 4 where it can be (the kernels' vector lanes).
fn removed_count(channels: usize, share: f32) -> usize {
    let keep = channels - ((channels as f32 * share.clamp(0.0, 1.0)) as usize).min(channels - 1);
    let keep = keep.div_ceil(4) * 4;
    channels.saturating_sub(keep)
}

/// Removes channels `gone` of `group` from the graph; the readers' biases absorb the removed
/// channels' means.
fn apply(g: &mut Graph, group: &Group, gone: &[bool], moments: &Moments) {
    let c = group.channels;
    let kept = gone.iter().filter(|&&x| !x).count();
    // Producer and depthwise convolutions: drop whole output channels (weights and bias).
    for &node in std::iter::once(&group.producer).chain(&group.depthwise) {
        for slot in [1, 2] {
            let Some(v) = g.nodes[node].inputs.get(slot).copied().flatten() else {
                continue;
            };
            let (mut shape, data) = weights(g, node, slot);
            let per = data.len() / c;
            let data: Vec<f32> = data
                .chunks_exact(per)
                .zip(gone)
                .filter(|(_, g)| !**g)
                .flat_map(|(ch, _)| ch.iter().copied())
                .collect();
            shape[0] = kept;
            set_const(g, v, shape, data);
        }
        if node != group.producer {
            set_attr(&mut g.nodes[node], "group", Attr::Int(kept as i64));
        }
    }
    // Readers: drop input columns, fold the removed channels' means into the bias.
    for &(r, v) in &group.readers {
        let (shape, w) = weights(g, r, 1);
        let (outs, taps) = (shape[0], shape[2] * shape[3]);
        let mean = moments.get(&v).map(|(m, _)| m.as_slice());
        let bias_value = g.nodes[r].inputs.get(2).copied().flatten();
        let mut bias = match bias_value {
            Some(_) => weights(g, r, 2).1,
            None => vec![0.0; outs],
        };
        let mut kept_w = Vec::with_capacity(outs * kept * taps);
        for (o, b) in bias.iter_mut().enumerate() {
            for j in 0..c {
                let col = &w[(o * c + j) * taps..(o * c + j + 1) * taps];
                if gone[j] {
                    let m = mean.map_or(0.0, |m| m[j]);
                    *b += (m * col.iter().map(|&x| x as f64).sum::<f64>()) as f32;
                } else {
                    kept_w.extend_from_slice(col);
                }
            }
        }
        let wv = g.nodes[r].inputs[1].expect("checked weight");
        set_const(g, wv, vec![outs, kept, shape[2], shape[3]], kept_w);
        match bias_value {
            Some(bv) => set_const(g, bv, vec![outs], bias),
            None => {
                let name = format!("{}.bias", g.nodes[r].name);
                let bv = g.add_const_f32(&name, vec![outs], bias);
                let inputs = &mut g.nodes[r].inputs;
                inputs.resize(2, None);
                inputs.push(Some(bv));
            }
        }
    }
}

/// The channels of `group` to remove at `share`.
fn gone_mask(order: &[usize], channels: usize, share: f32) -> Vec<bool> {
    let mut gone = vec![false; channels];
    for &j in &order[..removed_count(channels, share)] {
        gone[j] = true;
    }
    gone
}

/// Prunes `g` in place as [`PruneOptions`] says, measuring on `inputs` (calibration inputs);
/// returns every prunable group, pruned or not, most sensitive first.
pub fn prune_channels(
    g: &mut Graph,
    inputs: &[Tensor],
    opts: &PruneOptions,
) -> Result<Vec<PrunedGroup>, String> {
    if !(0.0..1.0).contains(&opts.share) {
        return Err(format!("pruning share {} is not in [0, 1)", opts.share));
    }
    let found = groups(g);
    let mut read: Vec<u32> = found
        .iter()
        .flat_map(|gr| gr.readers.iter().map(|&(_, v)| v))
        .collect();
    read.sort_unstable();
    read.dedup();
    let moments = channel_moments(g, &read, inputs)?;
    let reference = fp32_outputs(g, inputs)?;
    let mut report = Vec::new();
    // Per group, the channels it loses at `share`.
    let mut gone_by_group = Vec::new();
    for group in &found {
        let order = ranking(g, group, &moments);
        let gone = gone_mask(&order, group.channels, opts.share);
        let mut one = g.clone();
        apply(&mut one, group, &gone, &moments);
        let (error, changed) = compare(&reference, &fp32_outputs(&one, inputs)?);
        let name = |n: usize| g.nodes[n].name.clone();
        report.push(PrunedGroup {
            producer: name(group.producer),
            followers: group
                .depthwise
                .iter()
                .chain(group.readers.iter().map(|(r, _)| r))
                .map(|&n| name(n))
                .collect(),
            before: group.channels,
            after: group.channels - gone.iter().filter(|&&x| x).count(),
            error,
            changed,
        });
        gone_by_group.push(gone);
    }
    // Least sensitive first.
    let mut by_error: Vec<usize> = (0..found.len()).collect();
    by_error.sort_by(|&a, &b| report[a].error.total_cmp(&report[b].error));
    let prune_n = match opts.max_changed {
        None => found.len(),
        Some(bound) => {
            let within = |n: usize| -> Result<bool, String> {
                let mut trial = g.clone();
                for &i in &by_error[..n] {
                    apply(&mut trial, &found[i], &gone_by_group[i], &moments);
                }
                let (error, changed) = compare(&reference, &fp32_outputs(&trial, inputs)?);
                eprintln!(
                    "  {n:>3} least sensitive groups pruned: error {error:.3e}, {:.2}% changed",
                    100.0 * changed
                );
                Ok(changed <= bound)
            };
            // Double the count until the bound breaks, then bisect between the last count
            // within it and the first beyond.
            let (mut good, mut bad) = (0usize, found.len() + 1);
            let mut next = 1usize.min(found.len());
            while next > good && next < bad {
                if within(next)? {
                    good = next;
                    next = (next * 2).min(found.len());
                } else {
                    bad = next;
                }
            }
            while bad <= found.len() && bad - good > 1 {
                let mid = (good + bad) / 2;
                if within(mid)? {
                    good = mid;
                } else {
                    bad = mid;
                }
            }
            good
        }
    };
    for &i in &by_error[prune_n..] {
        report[i].after = report[i].before;
    }
    for &i in &by_error[..prune_n] {
        apply(g, &found[i], &gone_by_group[i], &moments);
    }
    by_error.reverse();
    Ok(by_error.into_iter().map(|i| report[i].clone()).collect())
}

/// The pruning report as a text table (printed by the converter, stored in the model).
pub fn pruning_table(groups: &[PrunedGroup]) -> String {
    let mut t = format!(
        "{:<24} {:>9} {:>12} {:>10}  followers\n",
        "producer", "channels", "error alone", "changed"
    );
    for p in groups {
        t += &format!(
            "{:<24} {:>4}/{:<4} {:>12.3e} {:>9.3}%  {}\n",
            p.producer,
            p.after,
            p.before,
            p.error,
            100.0 * p.changed,
            p.followers.join(",")
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::runtime::format::{Dim, IoDef, NodeDef};

    /// Deterministic numbers in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        crate::test_noise(n, seed)
            .iter()
            .map(|&v| v as f32)
            .collect()
    }

    fn conv(g: &mut Graph, name: &str, x: u32, w: (Vec<usize>, Vec<f32>), b: Vec<f32>) -> u32 {
        let outs = w.0[0];
        let group = if w.0[1] == 1 && outs > 1 { outs } else { 1 };
        let wv = g.add_const_f32(name, w.0, w.1);
        let bv = g.add_const_f32(name, vec![outs], b);
        let y = g.value(&format!("{name}.out"));
        g.nodes.push(NodeDef {
            op: "Conv".into(),
            name: name.into(),
            inputs: vec![Some(x), Some(wv), Some(bv)],
            outputs: vec![y],
            attrs: vec![
                ("group".into(), Attr::Int(group as i64)),
                ("pads".into(), Attr::Ints(vec![0; 4])),
            ],
        });
        y
    }

    /// input -> 1x1 conv to 8 channels (4 of them constant: zero weights, a bias) -> 1x1
    /// depthwise -> 1x1 conv to 3, and a second reader of the first conv's output.
    fn constant_channel_graph() -> Graph {
        let mut g = Graph::default();
        let x = g.value("x");
        g.inputs.push(IoDef {
            value: x,
            dims: vec![Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(5), Dim::Fixed(5)],
        });
        let mut w = noise(8 * 2, 1);
        for j in [1, 4, 5, 7] {
            w[j * 2] = 0.0;
            w[j * 2 + 1] = 0.0;
        }
        let p = conv(&mut g, "producer", x, (vec![8, 2, 1, 1], w), noise(8, 2));
        let d = conv(
            &mut g,
            "depthwise",
            p,
            (vec![8, 1, 1, 1], noise(8, 3)),
            noise(8, 4),
        );
        let r = conv(
            &mut g,
            "reader",
            d,
            (vec![3, 8, 1, 1], noise(24, 5)),
            noise(3, 6),
        );
        let s = conv(
            &mut g,
            "second",
            p,
            (vec![2, 8, 1, 1], noise(16, 7)),
            noise(2, 8),
        );
        for v in [r, s] {
            g.outputs.push(IoDef {
                value: v,
                dims: vec![Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(5), Dim::Fixed(5)],
            });
        }
        g
    }

    fn run_all(g: &Graph, x: &Tensor) -> Vec<Tensor> {
        let model = Model::from_bytes(&encode(&g.to_def().unwrap())).unwrap();
        Session::new(model).run(&[x]).unwrap()
    }

    #[test]
    fn constant_channels_go_first_and_their_means_move_into_the_readers_biases() {
        let mut g = constant_channel_graph();
        let found = groups(&g);
        // Only the producer's channels are prunable: the readers' outputs are graph outputs.
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].channels, 8);
        assert_eq!(found[0].depthwise.len(), 1);
        assert_eq!(found[0].readers.len(), 2);
        let inputs: Vec<Tensor> = (0..3)
            .map(|i| Tensor::new(vec![1, 2, 5, 5], noise(50, 10 + i)).unwrap())
            .collect();
        let before: Vec<Vec<Tensor>> = inputs.iter().map(|x| run_all(&g, x)).collect();
        let opts = PruneOptions {
            share: 0.5,
            max_changed: None,
        };
        let report = prune_channels(&mut g, &inputs, &opts).unwrap();
        assert_eq!((report[0].before, report[0].after), (8, 4));
        assert!(report[0].error < 1e-5, "{report:?}");
        // The four constant channels went, and the outputs did not move.
        let (shape, w) = g.const_f32(g.nodes[0].inputs[1].unwrap()).unwrap();
        assert_eq!(shape, &[4, 2, 1, 1]);
        assert!(w.iter().all(|&v| v != 0.0));
        for (x, want) in inputs.iter().zip(&before) {
            for (a, b) in run_all(&g, x).iter().zip(want) {
                assert_eq!(a.shape(), b.shape());
                for (p, q) in a.data().iter().zip(b.data()) {
                    assert!((p - q).abs() < 1e-5, "{p} vs {q}");
                }
            }
        }
    }

    #[test]
    fn pooling_and_activations_pass_channels_through() {
        let mut g = Graph::default();
        let x = g.value("x");
        g.inputs.push(IoDef {
            value: x,
            dims: vec![Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(4), Dim::Fixed(4)],
        });
        let p = conv(
            &mut g,
            "producer",
            x,
            (vec![8, 2, 1, 1], noise(16, 1)),
            noise(8, 2),
        );
        let mut chain = p;
        for (op, attrs) in [
            ("Relu", vec![]),
            (
                "MaxPool",
                vec![
                    ("kernel_shape".to_string(), Attr::Ints(vec![2, 2])),
                    ("strides".to_string(), Attr::Ints(vec![2, 2])),
                ],
            ),
        ] {
            let y = g.value(&format!("{op}.out"));
            g.nodes.push(NodeDef {
                op: op.into(),
                name: op.into(),
                inputs: vec![Some(chain)],
                outputs: vec![y],
                attrs,
            });
            chain = y;
        }
        let r = conv(
            &mut g,
            "reader",
            chain,
            (vec![3, 8, 1, 1], noise(24, 5)),
            noise(3, 6),
        );
        g.outputs.push(IoDef {
            value: r,
            dims: vec![Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(2), Dim::Fixed(2)],
        });
        let found = groups(&g);
        assert_eq!(found.len(), 1);
        // The reader reads the pooled value, whose moments then fold into its bias.
        assert_eq!(found[0].readers, vec![(3, chain)]);
        let inputs = [Tensor::new(vec![1, 2, 4, 4], noise(32, 9)).unwrap()];
        let opts = PruneOptions {
            share: 0.5,
            max_changed: None,
        };
        let report = prune_channels(&mut g, &inputs, &opts).unwrap();
        assert_eq!((report[0].before, report[0].after), (8, 4));
        assert_eq!(run_all(&g, &inputs[0])[0].shape(), &[1, 3, 2, 2]);
    }

    #[test]
    fn outputs_read_elsewhere_are_not_prunable() {
        let mut g = constant_channel_graph();
        // The producer's output becomes a graph output too: nothing to prune.
        let p = g.nodes[0].outputs[0];
        g.outputs.push(IoDef {
            value: p,
            dims: vec![Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(5), Dim::Fixed(5)],
        });
        assert!(groups(&g).is_empty());
        let opts = PruneOptions {
            share: 1.0,
            max_changed: None,
        };
        assert!(prune_channels(&mut g, &[], &opts).is_err());
    }

    #[test]
    fn removed_counts_keep_a_channel_and_multiples_of_four() {
        assert_eq!(removed_count(48, 0.0), 0);
        assert_eq!(removed_count(48, 0.25), 12);
        assert_eq!(removed_count(48, 0.3), 12); // 34 kept rounds up to 36
        assert_eq!(removed_count(2, 0.9), 0); // one kept rounds up to 4: nothing removed
        assert_eq!(removed_count(96, 0.999), 92);
    }
}

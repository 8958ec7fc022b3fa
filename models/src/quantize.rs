//! Post-training int8 quantisation: calibration statistics, per-output-channel weights,
//! activation ranges, mixed precision.
//!
//! Every convolution becomes an int8 convolution unless listed to stay fp32 (depthwise ones
//! only when asked, [`QuantSettings::depthwise`]): weights symmetric per output channel in
//! `-127..=127`, the input activation affine in 8 bits (`0..=255`; the kernels' operand ranges
//! are in `ocr_core::runtime::kernels::qgemm`) from ranges observed while the fp32 model runs
//! on calibration inputs. Matrix products with constant weights become int8 the same way when
//! asked ([`QuantSettings::matmul`]; weights symmetric per output column); products of two
//! activations (attention scores) and everything else stay fp32.

use crate::graph::{Graph, set_attr};
use ocr_core::runtime::format::{Attr, NodeDef, QuantParams};
use ocr_core::runtime::kernels::qgemm::{ACT_MAX, WEIGHT_MAX};
use ocr_core::runtime::tensor::one_matrix;
use ocr_core::runtime::{Model, Session, Tensor};
use std::collections::HashMap;

/// How activation ranges are chosen from calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibMethod {
    /// The smallest and largest value seen.
    MinMax,
    /// The given lower and upper percentiles of the values seen (outliers clipped).
    Percentile(f32),
    /// The clipping range that minimises the mean squared error between the values seen and
    /// their 8-bit quantised form (rounding error traded against clipping error).
    Mse,
    /// The upper clip that minimises the KL divergence between the histogram of the values
    /// seen and its 8-bit quantised form (TensorRT's entropy calibration); the lower end is the
    /// minimum seen.
    Entropy,
}

impl CalibMethod {
    /// Parses `minmax`, `percentile` (99.99th), `mse` or `entropy`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minmax" => Some(CalibMethod::MinMax),
            "percentile" => Some(CalibMethod::Percentile(99.99)),
            "mse" => Some(CalibMethod::Mse),
            "entropy" | "kl" => Some(CalibMethod::Entropy),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            CalibMethod::MinMax => "minmax",
            CalibMethod::Percentile(_) => "percentile",
            CalibMethod::Mse => "mse",
            CalibMethod::Entropy => "entropy",
        }
    }
}

/// Which convolutions [`quantize`] turns into int8, and how it chooses activation ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantSettings {
    /// How activation ranges are chosen.
    pub method: CalibMethod,
    /// Depthwise convolutions too (run by the int8 depthwise kernel); otherwise they stay
    /// fp32.
    pub depthwise: bool,
    /// Matrix products with constant weights too (the recogniser's attention projections,
    /// MLPs and CTC head); otherwise they stay fp32.
    pub matmul: bool,
}

/// Mean squared error of `samples` quantised to 8 bits over `[lo, hi]` (clipped outside).
fn quant_mse(samples: &[f32], lo: f32, hi: f32) -> f64 {
    let levels = ACT_MAX as f32;
    let scale = ((hi - lo) / levels).max(f32::MIN_POSITIVE);
    let zp = (-lo / scale).round();
    let mut sum = 0f64;
    for &v in samples {
        let q = ((v / scale).round() + zp).clamp(0.0, levels);
        let d = (q - zp) * scale - v;
        sum += (d * d) as f64;
    }
    sum / samples.len().max(1) as f64
}

/// The range minimising [`quant_mse`]: the upper end shrunk first, then the lower end.
fn mse_range(samples: &[f32], min: f32, max: f32) -> (f32, f32) {
    let sub: Vec<f32> = samples
        .iter()
        .step_by(samples.len().div_ceil(1 << 16).max(1))
        .copied()
        .collect();
    let factors: Vec<f32> = (0..=70).map(|i| 1.0 - i as f32 * 0.01).collect();
    let best = |pairs: &mut dyn Iterator<Item = (f32, f32)>| {
        pairs
            .map(|(lo, hi)| (quant_mse(&sub, lo, hi), lo, hi))
            .fold((f64::MAX, min, max), |b, c| if c.0 < b.0 { c } else { b })
    };
    let (_, _, hi) = best(&mut factors.iter().map(|f| (min, max * f)));
    let (_, lo, hi) = best(&mut factors.iter().map(|f| (min * f, hi)));
    (lo, hi)
}

/// The upper clip minimising the KL divergence between the histogram of `samples` (2048 bins
/// over `[min, max]`) and its 256-level quantisation.
fn entropy_range(samples: &[f32], min: f32, max: f32) -> (f32, f32) {
    const BINS: usize = 2048;
    const LEVELS: usize = ACT_MAX as usize + 1;
    if max <= min || samples.is_empty() {
        return (min, max);
    }
    let width = (max - min) / BINS as f32;
    // Exact zeros (ReLU's spike, zero padding) quantise exactly whatever the range: leave them
    // out, or spreading the spike over its level's bins dominates the divergence.
    let mut hist = vec![0f64; BINS];
    for &v in samples.iter().filter(|&&v| v != 0.0) {
        hist[(((v - min) / width) as usize).min(BINS - 1)] += 1.0;
    }
    let mut best = (f64::MAX, BINS);
    for cut in (LEVELS..=BINS).step_by(16) {
        // Reference: the clipped distribution, outliers folded into the last kept bin.
        let mut p = hist[..cut].to_vec();
        p[cut - 1] += hist[cut..].iter().sum::<f64>();
        // Candidate: the clipped bins (without the folded outliers, which is what penalises
        // clipping) merged into 256 levels, each spread back evenly over the bins of its level
        // that were non-empty.
        let mut q = vec![0f64; cut];
        for level in 0..LEVELS {
            let (a, b) = (level * cut / LEVELS, (level + 1) * cut / LEVELS);
            let mass: f64 = hist[a..b].iter().sum();
            let nonzero = hist[a..b].iter().filter(|&&v| v > 0.0).count();
            for (qi, hi) in q[a..b].iter_mut().zip(&hist[a..b]) {
                if *hi > 0.0 {
                    *qi = mass / nonzero as f64;
                }
            }
        }
        let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
        let kl: f64 = p
            .iter()
            .zip(&q)
            .filter(|(pv, _)| **pv > 0.0)
            .map(|(pv, qv)| {
                let (pn, qn) = (pv / ps, (qv / qs).max(1e-12));
                pn * (pn / qn).ln()
            })
            .sum();
        if kl < best.0 {
            best = (kl, cut);
        }
    }
    (min, min + best.1 as f32 * width)
}

/// Values sampled per activation (every value of small tensors, a stride of large ones).
const MAX_SAMPLES: usize = 1 << 18;

/// Values sampled per channel of a depthwise convolution's input.
const CHANNEL_SAMPLES: usize = 1 << 12;

/// Observed values of one activation.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// A uniform sample of every value seen: one in `step`, whatever input it came from.
    samples: Vec<f32>,
    /// Sampling interval over the concatenation of everything seen.
    step: usize,
    /// Values to skip before the next sample.
    skip: usize,
    /// For a depthwise convolution's input, each channel observed apart (empty otherwise).
    pub channels: Vec<Observed>,
}

impl Observed {
    fn add(&mut self, data: &[f32]) {
        self.add_sampled(data, MAX_SAMPLES);
    }

    /// Adds values, keeping a uniform sample of at most `cap` of everything seen.
    fn add_sampled(&mut self, data: &[f32], cap: usize) {
        if self.step == 0 {
            self.step = 1;
            self.min = f32::MAX;
            self.max = f32::MIN;
        }
        for &v in data {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        // Sample every `step`-th value across all inputs; when full, keep every other sample
        // and double the step. Every value of every input then has the same chance to be
        // kept, so no input (the last ones, say) outweighs the others.
        let mut i = self.skip;
        while i < data.len() {
            self.samples.push(data[i]);
            if self.samples.len() >= cap {
                self.samples = self.samples.iter().step_by(2).copied().collect();
                self.step *= 2;
            }
            i += self.step;
        }
        self.skip = i - data.len();
    }

    /// The range for a method; always contains zero (so zero padding is exact).
    pub fn range(&self, method: CalibMethod) -> (f32, f32) {
        let (lo, hi) = match method {
            CalibMethod::MinMax => (self.min, self.max),
            CalibMethod::Mse => mse_range(&self.samples, self.min, self.max),
            CalibMethod::Entropy => entropy_range(&self.samples, self.min, self.max),
            CalibMethod::Percentile(p) => {
                let mut s = self.samples.clone();
                s.sort_by(f32::total_cmp);
                let at = |q: f32| s[((q / 100.0) * (s.len() - 1) as f32).round() as usize];
                if s.is_empty() {
                    (self.min, self.max)
                } else {
                    (at(100.0 - p), at(p))
                }
            }
        };
        (lo.min(0.0), hi.max(0.0))
    }
}

/// Runs the fp32 model on calibration inputs and records the values of every data input of a
/// convolution or of a matrix product with constant weights, by value name; with
/// `depthwise_channels`, also each channel of a depthwise convolution's input apart
/// ([`Observed::channels`]).
pub fn calibrate(
    fp32: &[u8],
    inputs: &[Tensor],
    depthwise_channels: bool,
) -> Result<HashMap<String, Observed>, String> {
    let model = Model::from_bytes(fp32).map_err(|e| e.to_string())?;
    let wanted: Vec<u32> = conv_inputs(&model);
    let depthwise = match depthwise_channels {
        true => model.depthwise_data_inputs(),
        false => Vec::new(),
    };
    let names: Vec<String> = (0..model.value_count() as u32)
        .map(|v| model.value_name(v).to_string())
        .collect();
    let mut session = Session::new(model);
    let mut stats: HashMap<u32, Observed> = HashMap::new();
    for x in inputs {
        session
            .run_observed(&[x], &mut |v, shape, data| {
                if !wanted.contains(&v) {
                    return;
                }
                let obs = stats.entry(v).or_default();
                obs.add(data);
                if let (true, &[n, c, ..]) = (depthwise.contains(&v), shape)
                    && n * c > 0
                {
                    obs.channels.resize_with(c, Observed::default);
                    let plane = data.len() / (n * c);
                    for (i, p) in data.chunks_exact(plane.max(1)).enumerate() {
                        obs.channels[i % c].add_sampled(p, CHANNEL_SAMPLES);
                    }
                }
            })
            .map_err(|e| format!("calibration run failed: {e}"))?;
    }
    Ok(stats
        .into_iter()
        .map(|(v, o)| (names[v as usize].clone(), o))
        .collect())
}

/// Value ids feeding convolutions and constant-weight matrix products as their data input.
fn conv_inputs(model: &Model) -> Vec<u32> {
    let mut v = model.conv_data_inputs();
    v.extend(model.matmul_data_inputs());
    v.sort_unstable();
    v.dedup();
    v
}

/// What quantisation did.
#[derive(Debug, Clone, Default)]
pub struct QuantReport {
    /// Layers (convolutions, matrix products) now int8, with their input range.
    pub int8: Vec<(String, f32, f32)>,
    /// Layers kept fp32 and why.
    pub fp32: Vec<(String, &'static str)>,
}

/// Turns eligible convolutions (and, with [`QuantSettings::matmul`], matrix products) of `g`
/// into int8 ones using the observed ranges.
pub fn quantize(
    g: &mut Graph,
    stats: &HashMap<String, Observed>,
    how: QuantSettings,
    keep_fp32: &[String],
) -> Result<QuantReport, String> {
    let mut report = QuantReport::default();
    // A misspelt layer would otherwise be quantised like any other, silently.
    if let Some(unknown) = keep_fp32.iter().find(|n| {
        !g.nodes
            .iter()
            .any(|node| matches!(node.op.as_str(), "Conv" | "MatMul") && &node.name == *n)
    }) {
        return Err(format!(
            "layer to keep fp32 '{unknown}': the model has no convolution or matrix product \
             of that name"
        ));
    }
    for i in 0..g.nodes.len() {
        if g.nodes[i].op == "MatMul" {
            if how.matmul {
                quantize_matmul(g, i, stats, how.method, keep_fp32, &mut report);
            }
            continue;
        }
        if g.nodes[i].op != "Conv" {
            continue;
        }
        let name = g.nodes[i].name.clone();
        let (Some(x), Some(wv)) = (g.nodes[i].inputs[0], g.nodes[i].inputs[1]) else {
            continue;
        };
        let Some((shape, w)) = g.const_f32(wv).map(|(s, d)| (s.to_vec(), d.to_vec())) else {
            report.fp32.push((name, "weights not constant"));
            continue;
        };
        let group = match g.nodes[i].attr("group") {
            Some(Attr::Int(v)) => *v as usize,
            _ => 1,
        };
        let depthwise = group > 1 && shape[1] == 1;
        if depthwise && !how.depthwise {
            report.fp32.push((name, "depthwise"));
            continue;
        }
        let obs = match calibrated(g, &name, x, stats, keep_fp32) {
            Ok(obs) => obs,
            Err(why) => {
                report.fp32.push((name, why));
                continue;
            }
        };
        let (lo, hi) = obs.range(how.method);
        // A depthwise channel meets only its own input plane: one range per channel.
        let per_channel: Vec<(f32, i64)> = if depthwise && obs.channels.len() == shape[0] {
            obs.channels
                .iter()
                .map(|c| {
                    let (lo, hi) = c.range(how.method);
                    affine(lo, hi)
                })
                .collect()
        } else {
            Vec::new()
        };
        let node = to_int8(g, i, shape, &w, 0, (lo, hi));
        if !per_channel.is_empty() {
            let (scales, zps) = per_channel.into_iter().unzip();
            set_attr(node, "x_scales", Attr::Floats(scales));
            set_attr(node, "x_zero_points", Attr::Ints(zps));
        }
        report.int8.push((name, lo, hi));
    }
    Ok(report)
}

/// Turns MatMul node `i` into an int8 one if its weights are one constant `[K, N]` matrix:
/// symmetric per-column int8 weights, the input quantised over its observed range.
fn quantize_matmul(
    g: &mut Graph,
    i: usize,
    stats: &HashMap<String, Observed>,
    method: CalibMethod,
    keep_fp32: &[String],
    report: &mut QuantReport,
) {
    let name = g.nodes[i].name.clone();
    let (Some(x), Some(wv)) = (g.nodes[i].inputs[0], g.nodes[i].inputs[1]) else {
        return;
    };
    // Products of two activations (attention scores) are not weight layers: not reported.
    let Some((shape, w)) = g.const_f32(wv).map(|(s, d)| (s.to_vec(), d.to_vec())) else {
        return;
    };
    if one_matrix(&shape).is_none_or(|(k, n)| k == 0 || n == 0) {
        report.fp32.push((name, "weights not one matrix"));
        return;
    }
    let r = shape.len();
    match calibrated(g, &name, x, stats, keep_fp32) {
        Ok(obs) => {
            let (lo, hi) = obs.range(method);
            to_int8(g, i, shape, &w, r - 1, (lo, hi));
            report.int8.push((name, lo, hi));
        }
        Err(why) => report.fp32.push((name, why)),
    }
}

/// The observed values of layer `name`'s data input `x`, or why the layer stays fp32.
fn calibrated<'a>(
    g: &Graph,
    name: &str,
    x: u32,
    stats: &'a HashMap<String, Observed>,
    keep_fp32: &[String],
) -> Result<&'a Observed, &'static str> {
    if keep_fp32.iter().any(|k| k == name) {
        return Err("kept fp32 by request");
    }
    stats.get(&g.names[x as usize]).ok_or("no calibration data")
}

/// Makes node `i` an int8 layer: its fp32 weights `w` (of `shape`) become symmetric int8
/// codes with one scale per channel along `axis` (`-127..=127`, the channel's largest
/// magnitude at 127), and its input is quantised over `[lo, hi]`. Returns the node.
fn to_int8<'g>(
    g: &'g mut Graph,
    i: usize,
    shape: Vec<usize>,
    w: &[f32],
    axis: usize,
    (lo, hi): (f32, f32),
) -> &'g mut NodeDef {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let channel = |at: usize| (at / inner) % channels;
    let wmax = WEIGHT_MAX as f32;
    let mut amax = vec![0f32; channels];
    for (at, &v) in w.iter().enumerate() {
        amax[channel(at)] = amax[channel(at)].max(v.abs());
    }
    let scales: Vec<f32> = amax
        .iter()
        .map(|&a| if a > 0.0 { a / wmax } else { 1.0 })
        .collect();
    let q: Vec<i8> = w
        .iter()
        .enumerate()
        .map(|(at, &v)| (v / scales[channel(at)]).round().clamp(-wmax, wmax) as i8)
        .collect();
    let name = g.nodes[i].name.clone();
    let qv = g.fresh(&format!("{name}.w_int8"));
    g.int8.insert(
        qv,
        (
            shape,
            q,
            QuantParams {
                axis: axis as u32,
                zero_points: vec![0; channels],
                scales,
            },
        ),
    );
    let (scale, zero_point) = affine(lo, hi);
    let node = &mut g.nodes[i];
    node.inputs[1] = Some(qv);
    set_attr(node, "x_scale", Attr::Float(scale));
    set_attr(node, "x_zero_point", Attr::Int(zero_point));
    node
}

/// The 8-bit affine quantisation `(scale, zero point)` of the range `[lo, hi]` (which
/// contains zero).
fn affine(lo: f32, hi: f32) -> (f32, i64) {
    let levels = ACT_MAX as f32;
    let scale = ((hi - lo) / levels).max(f32::MIN_POSITIVE);
    (scale, (-lo / scale).round().clamp(0.0, levels) as i64)
}

/// How much one layer, quantised alone, changes the model's outputs on the calibration inputs.
#[derive(Debug, Clone)]
pub struct Sensitivity {
    /// Convolution (node name).
    pub node: String,
    /// Output error against fp32: for class scores (`[.., C]`) the mean change of the fp32
    /// winner's score, for a detector's probability map the mean absolute change.
    pub error: f32,
    /// Share of decoded outputs (CTC lines, class decisions, detector pixels) that change.
    pub changed: f32,
}

/// Runs a model on every calibration input and returns its (first) outputs.
fn outputs(bytes: &[u8], inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let model = Model::from_bytes(bytes).map_err(|e| e.to_string())?;
    let mut s = Session::new(model);
    inputs
        .iter()
        .map(|x| {
            s.run(&[x])
                .map(|mut o| o.remove(0))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Argmax of each row of the last axis.
fn argmaxes(t: &Tensor) -> Vec<usize> {
    let d = (*t.shape().last().unwrap_or(&1)).max(1);
    t.data()
        .chunks_exact(d)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > r[best] { i } else { best })
        })
        .collect()
}

/// DB detectors binarise their probability map at this threshold (the engine's default).
const DET_THRESHOLD: f32 = 0.3;

/// What an output decodes to, item by item: for a `[N, T, C]` CTC output the collapsed,
/// blank-free class sequence of each line (near-tie time steps that do not change the text do
/// not count); for a `[N, 1, H, W]` probability map each pixel's text/background decision;
/// otherwise the argmax of every row.
fn decoded(t: &Tensor) -> Vec<Vec<usize>> {
    if t.shape().len() == 4 && t.shape()[1] == 1 {
        return t
            .data()
            .iter()
            .map(|&p| vec![usize::from(p > DET_THRESHOLD)])
            .collect();
    }
    let am = argmaxes(t);
    if t.shape().len() == 3 {
        am.chunks(t.shape()[1].max(1))
            .map(ocr_core::ctc::collapse)
            .collect()
    } else {
        am.into_iter().map(|c| vec![c]).collect()
    }
}

/// (output error, share of decoded items (CTC lines, classes, detector pixels) that differ)
/// of `b` against the reference `a`; the error is defined at [`Sensitivity::error`].
pub(crate) fn compare(a: &[Tensor], b: &[Tensor]) -> (f32, f32) {
    let (mut sum, mut n, mut changed, mut items) = (0f64, 0usize, 0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        if x.shape().len() == 4 {
            for (p, q) in x.data().iter().zip(y.data()) {
                sum += (p - q).abs() as f64;
                n += 1;
            }
        } else {
            // Class scores: how far the winning class's score moved.
            let c = (*x.shape().last().unwrap_or(&1)).max(1);
            for ((rx, ry), best) in x
                .data()
                .chunks_exact(c)
                .zip(y.data().chunks_exact(c))
                .zip(argmaxes(x))
            {
                sum += (rx[best] - ry[best]).abs() as f64;
                n += 1;
            }
        }
        for (dx, dy) in decoded(x).iter().zip(decoded(y).iter()) {
            changed += usize::from(dx != dy);
            items += 1;
        }
    }
    (
        (sum / n.max(1) as f64) as f32,
        changed as f32 / items.max(1) as f32,
    )
}

/// The fp32 graph's (first) outputs on the inputs: what [`sensitivity`] and [`choose_fp32`]
/// compare against.
pub fn fp32_outputs(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    outputs(&ocr_core::runtime::format::encode(&g.to_def()?), inputs)
}

/// Quantises each eligible convolution alone and measures the effect on the outputs
/// (`reference`: [`fp32_outputs`] on the same inputs).
pub fn sensitivity(
    g: &Graph,
    stats: &HashMap<String, Observed>,
    how: QuantSettings,
    inputs: &[Tensor],
    reference: &[Tensor],
) -> Result<Vec<Sensitivity>, String> {
    let mut all = g.clone();
    let names: Vec<String> = quantize(&mut all, stats, how, &[])?
        .int8
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    let mut out = Vec::new();
    for name in &names {
        let mut one = g.clone();
        let others: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
        quantize(&mut one, stats, how, &others)?;
        let got = outputs(&ocr_core::runtime::format::encode(&one.to_def()?), inputs)?;
        let (error, changed) = compare(reference, &got);
        out.push(Sensitivity {
            node: name.clone(),
            error,
            changed,
        });
    }
    // By output error: smooth, where the share of changed lines from one layer alone is
    // a count of near-ties over few inputs.
    out.sort_by(|a, b| b.error.total_cmp(&a.error));
    Ok(out)
}

/// The sensitivity ranking as a text table (printed by the converter, stored in the model).
pub fn sensitivity_table(ranked: &[Sensitivity]) -> String {
    let mut t = format!("{:<32} {:>12} {:>10}\n", "layer", "error", "changed");
    for s in ranked {
        t += &format!(
            "{:<32} {:>12.3e} {:>9.3}%\n",
            s.node,
            s.error,
            100.0 * s.changed
        );
    }
    t
}

/// Chooses the layers to keep in fp32: the most sensitive first, doubling their number until
/// the share of decoded outputs that change on the calibration inputs falls to `max_changed`
/// (or every layer is fp32). Returns the kept layers and the achieved change rate.
pub fn choose_fp32(
    g: &Graph,
    stats: &HashMap<String, Observed>,
    how: QuantSettings,
    (inputs, reference): (&[Tensor], &[Tensor]),
    ranked: &[Sensitivity],
    max_changed: f32,
) -> Result<(Vec<String>, f32), String> {
    let mut keep_n = 0usize;
    loop {
        let keep: Vec<String> = ranked.iter().take(keep_n).map(|s| s.node.clone()).collect();
        let mut q = g.clone();
        quantize(&mut q, stats, how, &keep)?;
        let got = outputs(&ocr_core::runtime::format::encode(&q.to_def()?), inputs)?;
        let (error, changes) = compare(reference, &got);
        eprintln!(
            "  {keep_n:>3} most sensitive kept fp32: error {error:.3e}, {:.2}% changed",
            100.0 * changes
        );
        if changes <= max_changed || keep_n >= ranked.len() {
            return Ok((keep, changes));
        }
        keep_n = if keep_n == 0 {
            1
        } else {
            (keep_n * 2).min(ranked.len())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(values: &[f32]) -> Observed {
        let mut o = Observed::default();
        o.add(values);
        o
    }

    /// Deterministic uniform numbers in [0, 1).
    fn uniform(n: usize) -> Vec<f32> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    const METHODS: [CalibMethod; 4] = [
        CalibMethod::MinMax,
        CalibMethod::Percentile(99.99),
        CalibMethod::Mse,
        CalibMethod::Entropy,
    ];

    #[test]
    fn samples_do_not_depend_on_the_order_of_inputs() {
        // Two large inputs with different spreads: the sample must weigh them equally in
        // either order (a buffer that favours recent inputs would not).
        let u = uniform(600_000);
        let narrow: Vec<f32> = u[..300_000].to_vec();
        let wide: Vec<f32> = u[300_000..].iter().map(|v| v * 10.0).collect();
        let mut ab = Observed::default();
        ab.add(&narrow);
        ab.add(&wide);
        let mut ba = Observed::default();
        ba.add(&wide);
        ba.add(&narrow);
        let share_wide = |o: &Observed| {
            o.samples.iter().filter(|&&v| v > 1.0).count() as f32 / o.samples.len() as f32
        };
        // 90% of the wide input lies above 1: 45% of an even mixture.
        for o in [&ab, &ba] {
            assert!((share_wide(o) - 0.45).abs() < 0.02, "{}", share_wide(o));
        }
        let (p, q) = (
            ab.range(CalibMethod::Percentile(99.0)),
            ba.range(CalibMethod::Percentile(99.0)),
        );
        assert!((p.1 - q.1).abs() < 0.05 * p.1, "{p:?} vs {q:?}");
    }

    #[test]
    fn a_uniform_activation_keeps_its_whole_range() {
        let values: Vec<f32> = uniform(100_000).iter().map(|u| u * 2.0 - 0.5).collect();
        let o = observed(&values);
        for m in METHODS {
            let (lo, hi) = o.range(m);
            assert!(lo <= -0.49 && hi >= 1.47, "{m:?}: {lo}..{hi}");
        }
    }

    #[test]
    fn a_long_tail_is_clipped_and_mse_is_never_worse_than_minmax() {
        // Half exact zeros (a ReLU) and an exponential tail.
        // 60k values: fewer than the MSE search's subsample, so it sees all of them.
        let u = uniform(120_000);
        let values: Vec<f32> = u
            .chunks_exact(2)
            .map(|p| if p[0] < 0.5 { 0.0 } else { -(1.0 - p[1]).ln() })
            .collect();
        let o = observed(&values);
        let (_, max) = o.range(CalibMethod::MinMax);
        for m in METHODS {
            let (lo, hi) = o.range(m);
            assert_eq!(lo, 0.0, "{m:?}");
            assert!(hi <= max && hi > 0.4 * max, "{m:?}: {hi} of {max}");
            if matches!(m, CalibMethod::Percentile(_) | CalibMethod::Mse) {
                assert!(hi < max, "{m:?} keeps the lone maximum {max}");
            }
        }
        let (lo, hi) = o.range(CalibMethod::Mse);
        assert!(quant_mse(&values, lo, hi) <= quant_mse(&values, 0.0, max));
    }
}

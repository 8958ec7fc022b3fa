//! Empirical bias correction for int8 convolutions.
//!
//! Quantising a layer's weights and input shifts the mean of its output: rounding errors do
//! not average out channel by channel, and a clipped activation range loses the mass of its
//! tail. Through a deep network the shifts add up. Bias correction measures, for every
//! output channel of every int8 convolution, the mean pre-activation the int8 model computes
//! on the calibration inputs against the mean the fp32 model computes, and adds the
//! difference to the bias (Nagel et al., "Data-Free Quantization Through Weight Equalization
//! and Bias Correction", 2019, in its empirical form).
//!
//! The pre-activation mean needs no access to the pre-activation itself: a convolution is
//! linear, so its mean output over all output pixels is `sum(w[o, i, tap] * m[i, tap])` where
//! `m[i, tap]` is the mean input value that tap sees (padding counted as zero). The fp32
//! means come from the fp32 model's inputs to the layer; the int8 means from the int8
//! model's inputs to the layer, quantised the way the kernel quantises them, with the
//! dequantised int8 weights. The int8 model's inputs carry every upstream layer's error, so
//! the correction also cancels the mean error that arrives from upstream. Correcting a layer
//! changes what its successors see, so the measurement repeats for a few rounds.

use crate::graph::Graph;
use ocr_core::runtime::kernels::qgemm::quantize_one;
use ocr_core::runtime::op::{ActQuant, ConvParams, Op};
use ocr_core::runtime::{Model, Session, Tensor};
use std::collections::HashMap;

/// One int8 convolution's geometry and quantisation, as bias correction and GPTQ need them.
pub(crate) struct Layer {
    /// Node index in the int8 graph.
    pub(crate) node: usize,
    /// Input value name.
    pub(crate) input: String,
    /// Output channels, input channels per group, kernel height and width.
    pub(crate) m: usize,
    pub(crate) cg: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    /// Strides, pads, dilations and groups, as the runtime reads them.
    pub(crate) conv: ConvParams,
    /// fp32 weights `[m, cg, kh, kw]`.
    pub(crate) w_fp32: Vec<f32>,
    /// Dequantised int8 weights, same layout.
    pub(crate) w_int8: Vec<f32>,
    /// Input quantisation: one shared by every input channel, or one per input channel.
    pub(crate) x_quant: Vec<ActQuant>,
}

/// Per-(input channel, tap) sums of the values the taps see, and the number of output pixels.
#[derive(Clone, Default)]
struct TapSums {
    sums: Vec<f64>,
    pixels: f64,
}

/// A value as an int8 kernel whose input is quantised by `q` sees it: quantised, then
/// dequantised.
pub(crate) fn seen_by_kernel(q: &ActQuant, v: f32) -> f32 {
    let zp = q.zero_point as f32;
    let u = quantize_one(v, 1.0 / q.scale, zp) as f32;
    (u - zp) * q.scale
}

/// The int8 convolutions of `q` that have an fp32 counterpart (same node name) in `fp32`.
pub(crate) fn layers(fp32: &Graph, q: &Graph) -> Vec<Layer> {
    let fp32_weights = fp32.weights_by_node();
    let mut out = Vec::new();
    for (i, n) in q.nodes.iter().enumerate() {
        let Ok(Op::Conv(conv)) = Op::parse(n) else {
            continue;
        };
        let Some(aq) = conv.act_quant else {
            continue;
        };
        let (Some(x), Some(wq)) = (n.inputs[0], n.inputs[1]) else {
            continue;
        };
        let Some((shape, wi8, params)) = q.int8.get(&wq) else {
            continue;
        };
        let Some(&(fshape, wf)) = fp32_weights.get(n.name.as_str()) else {
            continue;
        };
        if shape.len() != 4 || fshape != shape.as_slice() {
            continue;
        }
        let (m, cg, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
        // A bias the correction can rewrite: none, or a constant with one value per channel.
        if let Some(Some(bv)) = n.inputs.get(2)
            && !matches!(q.const_f32(*bv), Some((_, d)) if d.len() == m)
        {
            continue;
        }
        let per = cg * kh * kw;
        let x_quant = if conv.channel_quant.is_empty() {
            vec![aq]
        } else {
            conv.channel_quant.clone()
        };
        let w_int8 = wi8
            .chunks_exact(per)
            .zip(&params.scales)
            .flat_map(|(row, &s)| row.iter().map(move |&v| v as f32 * s))
            .collect();
        out.push(Layer {
            node: i,
            input: q.names[x as usize].clone(),
            m,
            cg,
            kh,
            kw,
            conv,
            w_fp32: wf.to_vec(),
            w_int8,
            x_quant,
        });
    }
    out
}

impl Layer {
    /// The output size `(oh, ow)` of an `h x w` input, if the kernel fits.
    pub(crate) fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let span = |size: usize, k: usize, d: usize, p0: usize, p1: usize, s: usize| {
            (size + p0 + p1)
                .checked_sub(d * (k - 1) + 1)
                .map(|r| r / s + 1)
        };
        let c = &self.conv;
        Some((
            span(
                h,
                self.kh,
                c.dilations[0],
                c.pads[0],
                c.pads[2],
                c.strides[0],
            )?,
            span(
                w,
                self.kw,
                c.dilations[1],
                c.pads[1],
                c.pads[3],
                c.strides[1],
            )?,
        ))
    }

    /// The input row (`axis` 0) or column (`axis` 1) that kernel tap `tap` reads for output
    /// position `out`; outside `0..size` it is padding.
    pub(crate) fn input_at(&self, axis: usize, out: usize, tap: usize) -> isize {
        let c = &self.conv;
        (out * c.strides[axis] + tap * c.dilations[axis]) as isize - c.pads[axis] as isize
    }

    /// A value of input channel `ch` as the int8 kernel sees it: quantised with the layer's
    /// range for that channel, then dequantised.
    pub(crate) fn as_kernel_sees(&self, ch: usize, v: f32) -> f32 {
        seen_by_kernel(self.x_quant.get(ch).unwrap_or(&self.x_quant[0]), v)
    }

    /// Adds the tap sums of one `[N, C, H, W]` input (quantised and dequantised first when
    /// `quantised`) to `acc`.
    fn add(&self, shape: &[usize], data: &[f32], quantised: bool, acc: &mut TapSums) {
        let &[n, c, h, w] = shape else { return };
        if c != self.cg * self.conv.group || data.len() != n * c * h * w {
            return;
        }
        let Some((oh, ow)) = self.output_size(h, w) else {
            return;
        };
        let taps = self.kh * self.kw;
        acc.sums.resize(c * taps, 0.0);
        acc.pixels += (n * oh * ow) as f64;
        let mut plane = vec![0f32; h * w];
        for (p, src) in data.chunks_exact(h * w).enumerate() {
            let ch = p % c;
            if quantised {
                for (d, &v) in plane.iter_mut().zip(src) {
                    *d = self.as_kernel_sees(ch, v);
                }
            } else {
                plane.copy_from_slice(src);
            }
            // Column sums of the rows each tap row sees, then the columns each tap sees.
            for ky in 0..self.kh {
                let mut cols = vec![0f64; w];
                for oy in 0..oh {
                    let iy = self.input_at(0, oy, ky);
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let row = &plane[iy as usize * w..][..w];
                    for (s, &v) in cols.iter_mut().zip(row) {
                        *s += v as f64;
                    }
                }
                for kx in 0..self.kw {
                    let mut sum = 0f64;
                    for ox in 0..ow {
                        let ix = self.input_at(1, ox, kx);
                        if ix >= 0 && ix < w as isize {
                            sum += cols[ix as usize];
                        }
                    }
                    acc.sums[ch * taps + ky * self.kw + kx] += sum;
                }
            }
        }
    }

    /// Mean pre-activation (bias left out) of every output channel, for weights `w`.
    fn means(&self, w: &[f32], acc: &TapSums) -> Vec<f64> {
        let per = self.cg * self.kh * self.kw;
        let mg = self.m / self.conv.group.max(1);
        (0..self.m)
            .map(|o| {
                if acc.pixels == 0.0 {
                    return 0.0;
                }
                let g = o / mg.max(1);
                let m_in = &acc.sums[g * per..][..per];
                let row = &w[o * per..][..per];
                row.iter()
                    .zip(m_in)
                    .map(|(&wv, &s)| wv as f64 * s)
                    .sum::<f64>()
                    / acc.pixels
            })
            .collect()
    }
}

/// Runs `model` over `inputs` and accumulates every layer's tap sums.
fn tap_sums(
    model_bytes: &[u8],
    layers: &[Layer],
    inputs: &[Tensor],
    quantised: bool,
) -> Result<Vec<TapSums>, String> {
    let model = Model::from_bytes(model_bytes).map_err(|e| e.to_string())?;
    let mut by_value: HashMap<u32, Vec<usize>> = HashMap::new();
    for v in 0..model.value_count() as u32 {
        for (li, l) in layers.iter().enumerate() {
            if model.value_name(v) == l.input {
                by_value.entry(v).or_default().push(li);
            }
        }
    }
    let mut sums = vec![TapSums::default(); layers.len()];
    let mut session = Session::new(model);
    for x in inputs {
        session
            .run_observed(&[x], &mut |v, shape, data| {
                for &li in by_value.get(&v).map_or(&[][..], |l| l) {
                    layers[li].add(shape, data, quantised, &mut sums[li]);
                }
            })
            .map_err(|e| format!("bias correction run failed: {e}"))?;
    }
    Ok(sums)
}

/// What bias correction did to one layer in the last round.
#[derive(Debug, Clone)]
pub struct Correction {
    /// Convolution (node name).
    pub node: String,
    /// Mean absolute change of the channels' corrections in the last round (how far from
    /// settled the rounds left it).
    pub change: f32,
    /// Mean absolute correction of the channels' biases.
    pub total: f32,
}

/// Corrects the biases of `q`'s int8 convolutions so that their mean pre-activations on
/// `inputs` match the fp32 graph `fp32`'s (see the module documentation); `rounds`
/// measurements. Returns what changed per layer.
pub fn correct_biases(
    fp32: &Graph,
    q: &mut Graph,
    inputs: &[Tensor],
    rounds: usize,
) -> Result<Vec<Correction>, String> {
    let layers = layers(fp32, q);
    let fp32_bytes = ocr_core::runtime::format::encode(&fp32.to_def()?);
    let fp32_sums = tap_sums(&fp32_bytes, &layers, inputs, false)?;
    let target: Vec<Vec<f64>> = layers
        .iter()
        .zip(&fp32_sums)
        .map(|(l, s)| l.means(&l.w_fp32, s))
        .collect();
    // Each layer gets a bias constant of its own, which the rounds then set in place: the
    // original bias plus the latest measured difference (the measurement leaves the bias
    // out, so the difference is the whole correction, not an increment).
    let mut biases = Vec::with_capacity(layers.len());
    for l in &layers {
        let node = &q.nodes[l.node];
        let original = node
            .inputs
            .get(2)
            .copied()
            .flatten()
            .and_then(|v| q.const_f32(v))
            .map(|(_, d)| d.to_vec())
            .unwrap_or_else(|| vec![0.0; l.m]);
        let name = format!("{}.bias_corrected", node.name);
        let v = q.add_const_f32(&name, vec![l.m], original.clone());
        let node = &mut q.nodes[l.node];
        node.inputs.resize(3, None);
        node.inputs[2] = Some(v);
        biases.push((v, original));
    }
    let mut report: Vec<Correction> = layers
        .iter()
        .map(|l| Correction {
            node: q.nodes[l.node].name.clone(),
            change: 0.0,
            total: 0.0,
        })
        .collect();
    let mut current: Vec<Vec<f64>> = layers.iter().map(|l| vec![0.0; l.m]).collect();
    // Layer by layer in graph order, each measured after those before it are corrected:
    // correcting every layer from one run overshoots, since each correction moves what the
    // layers after it see.
    for _ in 0..rounds {
        for (li, l) in layers.iter().enumerate() {
            let bytes = ocr_core::runtime::format::encode(&q.to_def()?);
            let sums = tap_sums(&bytes, &layers[li..=li], inputs, true)?;
            if sums[0].pixels == 0.0 || fp32_sums[li].pixels == 0.0 {
                continue;
            }
            let got = l.means(&l.w_int8, &sums[0]);
            let (v, original) = &biases[li];
            let Some(ocr_core::runtime::static_eval::Info {
                data: Some(ocr_core::runtime::static_eval::Data::F32(bias)),
                ..
            }) = q.consts.get_mut(v)
            else {
                continue;
            };
            let (mut change, mut total) = (0f64, 0f64);
            for (o, b) in bias.iter_mut().enumerate() {
                let d = target[li][o] - got[o];
                *b = original[o] + d as f32;
                change += (d - current[li][o]).abs();
                total += d.abs();
                current[li][o] = d;
            }
            report[li].change = (change / l.m as f64) as f32;
            report[li].total = (total / l.m as f64) as f32;
        }
    }
    Ok(report)
}

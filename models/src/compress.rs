//! Model compression: arithmetic-coded int8 weights, and optionally fewer weight bits.
//!
//! [`compress`] re-encodes a model file. Losslessly it arithmetic-codes every int8 tensor
//! (tensor encoding 1, `models/FORMAT.md`). Lossy options shrink further:
//! - `fp32_weight_bits` stores the weights of layers that compute in fp32 (depthwise
//!   convolutions, MatMuls, layers the mixed-precision plan kept in fp32) as per-output-channel
//!   symmetric integer codes, dequantised to fp32 at load (encoding 2): the layer still computes
//!   in fp32, only its stored weights are rounded;
//! - `int8_weight_bits` re-quantises the weights of int8 convolutions to fewer levels (e.g. 4
//!   bits: codes in [-7, 7]) with new per-channel scales; the int8 kernels run them unchanged and
//!   the coder spends fewer bits on the smaller alphabet.
//!
//! Only tensors that feed a Conv, ConvTranspose or MatMul as their weight input, with at least
//! [`MIN_WEIGHTS`] elements, are ever rounded; biases, normalisation parameters and shape
//! constants stay exact.

use ocr_core::runtime::format::{self, ConstData, ConstDef, Encoding, ModelDef, QuantParams};
use std::collections::HashMap;

/// Weight tensors smaller than this are left exact: rounding them saves nothing that matters.
pub const MIN_WEIGHTS: usize = 256;

/// What [`compress`] may do.
#[derive(Debug, Clone, Default)]
pub struct CompressOptions {
    /// Store fp32 layers' weights as integer codes of this many bits (2..=8), dequantised at
    /// load. `None`: keep them exact.
    pub fp32_weight_bits: Option<u32>,
    /// Re-quantise int8 convolutions' weights to this many bits (2..=7). `None`: keep them.
    pub int8_weight_bits: Option<u32>,
    /// Layers (node names) whose weights stay as they are whatever the options above say.
    pub keep_exact: Vec<String>,
}

/// Sizes before and after, per storage class.
#[derive(Debug, Clone, Default)]
pub struct CompressReport {
    /// File size before.
    pub input_bytes: usize,
    /// File size after.
    pub output_bytes: usize,
    /// fp32 weight tensors stored as integer codes, and their element count.
    pub rounded_fp32: (usize, usize),
    /// int8 weight tensors re-quantised to fewer bits, and their element count.
    pub requantised_int8: (usize, usize),
    /// All int8 elements stored (coded) in the output.
    pub int8_elements: usize,
}

/// Which weight tensors feed which layer: constant value id -> (node name, channel axis).
fn weight_consumers(def: &ModelDef) -> HashMap<u32, (String, u32)> {
    let mut out = HashMap::new();
    for n in &def.nodes {
        let axis = match n.op.as_str() {
            "Conv" => Some(0),
            "ConvTranspose" => Some(1),
            "MatMul" => None, // the last axis, known from the shape
            _ => continue,
        };
        if let Some(Some(w)) = n.inputs.get(1) {
            out.insert(*w, (n.name.clone(), axis.unwrap_or(u32::MAX)));
        }
    }
    out
}

/// Symmetric per-channel quantisation of `values` (shape `shape`) along `axis` to codes in
/// `[-(2^(bits-1) - 1), 2^(bits-1) - 1]`.
fn quantise_per_channel(values: &[f32], shape: &[usize], axis: usize, bits: u32) -> ConstDef {
    let qmax = ((1i32 << (bits - 1)) - 1) as f32;
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
    let mut max_abs = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        max_abs[c] = max_abs[c].max(v.abs());
    }
    // A channel whose values already lie on a grid of at most `qmax` steps each way (what
    // GPTQ leaves, `crate::gptq`, possibly with fewer bits) keeps that grid exactly.
    let scales: Vec<f32> = max_abs
        .iter()
        .enumerate()
        .map(|(ch, &m)| {
            if m <= 0.0 {
                return 1.0;
            }
            let on_grid = |s: f32| {
                (0..values.len() / inner / channels).all(|outer| {
                    values[(outer * channels + ch) * inner..][..inner]
                        .iter()
                        .all(|&v| ((v / s) - (v / s).round()).abs() < 1e-3)
                })
            };
            // The fewest steps that fit, so the coder sees the smallest alphabet.
            (1..=qmax as i32)
                .map(|j| m / j as f32)
                .find(|&s| on_grid(s))
                .unwrap_or(m / qmax)
        })
        .collect();
    let codes = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v / scales[(i / inner) % channels])
                .round()
                .clamp(-qmax, qmax) as i8
        })
        .collect();
    ConstDef {
        value: 0,
        shape: shape.to_vec(),
        data: ConstData::I8(codes),
        quant: Some(QuantParams {
            axis: axis as u32,
            scales,
            zero_points: vec![0; channels],
        }),
    }
}

/// The real values of an int8 constant.
fn dequantised(codes: &[i8], shape: &[usize], q: &QuantParams) -> Vec<f32> {
    let axis = q.axis as usize;
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
    codes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let ch = if q.scales.len() == 1 {
                0
            } else {
                (i / inner) % channels
            };
            q.scales[ch] * (i32::from(c) - q.zero_points[ch]) as f32
        })
        .collect()
}

/// Re-encodes model bytes as `opts` says; the result is checked to load.
pub fn compress(bytes: &[u8], opts: &CompressOptions) -> Result<(Vec<u8>, CompressReport), String> {
    for (name, bits, range) in [
        ("fp32 weight bits", opts.fp32_weight_bits, 2..=8),
        ("int8 weight bits", opts.int8_weight_bits, 2..=7),
    ] {
        if let Some(b) = bits
            && !range.contains(&b)
        {
            return Err(format!("{name} must be in {range:?}, not {b}"));
        }
    }
    let mut def = format::decode(bytes).map_err(|e| e.to_string())?;
    let consumers = weight_consumers(&def);
    // A misspelt layer would otherwise be compressed like any other, silently.
    if let Some(unknown) = opts
        .keep_exact
        .iter()
        .find(|n| !consumers.values().any(|(layer, _)| layer == *n))
    {
        return Err(format!(
            "layer to keep exact '{unknown}': no layer of that name has weights in this model"
        ));
    }
    let mut report = CompressReport {
        input_bytes: bytes.len(),
        ..Default::default()
    };
    let mut encodings = vec![Encoding::Coded; def.constants.len()];
    for (i, c) in def.constants.iter_mut().enumerate() {
        let Some((layer, axis)) = consumers.get(&c.value) else {
            continue;
        };
        if c.data.len() < MIN_WEIGHTS || opts.keep_exact.contains(layer) || c.shape.is_empty() {
            continue;
        }
        let axis = if *axis == u32::MAX {
            c.shape.len() - 1
        } else {
            *axis as usize
        };
        if axis >= c.shape.len() {
            continue;
        }
        match (&c.data, &c.quant) {
            (ConstData::F32(v), None) => {
                if let Some(bits) = opts.fp32_weight_bits {
                    let mut q = quantise_per_channel(v, &c.shape, axis, bits);
                    q.value = c.value;
                    report.rounded_fp32.0 += 1;
                    report.rounded_fp32.1 += v.len();
                    *c = q;
                    encodings[i] = Encoding::CodedDequantised;
                }
            }
            (ConstData::I8(v), Some(q)) => {
                if let Some(bits) = opts.int8_weight_bits {
                    let real = dequantised(v, &c.shape, q);
                    let mut nq = quantise_per_channel(&real, &c.shape, q.axis as usize, bits);
                    nq.value = c.value;
                    report.requantised_int8.0 += 1;
                    report.requantised_int8.1 += v.len();
                    *c = nq;
                }
            }
            _ => {}
        }
    }
    report.int8_elements = def
        .constants
        .iter()
        .filter(|c| matches!(c.data, ConstData::I8(_)))
        .map(|c| c.data.len())
        .sum();
    if opts.fp32_weight_bits.is_some() || opts.int8_weight_bits.is_some() {
        let note = format!(
            "fp32 weights as {} codes ({} tensors), int8 conv weights at {} ({} tensors)",
            opts.fp32_weight_bits
                .map_or("exact".to_string(), |b| format!("{b}-bit")),
            report.rounded_fp32.0,
            opts.int8_weight_bits
                .map_or("8 bits".to_string(), |b| format!("{b} bits")),
            report.requantised_int8.0,
        );
        def.metadata.retain(|(k, _)| k != "kestrel.weight_storage");
        def.metadata.push(("kestrel.weight_storage".into(), note));
    }
    let out = format::encode_with(&def, |i| encodings[i]);
    ocr_core::runtime::Model::from_bytes(&out)
        .map_err(|e| format!("the compressed model does not load: {e}"))?;
    report.output_bytes = out.len();
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_codes_stay_in_range_and_reconstruct_the_maximum() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.1).collect();
        let q = quantise_per_channel(&values, &[4, 16], 0, 4);
        let ConstData::I8(codes) = &q.data else {
            panic!("int8 codes expected")
        };
        assert!(codes.iter().all(|c| (-7..=7).contains(c)));
        let back = dequantised(codes, &q.shape, q.quant.as_ref().unwrap());
        for ch in 0..4 {
            let row = &values[ch * 16..(ch + 1) * 16];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let step = max / 7.0;
            for (a, b) in row.iter().zip(&back[ch * 16..(ch + 1) * 16]) {
                assert!((a - b).abs() <= step / 2.0 + 1e-6, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn values_already_on_a_coarser_grid_keep_it_exactly() {
        // Two channels of 3-bit-like codes times a scale (largest code 3, not 127), and one
        // ordinary channel: at 8 bits the first two keep their codes, the third is rounded.
        let grid: Vec<f32> = [0, 1, -2, 3, -3, 2, 0, 1]
            .iter()
            .map(|&c| c as f32 * 0.37)
            .collect();
        let mut values = grid.clone();
        values.extend(grid.iter().map(|v| v * -0.5));
        values.extend((0..8).map(|i| (i as f32 * 0.731).sin()));
        let q = quantise_per_channel(&values, &[3, 8], 0, 8);
        let ConstData::I8(codes) = &q.data else {
            panic!("int8 codes expected")
        };
        assert_eq!(&codes[..8], &[0, 1, -2, 3, -3, 2, 0, 1]);
        assert_eq!(&codes[8..16], &[0, -1, 2, -3, 3, -2, 0, -1]);
        assert_eq!(codes[8..16].iter().map(|c| c.abs()).max(), Some(3));
        assert_eq!(codes[16..].iter().map(|c| c.abs()).max(), Some(127));
        let back = dequantised(codes, &q.shape, q.quant.as_ref().unwrap());
        for (a, b) in values[..16].iter().zip(&back) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}

//! The conversion pipeline: import -> optimise -> metadata -> encode.

use crate::graph::Graph;
use crate::passes::{self, Report};
use ocr_core::runtime::format::{self, SplitPointDef};
use ocr_core::runtime::model::Model;

/// Which of the OCR models a file is; sets its preprocessing metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// DB text detector.
    Det,
    /// CTC line recogniser.
    Rec,
    /// 0/180 line classifier.
    Cls,
}

impl ModelKind {
    /// Parses `det`, `rec` or `cls`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "det" => Some(ModelKind::Det),
            "rec" => Some(ModelKind::Rec),
            "cls" => Some(ModelKind::Cls),
            _ => None,
        }
    }

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Det => "det",
            ModelKind::Rec => "rec",
            ModelKind::Cls => "cls",
        }
    }

    /// The standard split points of the PP-OCR models: (name, ONNX value). A device runs the
    /// graph up to the value, a server the rest.
    fn default_split_points(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // The fused FPN features [N, 96, H/4, W/4] that feed the DB head.
            ModelKind::Det => &[("neck", "p2o.Concat.1")],
            // The backbone's pooled features [N, 480, 1, W/8] before the SVTR neck.
            ModelKind::Rec => &[("backbone", "p2o.AveragePool.1")],
            // The pooled features [N, 200, 1, 1] before the classifier's FC layer.
            ModelKind::Cls => &[("backbone", "pool2d_10.tmp_0")],
        }
    }

    /// Preprocessing metadata for the PP-OCR models (see `../shared/models-src/README.md`):
    /// BGR input, `(v/255 - mean) / std` per channel in tensor order.
    fn preprocessing(self) -> Vec<(&'static str, &'static str)> {
        let mut m = vec![
            ("preprocess.channel_order", "BGR"),
            ("preprocess.scale", "0.00392156862745098"),
        ];
        match self {
            ModelKind::Det => m.extend([
                ("preprocess.mean", "0.485,0.456,0.406"),
                ("preprocess.std", "0.229,0.224,0.225"),
                ("preprocess.size_multiple", "32"),
            ]),
            ModelKind::Rec => m.extend([
                ("preprocess.mean", "0.5,0.5,0.5"),
                ("preprocess.std", "0.5,0.5,0.5"),
                ("preprocess.height", "48"),
                ("preprocess.width_multiple", "8"),
            ]),
            ModelKind::Cls => m.extend([
                ("preprocess.mean", "0.5,0.5,0.5"),
                ("preprocess.std", "0.5,0.5,0.5"),
                ("preprocess.height", "48"),
                ("preprocess.width", "192"),
            ]),
        }
        m
    }
}

/// int8 quantisation settings.
#[derive(Debug, Clone)]
pub struct Int8Options {
    /// Calibration inputs (preprocessed model inputs, never images that are scored).
    pub calibration: Vec<ocr_core::runtime::Tensor>,
    /// How activation ranges are chosen.
    pub method: crate::quantize::CalibMethod,
    /// Quantise depthwise convolutions too (otherwise they stay fp32).
    pub depthwise: bool,
    /// Quantise matrix products with constant weights too (otherwise they stay fp32).
    pub matmul: bool,
    /// Layers (convolution or matrix product node names) to keep in fp32.
    pub keep_fp32: Vec<String>,
    /// Mixed precision: keep the most sensitive layers in fp32 until the share of decoded
    /// outputs (recognised lines, classifier decisions, detector pixels) that change on the
    /// calibration inputs is at most this (`None`: all int8 but `keep_fp32`).
    pub max_changed: Option<f32>,
    /// The sensitivity analysis runs on at most this many calibration inputs, evenly spread
    /// (`None`: all).
    pub sensitivity_inputs: Option<usize>,
    /// Rounds of empirical bias correction after quantisation (0: none; see
    /// [`crate::bias_correction`]).
    pub bias_correction: usize,
    /// Round the int8 weights with GPTQ (see [`crate::gptq`]) instead of to nearest, with
    /// these settings (`None`: nearest rounding at 8 bits).
    pub gptq: Option<crate::gptq::GptqOptions>,
    /// Remove whole channels before quantising, with these settings (see [`crate::prune`]);
    /// the ranges are then calibrated on the pruned model.
    pub pruning: Option<crate::prune::PruneOptions>,
}

impl Int8Options {
    /// Every convolution but the depthwise ones int8, weights rounded to nearest at 8 bits,
    /// ranges by `method` over `calibration`: no layer kept in fp32, no bias correction.
    pub fn new(
        calibration: Vec<ocr_core::runtime::Tensor>,
        method: crate::quantize::CalibMethod,
    ) -> Self {
        Int8Options {
            calibration,
            method,
            depthwise: false,
            matmul: false,
            keep_fp32: Vec::new(),
            max_changed: None,
            sensitivity_inputs: None,
            bias_correction: 0,
            gptq: None,
            pruning: None,
        }
    }
}

/// Options for [`convert`].
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Quantise convolutions to int8 with these settings.
    pub int8: Option<Int8Options>,
    /// The model's role, which sets preprocessing metadata.
    pub kind: Option<ModelKind>,
    /// A dictionary (one entry per line) to embed as the `charset` metadata.
    pub charset: Option<String>,
    /// Extra metadata entries.
    pub metadata: Vec<(String, String)>,
    /// Named split points: (name, ONNX value name).
    pub split_points: Vec<(String, String)>,
}

/// At most `m` of `inputs`, evenly spread (all of them for `None`).
fn spread(
    inputs: &[ocr_core::runtime::Tensor],
    m: Option<usize>,
) -> Vec<ocr_core::runtime::Tensor> {
    let n = inputs.len();
    match m {
        Some(m) if m > 0 && m < n => (0..m).map(|i| inputs[i * n / m].clone()).collect(),
        _ => inputs.to_vec(),
    }
}

/// Converts ONNX bytes into a Kestrel model file, returning the bytes and what the passes did.
/// The result is loaded back before returning, so a file that comes out always loads.
pub fn convert(onnx: &[u8], opts: &ConvertOptions) -> Result<(Vec<u8>, Report), String> {
    let mut g: Graph = crate::import::import(onnx)?;
    // Split points name values of the source graph; pin them before the passes run. The
    // kind's standard ones apply where the graph has the value (the PP-OCR models do).
    let defaults = opts.kind.map_or(&[][..], |k| k.default_split_points());
    for (name, value) in defaults {
        if let Some(v) = g.find(value) {
            g.split_points.push(SplitPointDef {
                name: name.to_string(),
                value: v,
            });
        }
    }
    for (name, value) in &opts.split_points {
        let v = g
            .find(value)
            .ok_or_else(|| format!("split point '{name}': no value '{value}' in the model"))?;
        g.split_points.push(SplitPointDef {
            name: name.clone(),
            value: v,
        });
    }
    let report = passes::optimise(&mut g)?;
    if let Some(kind) = opts.kind {
        g.metadata.push(("kestrel.kind".into(), kind.name().into()));
        for (k, v) in kind.preprocessing() {
            g.metadata.push((k.into(), v.into()));
        }
    }
    // The recogniser's ONNX metadata carries its dictionary under `character`.
    let charset = opts.charset.clone().or_else(|| {
        g.metadata
            .iter()
            .find(|(k, _)| k == "onnx.character")
            .map(|(_, v)| v.clone())
    });
    g.metadata.retain(|(k, _)| k != "onnx.character");
    if let Some(c) = charset {
        g.metadata
            .push(("charset".into(), c.trim_end_matches('\n').to_string()));
    }
    g.metadata.extend(opts.metadata.iter().cloned());
    let def = g.to_def()?;
    let mut bytes = format::encode(&def);
    if let Some(q) = &opts.int8 {
        if q.calibration.is_empty() {
            return Err("int8 conversion needs calibration inputs".into());
        }
        if let Some(p) = &q.pruning {
            let subset = spread(&q.calibration, q.sensitivity_inputs);
            let groups = crate::prune::prune_channels(&mut g, &subset, p)?;
            let table = crate::prune::pruning_table(&groups);
            let (before, after) = groups
                .iter()
                .fold((0, 0), |(b, a), p| (b + p.before, a + p.after));
            eprintln!(
                "channel pruning (each group pruned alone, {} calibration inputs; most \
                 sensitive first):\n{table}prunable channels {before} -> {after}",
                subset.len()
            );
            g.metadata.push(("kestrel.pruning".into(), table));
            bytes = format::encode(&g.to_def()?);
        }
        let stats = crate::quantize::calibrate(&bytes, &q.calibration, q.depthwise)?;
        let how = crate::quantize::QuantSettings {
            method: q.method,
            depthwise: q.depthwise,
            matmul: q.matmul,
        };
        let mut keep = q.keep_fp32.clone();
        if let Some(target) = q.max_changed {
            // The analysis runs each layer alone over these inputs: a spread-out subset keeps
            // it affordable on large detector inputs.
            let subset = spread(&q.calibration, q.sensitivity_inputs);
            let reference = crate::quantize::fp32_outputs(&g, &subset)?;
            let ranked = crate::quantize::sensitivity(&g, &stats, how, &subset, &reference)?;
            let table = crate::quantize::sensitivity_table(&ranked);
            eprintln!(
                "per-layer sensitivity (each layer int8 alone, the rest fp32; {} calibration inputs):\n{table}",
                subset.len()
            );
            let (chosen, changed) = crate::quantize::choose_fp32(
                &g,
                &stats,
                how,
                (&subset, &reference),
                &ranked,
                target,
            )?;
            eprintln!(
                "kept in fp32: {chosen:?} -> {:.3}% of decoded outputs change",
                100.0 * changed
            );
            g.metadata.push(("kestrel.sensitivity".into(), table));
            g.metadata.push((
                "kestrel.int8_changed".into(),
                format!("{changed:.5} (target {target})"),
            ));
            keep.extend(chosen);
        }
        let fp32_graph = (q.bias_correction > 0 || q.gptq.is_some()).then(|| g.clone());
        let qr = crate::quantize::quantize(&mut g, &stats, how, &keep)?;
        if let (Some(opts), Some(fp32_graph)) = (&q.gptq, &fp32_graph) {
            let report = crate::gptq::gptq(fp32_graph, &mut g, &q.calibration, opts)?;
            eprintln!(
                "GPTQ (per layer: weight bits, inputs per output, relative output error of \
                 nearest rounding and of GPTQ on the calibration inputs):"
            );
            for l in &report {
                eprintln!(
                    "  {:<32} {:>2} {:>6} {:>10.3e} {:>10.3e}",
                    l.node, l.bits, l.k, l.rtn_error, l.gptq_error
                );
            }
            let bits: Vec<String> = report
                .iter()
                .map(|l| format!("{}={}", l.node, l.bits))
                .collect();
            g.metadata.push((
                "kestrel.gptq".into(),
                format!(
                    "weight bits {}; over {} calibration inputs, dampening {}{}{}",
                    bits.join(","),
                    q.calibration.len(),
                    opts.damp,
                    opts.max_error
                        .map_or(String::new(), |e| format!(", bits chosen for error <= {e}")),
                    if opts.sparsity > 0.0 {
                        format!(", {} of the weights pruned", opts.sparsity)
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        if let Some(fp32_graph) = fp32_graph.filter(|_| q.bias_correction > 0) {
            let report = crate::bias_correction::correct_biases(
                &fp32_graph,
                &mut g,
                &q.calibration,
                q.bias_correction,
            )?;
            eprintln!(
                "bias correction, {} rounds (per layer: mean |change| in the last round, \
                 mean |correction|):",
                q.bias_correction
            );
            for c in &report {
                eprintln!("  {:<32} {:>10.3e} {:>10.3e}", c.node, c.change, c.total);
            }
            g.metadata.push((
                "kestrel.bias_correction".into(),
                format!(
                    "{} rounds over {} calibration inputs",
                    q.bias_correction,
                    q.calibration.len()
                ),
            ));
        }
        g.metadata
            .push(("kestrel.fp32_layers".into(), keep.join(",")));
        g.metadata.push(("kestrel.precision".into(), "int8".into()));
        let int8_matmuls = g
            .nodes
            .iter()
            .filter(|n| n.op == "MatMul" && qr.int8.iter().any(|(l, _, _)| *l == n.name))
            .count();
        let depthwise = qr
            .fp32
            .iter()
            .filter(|(_, why)| *why == "depthwise")
            .count();
        let others: Vec<String> = qr
            .fp32
            .iter()
            .filter(|(_, why)| *why != "depthwise")
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        g.metadata.push((
            "kestrel.quantisation".into(),
            format!(
                "{} convolutions{} int8; fp32: {depthwise} depthwise{}{}; \
                 activation ranges by {} over {} calibration inputs",
                qr.int8.len() - int8_matmuls,
                match int8_matmuls {
                    0 => String::new(),
                    n => format!(" and {n} matrix products"),
                },
                if others.is_empty() { "" } else { ", " },
                others.join(", "),
                q.method.name(),
                q.calibration.len()
            ),
        ));
        bytes = format::encode(&g.to_def()?);
    }
    Model::from_bytes(&bytes).map_err(|e| format!("converted model does not load: {e}"))?;
    Ok((bytes, report))
}

//! Golden tests: our fp32 runtime against onnxruntime fp32 on real images.
//!
//! Fixtures come from `testdata/golden/make_fixtures.py` (onnxruntime). Inputs are rebuilt here
//! from the same PNG files with the same integer nearest-neighbour resize.

mod common;

use ocr_core::runtime::kernels::KernelSet;
use ocr_core::runtime::{Model, Session, Tensor, Threads};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Deserialize)]
struct Index {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    case: String,
    model: String,
    images: Vec<Vec<String>>,
    height: usize,
    width: usize,
    resized_widths: Vec<usize>,
    output_shape: Vec<usize>,
    tolerance: f32,
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(golden_dir().join("cases.json")).expect("cases.json");
    serde_json::from_str::<Index>(&text)
        .expect("parse cases.json")
        .cases
}

/// An image as (height, width, BGR bytes).
type Bgr = (usize, usize, Vec<u8>);

/// Decodes a PNG to BGR, dropping any alpha channel (as the generator does).
fn load_bgr(rel: &str) -> Bgr {
    let path = common::shared().join("eval/dev").join(rel);
    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bgr: Vec<u8> = match &img {
        image::DynamicImage::ImageRgb8(rgb) => {
            rgb.pixels().flat_map(|p| [p[2], p[1], p[0]]).collect()
        }
        image::DynamicImage::ImageRgba8(rgba) => {
            rgba.pixels().flat_map(|p| [p[2], p[1], p[0]]).collect()
        }
        other => panic!(
            "{}: fixtures use RGB/RGBA PNGs, got {:?}",
            path.display(),
            other.color()
        ),
    };
    (img.height() as usize, img.width() as usize, bgr)
}

/// A line at height `h`: segments side by side at their aspect widths, squeezed to `w` if
/// wider (the generator's `line_image`).
fn line_image(paths: &[String], h: usize, w: usize) -> Bgr {
    let segs: Vec<Bgr> = paths
        .iter()
        .map(|p| {
            let img = load_bgr(p);
            let sw = (h * img.1).div_ceil(img.0);
            (h, sw, resize_nearest(&img, h, sw))
        })
        .collect();
    let total: usize = segs.iter().map(|s| s.1).sum();
    let mut line = Vec::with_capacity(h * total * 3);
    for y in 0..h {
        for s in &segs {
            line.extend_from_slice(&s.2[y * s.1 * 3..(y + 1) * s.1 * 3]);
        }
    }
    let line = (h, total, line);
    let rw = total.min(w);
    (h, rw, resize_nearest(&line, h, rw))
}

/// Integer nearest-neighbour resize, as the fixture generator does it.
fn resize_nearest(src: &Bgr, h: usize, w: usize) -> Vec<u8> {
    let (ih, iw, data) = src;
    let mut out = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        let sy = y * ih / h;
        for x in 0..w {
            let sx = x * iw / w;
            out.extend_from_slice(&data[(sy * iw + sx) * 3..(sy * iw + sx) * 3 + 3]);
        }
    }
    out
}

/// Builds the NCHW input tensor of a case.
fn build_input(c: &Case) -> Tensor {
    let (mean, std) = if c.model == "det" {
        ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225])
    } else {
        ([0.5f32; 3], [0.5f32; 3])
    };
    let (h, w) = (c.height, c.width);
    let mut data = vec![0f32; c.images.len() * 3 * h * w];
    for (b, (segments, &rw)) in c.images.iter().zip(&c.resized_widths).enumerate() {
        let px = if c.model == "det" {
            resize_nearest(&load_bgr(&segments[0]), h, w)
        } else {
            let (_, lw, px) = line_image(segments, h, w);
            assert_eq!(lw, rw, "{}: line width", c.case);
            px
        };
        for ch in 0..3 {
            for y in 0..h {
                for x in 0..rw {
                    let v = px[(y * rw + x) * 3 + ch] as f32 / 255.0;
                    data[((b * 3 + ch) * h + y) * w + x] = (v - mean[ch]) / std[ch];
                }
            }
        }
    }
    Tensor::new(vec![c.images.len(), 3, h, w], data).unwrap()
}

struct Fixture {
    probs: Vec<f32>,
    argmax: Option<Vec<i32>>,
}

fn load_fixture(case: &str) -> Fixture {
    let mut npz =
        npyz::npz::NpzArchive::open(golden_dir().join(format!("{case}.npz"))).expect("open npz");
    let probs = npz
        .by_name("probs_u16")
        .expect("read npz")
        .expect("probs_u16")
        .into_vec::<u16>()
        .expect("u16")
        .into_iter()
        .map(|q| q as f32 / 65535.0)
        .collect();
    let argmax = npz
        .by_name("argmax")
        .expect("read npz")
        .map(|a| a.into_vec::<i32>().expect("i32"));
    Fixture { probs, argmax }
}

fn argmax_last(t: &Tensor) -> Vec<i32> {
    let d = *t.shape().last().unwrap();
    t.data()
        .chunks_exact(d)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best as i32
        })
        .collect()
}

/// The fixture's u16 rounding, added to each case's tolerance.
const ROUNDING: f32 = 0.5 / 65535.0;

fn check_case(model: &Arc<Model>, c: &Case, threads: usize) -> Tensor {
    let x = build_input(c);
    let mut s = Session::with_threads(model.clone(), Threads::new(threads).unwrap());
    let y = s.run(&[&x]).unwrap().remove(0);
    assert_eq!(
        y.shape(),
        c.output_shape.as_slice(),
        "{}: output shape",
        c.case
    );
    let f = load_fixture(&c.case);
    let max_err = y
        .data()
        .iter()
        .zip(&f.probs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let tol = c.tolerance + ROUNDING;
    assert!(
        max_err <= tol,
        "{}: max abs error {max_err} > {tol}",
        c.case
    );
    if let Some(want) = &f.argmax {
        assert_eq!(
            &argmax_last(&y),
            want,
            "{}: argmax sequence differs",
            c.case
        );
    }
    eprintln!(
        "{}: max abs error {max_err:.2e} ({} threads, {})",
        c.case,
        threads,
        model.kernels().name
    );
    y
}

#[test]
fn every_case_matches_onnxruntime() {
    let cases = cases();
    assert!(
        cases.len() >= 10,
        "fixture index lists {} cases",
        cases.len()
    );
    // Only the documented ill-conditioned case may widen the tolerance.
    assert_eq!(cases.iter().filter(|c| c.tolerance > 1e-4).count(), 1);
    for kind in ["det", "rec", "cls"] {
        let model = Arc::new(common::model(kind));
        for c in cases.iter().filter(|c| c.model == kind) {
            let one = check_case(&model, c, 1);
            // Results must not depend on the thread count.
            let two = check_case(&model, c, 2);
            assert_eq!(one.data(), two.data(), "{}: 1 vs 2 threads differ", c.case);
        }
    }
}

/// The scalar reference kernels give the same answers as the dispatched SIMD ones.
#[test]
fn scalar_reference_matches_onnxruntime() {
    let def = ocr_core::runtime::format::decode(common::model_bytes("rec")).unwrap();
    let model = Arc::new(Model::from_def_with_kernels(def, KernelSet::scalar()).unwrap());
    let cases = cases();
    let c = cases
        .iter()
        .find(|c| c.case == "rec_48x320_b1")
        .expect("case");
    check_case(&model, c, 1);
}

/// The classifier's calibration inputs in the int8 tests: the images of one case, one by one.
fn cls_calibration() -> Vec<Tensor> {
    let cases = cases();
    let c = cases
        .iter()
        .find(|c| c.case == "cls_48x192_b4")
        .expect("case");
    let x = build_input(c);
    let per: usize = x.shape()[1..].iter().product();
    x.data()
        .chunks_exact(per)
        .map(|d| {
            let mut shape = x.shape().to_vec();
            shape[0] = 1;
            Tensor::new(shape, d.to_vec()).unwrap()
        })
        .collect()
}

/// The classifier quantised to int8 by nearest rounding on [`cls_calibration`], its MatMul
/// too if `int8_matmul`: (the fp32 graph, its bytes, the int8 graph, the quantisation report,
/// the calibration inputs).
fn quantised_classifier(
    int8_matmul: bool,
) -> (
    ocr_models::graph::Graph,
    Vec<u8>,
    ocr_models::graph::Graph,
    ocr_models::quantize::QuantReport,
    Vec<Tensor>,
) {
    let calibration = cls_calibration();
    let onnx = std::fs::read(common::onnx_path("cls")).unwrap();
    let mut g = ocr_models::import::import(&onnx).unwrap();
    ocr_models::passes::optimise(&mut g).unwrap();
    let fp32 = g.clone();
    let bytes = ocr_core::runtime::format::encode(&g.to_def().unwrap());
    let stats = ocr_models::quantize::calibrate(&bytes, &calibration, false).unwrap();
    let how = ocr_models::quantize::QuantSettings {
        method: ocr_models::quantize::CalibMethod::Percentile(99.99),
        depthwise: false,
        matmul: int8_matmul,
    };
    let quantised = ocr_models::quantize::quantize(&mut g, &stats, how, &[]).unwrap();
    (fp32, bytes, g, quantised, calibration)
}

/// Bias correction on the classifier: every int8 convolution gets a correction, and a second
/// round, after every layer's has been applied in graph order, finds the int8 layers' mean
/// outputs already at the fp32 model's (little left to change).
#[test]
fn bias_correction_settles_every_layer() {
    let (fp32, _, mut g, quantised, calibration) = quantised_classifier(false);
    let report =
        ocr_models::bias_correction::correct_biases(&fp32, &mut g, &calibration, 2).unwrap();
    assert_eq!(report.len(), quantised.int8.len());
    for c in &report {
        assert!(c.total > 0.0, "{}: no correction", c.node);
        assert!(
            c.change <= 0.1 * c.total,
            "{}: the second round still moved the correction by {} (of {})",
            c.node,
            c.change,
            c.total
        );
    }
    // The corrected model still loads and runs.
    let model = Model::from_bytes(&ocr_core::runtime::format::encode(&g.to_def().unwrap()));
    let y = Session::new(model.unwrap())
        .run(&[&calibration[0]])
        .unwrap();
    assert!(y[0].data().iter().all(|v| v.is_finite()));
}

/// The int8 path end to end on the classifier: quantise with calibration inputs from one case,
/// score another, with depthwise convolutions fp32 and int8. Probabilities move but the
/// decision must not.
#[test]
fn int8_classifier_stays_close_to_fp32() {
    let cases = cases();
    let calibration = cls_calibration();
    let onnx = std::fs::read(common::onnx_path("cls")).unwrap();
    let c = cases
        .iter()
        .find(|c| c.case == "cls_48x192_b1")
        .expect("case");
    let f = load_fixture(&c.case);
    let mut int8_convs = Vec::new();
    for depthwise in [false, true] {
        let opts = ocr_models::ConvertOptions {
            kind: ocr_models::ModelKind::parse("cls"),
            int8: Some(ocr_models::Int8Options {
                depthwise,
                ..ocr_models::Int8Options::new(
                    calibration.clone(),
                    ocr_models::quantize::CalibMethod::Percentile(99.99),
                )
            }),
            ..Default::default()
        };
        let (bytes, _) = ocr_models::convert(&onnx, &opts).unwrap();
        let model = Arc::new(Model::from_bytes(&bytes).unwrap());
        int8_convs.push(model.int8_convs());
        // Depthwise inputs are quantised per channel.
        let def = ocr_core::runtime::format::decode(&bytes).unwrap();
        let per_channel = def.nodes.iter().filter(|n| n.attr("x_scales").is_some());
        assert_eq!(per_channel.count() > 0, depthwise);
        assert_eq!(model.meta("kestrel.precision"), Some("int8"));
        let quantisation = model.meta("kestrel.quantisation").unwrap();
        assert_eq!(
            quantisation.contains("fp32: 0 depthwise"),
            depthwise,
            "{quantisation}"
        );
        let y = Session::new(model)
            .run(&[&build_input(c)])
            .unwrap()
            .remove(0);
        let err = y
            .data()
            .iter()
            .zip(&f.probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // A gross-error bound (a broken kernel or scale moves probabilities by ~0.5);
        // measured with percentile calibration on these four crops: 0.102 with depthwise
        // fp32, 0.095 with it int8. The decision is what must hold.
        assert!(
            err < 0.15,
            "depthwise int8 {depthwise}: probabilities differ by {err}"
        );
        assert_eq!(argmax_last(&y), *f.argmax.as_ref().unwrap());
    }
    // Every convolution but the depthwise ones, then every one.
    assert!(int8_convs[0] > 10, "{int8_convs:?}");
    assert!(int8_convs[1] > int8_convs[0], "{int8_convs:?}");
}

/// Channel pruning through the converter on the classifier (real line crops): groups are
/// pruned only while no decision on the calibration inputs changes, the file keeps the
/// report, the convolutions' weights shrink, and the int8 model, calibrated after pruning,
/// still decides the fixture's line as onnxruntime's fp32 model does.
#[test]
fn channel_pruning_shrinks_the_classifier_and_keeps_its_decisions() {
    let cases = cases();
    let calibration = cls_calibration();
    let onnx = std::fs::read(common::onnx_path("cls")).unwrap();
    let conv_weights = |bytes: &[u8]| -> usize {
        let def = ocr_core::runtime::format::decode(bytes).unwrap();
        def.nodes
            .iter()
            .filter(|n| n.op.starts_with("Conv") || n.op.starts_with("QConv"))
            .filter_map(|n| n.inputs.get(1).copied().flatten())
            .filter_map(|w| def.constants.iter().find(|c| c.value == w))
            .map(|c| c.shape.iter().product::<usize>())
            .sum()
    };
    let convert = |pruning| {
        let opts = ocr_models::ConvertOptions {
            kind: ocr_models::ModelKind::parse("cls"),
            int8: Some(ocr_models::Int8Options {
                pruning,
                ..ocr_models::Int8Options::new(
                    calibration.clone(),
                    ocr_models::quantize::CalibMethod::Percentile(99.99),
                )
            }),
            ..Default::default()
        };
        ocr_models::convert(&onnx, &opts).unwrap().0
    };
    let whole = convert(None);
    let pruned = convert(Some(ocr_models::prune::PruneOptions {
        share: 0.5,
        max_changed: Some(0.0),
    }));
    let model = Arc::new(Model::from_bytes(&pruned).unwrap());
    let report = model.meta("kestrel.pruning").expect("pruning report");
    // The table lists every prunable group (the classifier has 13), some of them pruned.
    assert!(report.lines().count() > 10, "{report}");
    let (before, after) = (conv_weights(&whole), conv_weights(&pruned));
    assert!(
        after < before * 95 / 100,
        "weights {before} -> {after}:\n{report}"
    );
    let mut session = Session::new(model.clone());
    let mut reference = Session::new(Arc::new(
        Model::from_bytes(common::model_bytes("cls")).unwrap(),
    ));
    for x in &calibration {
        let (p, r) = (
            session.run(&[x]).unwrap().remove(0),
            reference.run(&[x]).unwrap().remove(0),
        );
        assert_eq!(argmax_last(&p), argmax_last(&r));
    }
    let c = cases.iter().find(|c| c.case == "cls_48x192_b1").unwrap();
    let y = session.run(&[&build_input(c)]).unwrap().remove(0);
    assert_eq!(
        argmax_last(&y),
        *load_fixture(&c.case).argmax.as_ref().unwrap()
    );
}

/// GPTQ on the classifier at 6 bits, its fp32 MatMul included: on the calibration inputs every
/// layer's output error is below nearest rounding's at the same bits, the codes use 6 bits,
/// the MatMul's stored values lie on its per-column grid, and the classifier's decisions on
/// the fixture crops are fp32's.
#[test]
fn gptq_rounds_better_than_nearest_and_keeps_the_decisions() {
    check_gptq(false);
}

/// The same with the MatMul int8 (`--int8-matmul`): GPTQ rounds its int8 codes (6-bit levels,
/// error below nearest rounding's, weighed on the inputs as the int8 kernel sees them) in
/// place, and it stays an int8 product.
#[test]
fn gptq_rounds_int8_matrix_products() {
    check_gptq(true);
}

fn check_gptq(int8_matmul: bool) {
    let (fp32, bytes, mut g, quantised, calibration) = quantised_classifier(int8_matmul);
    if int8_matmul {
        assert!(quantised.int8.iter().any(|(n, ..)| n.contains("MatMul")));
    }
    let opts = ocr_models::gptq::GptqOptions {
        bits: 6,
        matmul_bits: Some(6),
        ..Default::default()
    };
    let report = ocr_models::gptq::gptq(&fp32, &mut g, &calibration, &opts).unwrap();
    // Every int8 convolution and the one MatMul (int8 or not).
    assert_eq!(
        report.len(),
        quantised.int8.len() + usize::from(!int8_matmul)
    );
    assert!(report.iter().any(|l| l.node.contains("MatMul")));
    for l in &report {
        assert_eq!(l.bits, 6);
        // With a handful of inputs per output there may be nothing to compensate.
        let better = if l.k >= 16 {
            l.gptq_error < l.rtn_error
        } else {
            l.gptq_error <= l.rtn_error * (1.0 + 1e-9)
        };
        assert!(
            better,
            "{} (k {}): GPTQ {:.3e} vs nearest {:.3e}",
            l.node, l.k, l.gptq_error, l.rtn_error
        );
    }
    for (_, codes, _) in g.int8.values() {
        assert!(codes.iter().all(|c| (-31..=31).contains(c)));
    }
    let matmul = g.nodes.iter().find(|n| n.op == "MatMul").expect("a MatMul");
    let weights = matmul.inputs[1].unwrap();
    // The rounded `[k, n]` matrix as the runtime reads it (codes times per-column scales).
    let (cols, rounded): (usize, Vec<f32>) = if int8_matmul {
        // Its codes were checked with the others above.
        let (shape, codes, params) = g.int8.get(&weights).expect("the MatMul stays int8");
        let n = shape[shape.len() - 1];
        let w = codes.iter().enumerate();
        (
            n,
            w.map(|(i, &c)| c as f32 * params.scales[i % n]).collect(),
        )
    } else {
        let (shape, b) = g
            .const_f32(weights)
            .expect("an fp32 MatMul keeps fp32 weights");
        (shape[1], b.to_vec())
    };
    for o in 0..cols {
        let col: Vec<f32> = rounded.iter().skip(o).step_by(cols).copied().collect();
        let amax = col.iter().fold(0f32, |m, v| m.max(v.abs()));
        let on_grid = (1..=31).any(|j| {
            let s = amax / j as f32;
            col.iter().all(|v| (v / s - (v / s).round()).abs() < 1e-3)
        });
        assert!(on_grid, "MatMul column {o} is not on a 6-bit grid");
    }
    // Close to the fp32 weights in the same layout (a transposed write would not be).
    let (_, source) = fp32.weights_by_node()[matmul.name.as_str()];
    let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
    let diff = norm(&mut rounded.iter().zip(source).map(|(a, b)| a - b));
    let relative = diff / norm(&mut source.iter().copied());
    assert!(
        relative < 0.1,
        "rounded MatMul weights off by {relative:.3} of their norm"
    );
    let mut reference = Session::new(Model::from_bytes(&bytes).unwrap());
    let mut rounded = Session::new(
        Model::from_bytes(&ocr_core::runtime::format::encode(&g.to_def().unwrap())).unwrap(),
    );
    for c in cases().iter().filter(|c| c.model == "cls") {
        let x = build_input(c);
        let want = argmax_last(&reference.run(&[&x]).unwrap()[0]);
        let got = argmax_last(&rounded.run(&[&x]).unwrap()[0]);
        assert_eq!(got, want, "{}", c.case);
    }
}

/// Chained int8 layers (u8 codes between consecutive int8 convolutions, the default) give the
/// committed int8 models' outputs bit for bit as passing fp32 tensors does, on every golden
/// case, one and two threads, batches included; and each model does chain some layers.
#[test]
fn chained_int8_layers_change_no_result() {
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zoo");
    let cases = cases();
    for (kind, file) in [
        ("det", "ppocrv4-det-int8.kmod"),
        ("rec", "ppocrv4-rec-int8.kmod"),
        ("cls", "ppocr-mobile-v2-cls-int8.kmod"),
    ] {
        let model = Arc::new(Model::load(zoo.join(file)).unwrap());
        let coded = ocr_core::runtime::plan::coded_values(&model, true);
        let chained = coded.iter().flatten().count();
        assert!(chained > 0, "{file}: no int8 layer chained");
        for c in cases.iter().filter(|c| c.model == kind) {
            let x = build_input(c);
            for threads in [1, 2] {
                let mut s = Session::with_threads(model.clone(), Threads::new(threads).unwrap());
                let with = s.run(&[&x]).unwrap().remove(0);
                s.set_int8_chaining(false);
                let without = s.run(&[&x]).unwrap().remove(0);
                let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert!(
                    bits(&with) == bits(&without),
                    "{}: {threads} threads, chained and unchained outputs differ",
                    c.case
                );
            }
        }
        eprintln!("{file}: {chained} values chained");
    }
}

/// CTC's reading of a `[N, T, C]` output: each line's class sequence, repeats merged and
/// blanks (class 0) dropped.
fn ctc_lines(argmax: &[i32], steps: usize) -> Vec<Vec<i32>> {
    argmax.chunks(steps).map(ocr_core::ctc::collapse).collect()
}

/// Levenshtein distance between two class sequences.
fn edits(a: &[i32], b: &[i32]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let next = (diag + usize::from(x != y))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The committed int8 recogniser runs its constant-weight matrix products (attention
/// projections, MLPs, the 120x6625 CTC head) on the int8 GEMM, and reads the golden lines
/// nearly as onnxruntime's fp32 model does: int8 rounding tips the odd near tie (the
/// random-character line, unlike any real text, has several), where a broken kernel, scale
/// or layout would garble every line.
#[test]
fn int8_recogniser_runs_its_matrix_products_in_int8() {
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zoo");
    let model = Arc::new(Model::load(zoo.join("ppocrv4-rec-int8.kmod")).unwrap());
    assert_eq!(model.int8_matmuls(), 9, "int8 matrix products");
    let q = model.meta("kestrel.quantisation").unwrap();
    assert!(q.contains("9 matrix products int8"), "{q}");
    let (mut errors, mut chars) = (0, 0);
    for c in cases().iter().filter(|c| c.model == "rec") {
        let f = load_fixture(&c.case);
        let y = Session::new(model.clone())
            .run(&[&build_input(c)])
            .unwrap()
            .remove(0);
        let steps = y.shape()[1];
        let want = ctc_lines(
            f.argmax.as_ref().expect("rec fixtures keep the argmax"),
            steps,
        );
        let got = ctc_lines(&argmax_last(&y), steps);
        for (g, w) in got.iter().zip(&want) {
            let e = edits(g, w);
            eprintln!("{}: {e} of {} characters differ", c.case, w.len());
            // (A fifth of the random-character line: the fp32 parts round differently on
            // each kernel set, NEON included, which can tip one more near tie.)
            assert!(e <= 2.max(w.len() / 5), "{}: {g:?} vs {w:?}", c.case);
            errors += e;
            chars += w.len();
        }
    }
    assert!(chars >= 90, "{chars} characters");
    assert!(
        errors * 100 <= 5 * chars,
        "{errors} of {chars} characters differ"
    );
}

//! Shared helpers for the model tests: paths to `../shared`, converted models, fixtures.
#![allow(dead_code)]

use ocr_core::runtime::Model;
use ocr_models::{ConvertOptions, ModelKind};
use std::path::PathBuf;
use std::sync::OnceLock;

/// `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The source ONNX file of a model kind.
pub fn onnx_path(kind: &str) -> PathBuf {
    let file = match kind {
        "det" => "ch_PP-OCRv4_det_infer.onnx",
        "rec" => "ch_PP-OCRv4_rec_infer.onnx",
        "cls" => "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        other => panic!("unknown model kind {other}"),
    };
    shared().join("models-src").join(file)
}

/// The converted model file bytes of a kind (converted once per test binary).
pub fn model_bytes(kind: &str) -> &'static [u8] {
    static CACHE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        ["det", "rec", "cls"]
            .iter()
            .map(|k| {
                let onnx = std::fs::read(onnx_path(k)).expect("read source model");
                let opts = ConvertOptions {
                    kind: ModelKind::parse(k),
                    ..Default::default()
                };
                let (bytes, _) = ocr_models::convert(&onnx, &opts).expect("convert");
                (k.to_string(), bytes)
            })
            .collect()
    });
    &all.iter().find(|(k, _)| k == kind).expect("kind").1
}

/// A loaded converted model.
pub fn model(kind: &str) -> Model {
    Model::from_bytes(model_bytes(kind)).expect("load converted model")
}

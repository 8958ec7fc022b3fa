//! The committed model files are exactly what the converter makes from the source models, so
//! they can never drift from the code that reads them.

mod common;

use std::path::PathBuf;

fn zoo(file: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run models/build_zoo.sh)", p.display()))
}

#[test]
fn committed_fp32_models_match_a_fresh_conversion() {
    for (kind, file) in [
        ("det", "ppocrv4-det-fp32.kmod"),
        ("rec", "ppocrv4-rec-fp32.kmod"),
        ("cls", "ppocr-mobile-v2-cls-fp32.kmod"),
    ] {
        let committed = zoo(file);
        assert!(
            committed == common::model_bytes(kind),
            "{file} differs from a fresh conversion: run models/build_zoo.sh"
        );
        let model = ocr_core::runtime::Model::from_bytes(&committed).unwrap();
        assert_eq!(model.meta("kestrel.kind"), Some(kind));
        assert!(
            !model.split_points().is_empty(),
            "{file} has no split points"
        );
    }
}

#[test]
fn recogniser_carries_its_dictionary() {
    let model = ocr_core::runtime::Model::from_bytes(&zoo("ppocrv4-rec-fp32.kmod")).unwrap();
    let charset =
        ocr_charset::Charset::from_dictionary(model.meta("charset").expect("charset")).unwrap();
    let outputs = model.outputs()[0].dims.last().cloned();
    assert_eq!(
        outputs,
        Some(ocr_core::runtime::format::Dim::Fixed(
            charset.num_classes() as u64
        ))
    );
}

#[test]
fn compact_set_is_under_fifteen_percent_of_the_onnx_sources() {
    // The compact set's three files against the three source ONNX files: 2.41 MB of 16.19 MB
    // (14.9%) when committed, the detector channel-pruned; the goal is a tenth.
    let onnx: u64 = ["det", "rec", "cls"]
        .iter()
        .map(|k| std::fs::metadata(common::onnx_path(k)).unwrap().len())
        .sum();
    let mut compact = 0u64;
    for (kind, file) in [
        ("det", "ppocrv4-det-compact.kmod"),
        ("rec", "ppocrv4-rec-compact.kmod"),
        ("cls", "ppocr-mobile-v2-cls-compact.kmod"),
    ] {
        let bytes = zoo(file);
        compact += bytes.len() as u64;
        let model = ocr_core::runtime::Model::from_bytes(&bytes).unwrap();
        assert_eq!(model.meta("kestrel.kind"), Some(kind));
        assert_eq!(model.meta("kestrel.precision"), Some("int8"));
        assert!(model.meta("kestrel.gptq").is_some(), "{file}: no GPTQ plan");
        if kind == "det" {
            assert!(
                model.meta("kestrel.pruning").is_some(),
                "{file}: not pruned"
            );
        }
        if kind == "rec" {
            // Its attention, MLPs and CTC head run on the int8 GEMM, GPTQ-rounded.
            assert_eq!(model.int8_matmuls(), 9, "{file}");
            let plan = model.meta("kestrel.gptq").unwrap();
            assert_eq!(plan.matches("MatMul").count(), 9, "{plan}");
        }
    }
    assert!(
        compact * 20 <= onnx * 3,
        "compact set {compact} bytes, ONNX sources {onnx}"
    );
}

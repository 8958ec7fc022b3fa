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

//! Kestrel's model toolchain: ONNX import, graph passes and conversion into the Kestrel model
//! format (see `models/FORMAT.md`).

pub mod bias_correction;
pub mod compress;
pub mod convert;
pub mod gptq;
pub mod graph;
pub mod import;
pub mod passes;
pub mod prune;
pub mod quantize;

/// Types generated from `proto/onnx_subset.proto`.
#[allow(missing_docs, clippy::all)]
pub mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use convert::{ConvertOptions, Int8Options, ModelKind, convert};

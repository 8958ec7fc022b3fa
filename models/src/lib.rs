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

/// Deterministic numbers in [-1, 1) for the unit tests (xorshift).
#[cfg(test)]
pub(crate) fn test_noise(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

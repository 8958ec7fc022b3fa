//! Kestrel OCR engine core.
//!
//! [`runtime`] is a small inference runtime (tensors, a planned graph, fp32 kernels with
//! run-time SIMD dispatch) that knows nothing of OCR. It builds as `no_std` + `alloc`; the
//! `std` feature adds threads, file loading and memory mapping.
//!
//! [`ocr`] (feature `pipeline`) is the OCR engine on top of it, one module per stage:
//! decode -> detect -> boxes -> rectify -> classify -> recognise -> text.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod ctc;
pub mod pixels;
pub mod runtime;

#[cfg(feature = "pipeline")]
pub mod ocr;

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

/// Formats a runtime error message. With the `static-messages` feature (the size-first SDK) the
/// message is the format string itself, placeholders unfilled: `core::fmt` and its integer and
/// float formatting then stay out of the library.
#[cfg(not(feature = "static-messages"))]
macro_rules! msg {
    ($($t:tt)*) => { alloc::format!($($t)*) };
}
#[cfg(feature = "static-messages")]
macro_rules! msg {
    ($fmt:literal $($rest:tt)*) => {{
        // Type-checks the arguments (and uses them); the unused `Arguments` is optimised out.
        let _ = format_args!($fmt $($rest)*);
        alloc::string::String::from($fmt)
    }};
}

pub mod ctc;
pub mod pixels;
pub mod runtime;

#[cfg(feature = "pipeline")]
pub mod ocr;

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
/// message is the format string with each placeholder shown as `_` ([`unfilled`]): `core::fmt`
/// and its integer and float formatting then stay out of the library.
#[cfg(not(feature = "static-messages"))]
macro_rules! msg {
    ($($t:tt)*) => { alloc::format!($($t)*) };
}
#[cfg(feature = "static-messages")]
macro_rules! msg {
    ($fmt:literal $($rest:tt)*) => {{
        // Type-checks the arguments (and uses them); the unused `Arguments` is optimised out.
        let _ = format_args!($fmt $($rest)*);
        $crate::unfilled($fmt)
    }};
}

/// A format string as a message with its placeholders left out: `"node '{}' input {i}"` reads
/// `"node '_' input _"`, and `{{`/`}}` read as braces. For `static-messages` builds.
#[cfg(any(test, feature = "static-messages"))]
fn unfilled(template: &str) -> alloc::string::String {
    let mut out = alloc::string::String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.next_if_eq(&'{').is_some() => out.push('{'),
            '}' if chars.next_if_eq(&'}').is_some() => out.push('}'),
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                out.push('_');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod static_message_tests {
    #[test]
    fn placeholders_read_as_underscores() {
        assert_eq!(
            super::unfilled("node '{}' input {i} of {:?}"),
            "node '_' input _ of _"
        );
        assert_eq!(super::unfilled("{{literal}} {i:>4}}}"), "{literal} _}");
        assert_eq!(super::unfilled("unclosed {"), "unclosed _");
    }
}

pub mod ctc;
pub mod pixels;
pub mod runtime;

#[cfg(feature = "pipeline")]
pub mod ocr;

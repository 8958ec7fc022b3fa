//! The OCR engine's error type.

use crate::runtime;
use std::fmt;

/// Everything that can go wrong while reading an image.
#[derive(Debug, Clone, PartialEq)]
pub enum OcrError {
    /// The bytes are not a decodable image (or an unsupported format).
    Decode(String),
    /// The image exceeds a size limit (pixels or bytes).
    TooLarge(String),
    /// The image is empty or too small to hold text.
    Empty(String),
    /// A model is missing, malformed or unsuitable (e.g. no charset in the recogniser).
    Model(String),
    /// The call's options cannot work (a detector side too small to hold text, allowed
    /// characters none of which the recogniser knows).
    Options(String),
    /// The runtime failed.
    Runtime(runtime::Error),
    /// The caller cancelled the work (see [`super::Cancel`]).
    Cancelled,
}

impl fmt::Display for OcrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OcrError::Decode(m) => write!(f, "cannot decode image: {m}"),
            OcrError::TooLarge(m) => write!(f, "image too large: {m}"),
            OcrError::Empty(m) => write!(f, "empty image: {m}"),
            OcrError::Model(m) => write!(f, "model error: {m}"),
            OcrError::Options(m) => write!(f, "bad options: {m}"),
            OcrError::Runtime(e) => write!(f, "{e}"),
            OcrError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for OcrError {}

impl From<runtime::Error> for OcrError {
    fn from(e: runtime::Error) -> Self {
        OcrError::Runtime(e)
    }
}

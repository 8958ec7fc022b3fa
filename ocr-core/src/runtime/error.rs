//! The runtime's error type.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The model bytes are malformed: bad magic, truncated, out-of-range offsets or indices.
    Format(String),
    /// The model is well formed but uses an op, attribute value or dtype we do not run.
    Unsupported(String),
    /// A graph node's inputs have shapes it cannot take (bad input tensor, inconsistent model).
    Shape(String),
    /// The caller passed wrong inputs (missing, extra, wrong rank).
    Input(String),
    /// A resource limit was exceeded (arena size, element counts).
    Limit(String),
    /// A file could not be read (only with the `std` feature).
    Io(String),
}

impl Error {
    /// What kind of failure this is, as the start of its message ("malformed model", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Format(_) => "malformed model",
            Error::Unsupported(_) => "unsupported",
            Error::Shape(_) => "shape error",
            Error::Input(_) => "bad input",
            Error::Limit(_) => "limit exceeded",
            Error::Io(_) => "i/o error",
        }
    }

    /// The details, without the kind.
    pub fn detail(&self) -> &str {
        match self {
            Error::Format(m)
            | Error::Unsupported(m)
            | Error::Shape(m)
            | Error::Input(m)
            | Error::Limit(m)
            | Error::Io(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.detail())
    }
}

impl core::error::Error for Error {}

/// Result alias used throughout the runtime.
pub type Result<T> = core::result::Result<T, Error>;

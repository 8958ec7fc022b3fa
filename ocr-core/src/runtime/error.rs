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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format(m) => write!(f, "malformed model: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Shape(m) => write!(f, "shape error: {m}"),
            Error::Input(m) => write!(f, "bad input: {m}"),
            Error::Limit(m) => write!(f, "limit exceeded: {m}"),
            Error::Io(m) => write!(f, "i/o error: {m}"),
        }
    }
}

impl core::error::Error for Error {}

/// Result alias used throughout the runtime.
pub type Result<T> = core::result::Result<T, Error>;

/// Builds an [`Error`] variant from a format string.
#[macro_export]
macro_rules! rt_err {
    ($kind:ident, $($arg:tt)*) => {
        $crate::runtime::Error::$kind(alloc::format!($($arg)*))
    };
}

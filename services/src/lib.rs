//! Kestrel OCR services: the pieces behind the `kestrel` command-line tool.

pub mod calib;
pub mod doc;
pub mod draw;
pub mod eval;
pub mod files;
pub mod metrics;
pub mod npy;
pub mod offload;
pub mod server;
pub mod synth;

//! The OCR engine, one module per stage:
//!
//! ```text
//! bytes --decode--> RGB image --detect--> probability map --boxes--> quads (reading order)
//!   --rectify--> line crops --classify--> upright crops --recognise--> CTC probabilities
//!   --ctc--> lines (text, confidence, characters with boxes)
//! ```
//!
//! [`Engine`] ties the stages together; it is `Send + Sync`, loaded once and shared by threads.

pub mod boxes;
pub mod cancel;
pub mod classify;
pub mod ctc;
pub mod decode;
pub mod detect;
pub mod engine;
pub mod error;
pub mod geometry;
pub mod order;
pub mod preprocess;
pub mod recognize;
pub mod rectify;
pub mod result;
#[cfg(feature = "default-models")]
pub mod zoo;

pub use cancel::Cancel;
pub use engine::{
    DEFAULT_REFINE_BELOW, Engine, EngineConfig, LineRecognizer, Precision, ReadOptions,
    StageTimings,
};
pub use error::OcrError;
pub use result::{Alternative, Char, Line, Page, Point, Quad};

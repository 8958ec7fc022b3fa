//! `kestrel eval`: accuracy over manifests in the `../shared/eval/dev` format.
//!
//! Metric definitions are in `docs/metrics.md`. Records are read from one or more manifests,
//! optionally sharded (`--shard i/n`), run through the engine (or scored from a predictions
//! file made by another engine), and summarised per source and task.

pub mod manifest;
pub mod metrics;
pub mod report;
pub mod run;

pub use manifest::{Record, load_manifests};
pub use run::{EvalOptions, Prediction, Predictor, evaluate};

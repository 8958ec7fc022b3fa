//! The inference runtime: model format, typed ops, planning and execution.
//!
//! Data flow: bytes --[`format::decode`]--> [`format::ModelDef`] --[`Model::from_def`]-->
//! [`Model`] (validated, typed ops, kernels chosen) --[`Session::run`]--> output tensors. A
//! [`Session`] plans the graph once per input shape and reuses one arena across runs.

pub mod entropy;
pub mod error;
pub mod format;
pub mod kernels;
pub mod model;
pub mod op;
pub mod ops;
pub mod parallel;
pub mod plan;
pub mod qtensor;
pub mod sealed;
pub mod session;
pub mod static_eval;
pub mod tensor;

pub use error::{Error, Result};
pub use model::Model;
pub use parallel::Threads;
pub use session::Session;
pub use tensor::Tensor;

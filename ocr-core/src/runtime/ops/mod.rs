//! Op implementations over plain slices. Each function takes its inputs, shapes and an output
//! slice sized by the planner; none allocates in steady state except where noted.

pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod movement;
pub mod pool;
pub mod qconv;
pub mod qmatmul;
pub mod reduce;

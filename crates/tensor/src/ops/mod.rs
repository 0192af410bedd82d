//! Every differentiable op, one file per family. Each op's forward and backward sit side by side,
//! with the derivative written in its doc comment.

pub mod binary;
pub mod custom;
pub mod fused;
pub mod linalg;
mod linear_bce_avx512;
pub mod movement;
pub mod reduce;
pub mod softmax_ce;
pub mod unary;

//! # downhill-gradcheck
//!
//! Checks the gradients a [`Tape`](downhill_tensor::Tape) computes against central finite
//! differences, for a single op or a whole model's loss with respect to all its parameters.
//!
//! ```
//! use downhill_gradcheck::GradCheck;
//! use downhill_tensor::{Tensor, seeded_rng};
//!
//! # fn main() -> Result<(), downhill_gradcheck::GradCheckError> {
//! let mut rng = seeded_rng(1);
//! let x = Tensor::rand_normal([4, 3], 0.0, 1.0, &mut rng)?;
//! let w = Tensor::rand_normal([3, 2], 0.0, 1.0, &mut rng)?;
//! // A non-scalar output is contracted with a seeded random cotangent.
//! let report = GradCheck::new().check(&[("x", x), ("w", w)], |_, v| v[0].matmul(v[1]).tanh())?;
//! assert!(report.passed(), "{report}");
//! assert_eq!(report.checked(), 12 + 6);
//! # Ok(()) }
//! ```
//!
//! - [`GradCheck`]: the settings (step, tolerances, sampling, seed) with documented `f64`
//!   defaults compared with PyTorch's and JAX's. `f32` checks exist only with explicit
//!   tolerances ([`GradCheck::with_tolerances`]); there is no `GradCheck::<f32>::new()`.
//! - [`GradCheck::check`] for a function of named tensors, [`GradCheck::check_params`] for a
//!   loss over a [`Params`](downhill_tensor::Params) store (the whole-model check).
//! - [`Report`]: passed or not, failures worst first with input name, multi-index, analytic and
//!   numeric values and errors; elements on **kinks** (relu, abs, max, clamp, maximum/minimum at
//!   their switch points) are found by comparing one-sided slopes and reported, not failed.
//! - [`catalog`]: one entry per public op of the tensor crate, with random inputs of random
//!   shapes; the per-op property tests and `examples/gradcheck_all.rs` both run it.
//!
//! The function is re-run for every checked element (twice, four times near a kink), so a check
//! costs about `2 × (checked elements)` forward passes. Inputs above 4096 elements are sampled
//! (1024 seeded elements) unless [`GradCheck::exhaustive`] is set.

#![warn(missing_docs)]

pub mod catalog;
mod check;
mod config;
mod error;
mod report;
mod sample;

pub use config::{GradCheck, Tolerances};
pub use error::GradCheckError;
pub use report::{InputSummary, Kink, Mismatch, Report};

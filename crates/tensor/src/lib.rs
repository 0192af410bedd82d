//! # downhill-tensor
//!
//! Dense `f32`/`f64` tensors, a define-by-run [`Tape`], and reverse-mode autodiff with strict
//! shapes and typed errors.
//!
//! ```
//! use downhill_tensor::{Params, Tape, Tensor};
//!
//! # fn main() -> Result<(), downhill_tensor::Error> {
//! let mut params = Params::new();
//! let w = params.insert("w", Tensor::from_vec(vec![0.5f64, -1.0], [2, 1])?)?;
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [2, 2])?;
//! let y = Tensor::from_vec(vec![1.0, 0.0], [2, 1])?;
//!
//! let tape = Tape::new();
//! let (x, y, w) = (tape.constant(&x), tape.constant(&y), tape.param(&params, w));
//! let loss = (x.matmul(w) - y).square().mean();
//! let grads = loss.backward()?;
//! assert_eq!(grads.try_get(w_id(&params))?.dims(), &[2, 1]);
//! # Ok(()) }
//! # fn w_id(p: &Params<f64>) -> downhill_tensor::ParamId { p.id("w").unwrap() }
//! ```
//!
//! ## Strict shapes
//! Elementwise ops need identical shapes; a rank-0 tensor or a Rust number combines with
//! anything. Growing a shape is explicit ([`Var::broadcast_to`], `broadcast_*` ops) and never
//! adds axes.
//!
//! ## Errors without `?` on every token
//! Arithmetic returns [`Var`]s. The first mistake (a shape mismatch, a bad axis) is recorded on
//! the tape with your source line, later ops on its result are skipped, and
//! [`Var::value`] / [`Var::backward`] return it as an [`Error`]. The `try_*` forms return it at
//! once instead.

#![warn(missing_docs)]

mod display;
mod error;
mod fastmath;
mod fastmath_avx512;
mod float;
mod gemm_call;
mod gemm_small;
mod gemm_wide;
pub mod io;
pub mod ops;
mod par;
mod params;
mod record;
pub mod rng;
mod shape;
mod tape;
mod tensor;
mod var;

pub use error::{Error, Pass, Result, Site};
pub use float::Float;
#[doc(hidden)]
pub use gemm_call::gemm_slices;
pub use ops::binary::BinaryOp;
pub use ops::custom::{CustomOp, TensorRef};
pub use ops::unary::UnaryOp;
pub use par::{LARGE, ZIP_MAX, chunks_sum, set_threads, threads, zip_chunks, zip_chunks_sum};
pub use params::{Grads, ParamId, Params};
pub use rng::{SeededRng, seeded_rng};
pub use shape::Shape;
pub use tape::Tape;
pub use tensor::Tensor;
pub use var::Var;

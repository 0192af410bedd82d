//! # downhill-nn
//!
//! Layers, models, losses, initializers and weight files on the downhill tape.
//!
//! - [`Module`]: a layer's forward on the tape and its parameter ids. Parameters live in the
//!   caller's one [`Params`](downhill_tensor::Params) store under name prefixes (`fc1.weight`),
//!   the names checkpoints and optimizer state are keyed by.
//! - Layers: [`Linear`] (weight `[in, out]`, bias `[1, out]`), activations ([`ReLU`], [`Tanh`],
//!   [`Sigmoid`], [`LeakyReLU`], [`Identity`], or [`Activation`] by value), [`Sequential`],
//!   [`Mlp`].
//! - Models: [`LinearRegression`], [`LogisticRegression`] (binary, logits), [`SoftmaxRegression`]
//!   (multiclass, logits).
//! - [`loss`]: MSE, half-MSE, BCE (probabilities, clipped), BCE with logits, softmax
//!   cross-entropy (integer labels or probabilities), Huber; each refuses a prediction/target
//!   shape mismatch with a typed error.
//! - [`L2`]: a penalty over chosen parameters, biases excluded by default.
//! - [`Init`]: zeros, constant, normal, uniform, small random, Xavier/Glorot, He/Kaiming.
//! - [`weights`]: safetensors files, verified on load.
//!
//! ```
//! use downhill_nn::{Activation, Init, Mlp, Module, loss::softmax_cross_entropy};
//! use downhill_tensor::{Params, Tape, Tensor, seeded_rng};
//!
//! # fn main() -> downhill_tensor::Result<()> {
//! let mut rng = seeded_rng(7);
//! let mut params = Params::<f64>::new();
//! let mlp = Mlp::new(&mut params, "mlp", &[2, 8, 3], Activation::Tanh, Init::XavierUniform, &mut rng)?;
//! let x = Tensor::rand_normal([6, 2], 0.0, 1.0, &mut rng)?;
//! let labels = [0, 1, 2, 2, 1, 0];
//!
//! let tape = Tape::new();
//! let logits = mlp.forward(&tape, &params, tape.constant(&x));
//! let loss = softmax_cross_entropy(logits, &labels);
//! let grads = loss.backward()?;
//! assert_eq!(grads.len(), 4); // mlp.0.weight, mlp.0.bias, mlp.1.weight, mlp.1.bias
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod activation;
pub mod init;
mod linear;
pub mod loss;
mod mlp;
mod models;
mod module;
mod regularize;
pub mod weights;

pub use activation::{Activation, Identity, LeakyReLU, ReLU, Sigmoid, Tanh};
pub use init::Init;
pub use linear::Linear;
pub use mlp::Mlp;
pub use models::{LinearRegression, LogisticRegression, SoftmaxRegression, argmax_rows};
pub use module::{Module, Sequential};
pub use regularize::{L2, is_bias, l2_penalty};

//! # downhill-optim
//!
//! Optimizers, gradient clipping, learning-rate schedules, and optimizer state that saves and
//! loads bit for bit. Depends only on `downhill-tensor`: parameters live in a
//! [`Params`] store, gradients come from `loss.backward()` as
//! [`Grads`], and an optimizer updates the store in place.
//!
//! ```
//! use downhill_optim::{Adam, AdamConfig, Optimizer};
//! use downhill_tensor::{Params, Tape, Tensor};
//!
//! let mut params = Params::new();
//! let w = params.insert("w", Tensor::vector(&[1.0f64, -2.0]))?;
//! let mut opt = Adam::new(AdamConfig { lr: 0.1, ..Default::default() })?;
//! let mut tape = Tape::new();
//! for _ in 0..200 {
//!     let loss = tape.param(&params, w).square().sum();
//!     let grads = loss.backward()?;
//!     tape.clear(); // release the tape's view of the parameters before updating them
//!     opt.step(&mut params, &grads)?;
//! }
//! assert!(params.get(w).data().iter().all(|x| x.abs() < 1e-2));
//! # Ok::<(), downhill_tensor::Error>(())
//! ```
//!
//! ## The pieces, in the order a step applies them
//!
//! 1. **Clip** ([`Clip`], [`clip`]): optional, on a copy of the gradients; the pre-clip global
//!    norm is kept ([`Optimizer::last_grad_norm`]).
//! 2. **Weight decay** ([`WeightDecay`]): `L2(λ)` adds `λθ` to the gradient; `Decoupled(λ)`
//!    shrinks `θ ← θ(1 − lr·λ)`. [`ParamGroup`]s select parameters by name (e.g. no decay on
//!    `*.bias`) and override the decay and scale the learning rate.
//! 3. **Update rule**: one file per optimizer.
//! 4. **Learning rate**: the configured `lr`, or a [`schedule`] (a pure function of the step
//!    count), times `lr_scale` (what [`ReduceOnPlateau`](schedule::ReduceOnPlateau) drives).
//!
//! Parameters with no gradient in the [`Grads`] passed to `step` (never
//! brought onto the tape) are skipped: not updated, not decayed, and their buffers and update
//! counts untouched.
//!
//! ## Defaults compared with PyTorch and optax
//!
//! | optimizer | setting | downhill | PyTorch (`torch.optim`) | optax |
//! |---|---|---|---|---|
//! | [`Sgd`] | `lr` | 1e-3 | 1e-3 | required |
//! | [`Momentum`] | `lr`, `beta`, `form` | 1e-3, 0.9, classical | 1e-3, `momentum=0`, classical (`dampening=0`) | required, `None`, classical |
//! | [`Nesterov`] | `lr`, `beta` | 1e-3, 0.9 | 1e-3, must be set | required, must be set |
//! | [`Adagrad`] | `lr`, `eps`, `initial_accumulator_value` | 0.01, 1e-10, 0 | 0.01, 1e-10, 0 | required, 1e-7, 0.1 |
//! | [`RmsProp`] | `lr`, `alpha`, `eps`, `momentum`, `centered` | 0.01, 0.99, 1e-8, 0, false | 0.01, 0.99, 1e-8, 0, false | required, `decay=0.9`, 1e-8 (inside the root), `None`, false |
//! | [`Adam`] | `lr`, `beta1`, `beta2`, `eps` | 1e-3, 0.9, 0.999, 1e-8 | same | required, 0.9, 0.999, 1e-8 |
//! | [`AdamW`] | `weight_decay` (decoupled) | 0.01 | 0.01 | 1e-4 |
//! | [`Lbfgs`] | `lr`, `max_iter`, `history_size`, `tolerance_grad`, `tolerance_change`, `line_search` | 1, 20, 100, 1e-7, 1e-9, none | same | line search always, `memory_size=10` |
//! | all first-order | `weight_decay` | [`WeightDecay::None`] | 0 (L2 in the gradient; AdamW decoupled) | a separate `add_decayed_weights` |
//!
//! Schedules and their defaults are compared in [`schedule`]; each config type's rustdoc lists
//! its own.
//!
//! ## Optimizer state is data
//!
//! [`Optimizer::state`] returns an [`OptimizerState`]: buffers as tensors named
//! `{buffer}/{parameter}` (e.g. `exp_avg/fc1.weight`) plus metadata (kind, step counter,
//! per-parameter update counts, `lr_scale`, every setting). It saves through
//! `downhill_tensor::io` (safetensors; deterministic bytes; atomic writes). Loading checks the
//! kind, the parameter names (both ways), the shapes and the settings, with a typed error for each
//! mismatch, and changes nothing unless everything matches. Resuming from a saved state continues
//! bit for bit as if the run had never stopped.
//!
//! ## Golden tests
//!
//! `tests/golden.rs` runs every optimizer for five steps on a small problem in `f64` and compares
//! with trajectories produced by PyTorch's `torch.optim` (`tests/fixtures/make_golden.py`) to
//! 1e-12.

#![warn(missing_docs)]

mod adagrad;
mod adam;
mod adamw;
mod check;
pub mod clip;
mod engine;
mod group;
mod lbfgs;
mod momentum;
mod nesterov;
mod rmsprop;
pub mod schedule;
mod sgd;
mod state;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use adamw::{AdamW, AdamWConfig};
pub use clip::Clip;
pub use group::{ParamGroup, Select, WeightDecay};
pub use lbfgs::{Lbfgs, LbfgsConfig, LineSearch};
pub use momentum::{Momentum, MomentumConfig, MomentumForm};
pub use nesterov::{Nesterov, NesterovConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};
pub use state::OptimizerState;

use downhill_tensor::{Float, Grads, Params, Result};

/// A first-order optimizer: updates parameters in place from their gradients.
///
/// Implemented by [`Sgd`], [`Momentum`], [`Nesterov`], [`Adagrad`], [`RmsProp`], [`Adam`] and
/// [`AdamW`]. ([`Lbfgs`] needs to re-evaluate the loss, so it has its own `step` taking a closure.)
pub trait Optimizer<T: Float> {
    /// The kind stored in saved state (`"sgd"`, `"momentum"`, `"adam"`, ...).
    fn kind(&self) -> &'static str;

    /// One update of every parameter that has a gradient in `grads` (others are skipped).
    ///
    /// Clear the tape (or drop it) before calling, so the parameters' buffers are not shared
    /// and are updated without a copy. Errors (a gradient whose shape differs from its
    /// parameter's, a schedule giving a negative or non-finite rate) leave everything unchanged.
    fn step(&mut self, params: &mut Params<T>, grads: &Grads<T>) -> Result<()>;

    /// Steps taken so far.
    fn step_count(&self) -> u64;

    /// The learning rate the next step will use (after the schedule and `lr_scale`).
    fn lr(&self) -> f64;

    /// The multiplier applied to the (scheduled) learning rate; 1 unless set.
    fn lr_scale(&self) -> f64;

    /// Sets the learning-rate multiplier (finite, >= 0), e.g. from
    /// [`ReduceOnPlateau::observe`](schedule::ReduceOnPlateau::observe). Saved with the state.
    fn set_lr_scale(&mut self, scale: f64) -> Result<()>;

    /// The global norm of the gradients of the last step, before clipping.
    fn last_grad_norm(&self) -> Option<f64>;

    /// The state (buffers keyed by parameter name, step counters, settings) as data.
    fn state(&self, params: &Params<T>) -> Result<OptimizerState<T>>;

    /// Restores a state saved by the same kind of optimizer with the same settings, for a store
    /// with the same parameter names and shapes. All or nothing.
    fn load_state(&mut self, state: &OptimizerState<T>, params: &Params<T>) -> Result<()>;
}

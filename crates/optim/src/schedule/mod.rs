//! Learning-rate schedules: pure functions of the step count.
//!
//! A [`Schedule`] answers one question, `lr_at(step)`: the learning rate of the optimizer step
//! with that index (the first step is step 0). It holds no position of its own, so there is no
//! "call `scheduler.step()` after `optimizer.step()`" ordering to get wrong, and resuming needs
//! only the optimizer's step counter. [`ReduceOnPlateau`] is the one stateful piece: it reacts to
//! a metric, so its state is saved with the optimizer's (see [`ReduceOnPlateau::save_into`]).
//!
//! | schedule | `lr_at(step)` | defaults | PyTorch | optax |
//! |---|---|---|---|---|
//! | [`Constant`] | `lr` | — | no scheduler | `constant_schedule` |
//! | [`StepDecay`] | `lr·γ^⌊step/step_size⌋` | `γ = 0.1` | `StepLR(step_size, gamma=0.1)` | `exponential_decay(staircase=True)` (no default rate) |
//! | [`Exponential`] | `lr·γ^step` | — (`γ` required) | `ExponentialLR(gamma)` (required) | `exponential_decay(transition_steps, decay_rate)` (required) |
//! | [`Cosine`] | `floor + (lr − floor)·(1 + cos(π·min(step, T)/T))/2`, then `floor` | `floor = 0` | `CosineAnnealingLR(T_max, eta_min=0)` (periodic after `T_max`) | `cosine_decay_schedule(decay_steps, alpha=0)` (`alpha` is a fraction of `lr`) |
//! | [`LinearWarmup`] | `lr·(s + (1 − s)·min(step, W)/W)` | `s = 1/3, W = 5` | `LinearLR(start_factor=1/3, total_iters=5)` | `linear_schedule(init, end, steps)` (no defaults) |
//! | [`Join`] | the `k`-th schedule at `step − boundaryₖ` | — | `SequentialLR(schedulers, milestones)` | `join_schedules(schedules, boundaries)` |
//! | [`ReduceOnPlateau`] | scale × `factor` after `patience` bad epochs | `factor = 0.1, patience = 10, threshold = 1e-4` (relative), `cooldown = 0`, `min_scale = 0` | `ReduceLROnPlateau` (same defaults, `min_lr = 0`) | `reduce_on_plateau` (same defaults, `rtol = 1e-4`) |
//!
//! Give an optimizer a schedule with `.with_schedule(...)`; its `lr` is then ignored.
//! Schedules are validated when built (typed [`Error::Hyperparameter`](downhill_tensor::Error)).

mod constant;
mod cosine;
mod exponential;
mod join;
mod plateau;
mod step;
mod warmup;

pub use constant::Constant;
pub use cosine::Cosine;
pub use exponential::Exponential;
pub use join::Join;
pub use plateau::ReduceOnPlateau;
pub use step::StepDecay;
pub use warmup::LinearWarmup;

/// A learning rate as a pure function of the step count.
///
/// Implementations must be deterministic: the same `step` always gives the same value. The
/// `Debug` form is stored in saved optimizer state and compared on load, so it should show every
/// setting.
pub trait Schedule: std::fmt::Debug + Send + Sync {
    /// The learning rate of step `step` (0 for the first step).
    fn lr_at(&self, step: u64) -> f64;
}

impl<S: Schedule + ?Sized> Schedule for std::sync::Arc<S> {
    fn lr_at(&self, step: u64) -> f64 {
        (**self).lr_at(step)
    }
}

impl<S: Schedule + ?Sized> Schedule for Box<S> {
    fn lr_at(&self, step: u64) -> f64 {
        (**self).lr_at(step)
    }
}

/// Any `Fn(u64) -> f64` closure as a schedule, with a name for its `Debug` form.
#[derive(Clone)]
pub struct FnSchedule<F> {
    name: String,
    f: F,
}

impl<F: Fn(u64) -> f64 + Send + Sync> FnSchedule<F> {
    /// Wraps `f`; `name` identifies it in saved state (use a different name for a different function).
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnSchedule { name: name.into(), f }
    }
}

impl<F> std::fmt::Debug for FnSchedule<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FnSchedule({:?})", self.name)
    }
}

impl<F: Fn(u64) -> f64 + Send + Sync> Schedule for FnSchedule<F> {
    fn lr_at(&self, step: u64) -> f64 {
        (self.f)(step)
    }
}

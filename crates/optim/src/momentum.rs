//! Momentum in both forms: the course's exponential moving average and PyTorch's classical one.

use downhill_tensor::{Float, Result};

use crate::check;
use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Which velocity update [`Momentum`] uses.
///
/// - `Ema`: `v ← β·v + (1 − β)·g`, `θ ← θ − lr·v` (the course's form: `v` is an average of
///   gradients, so `lr` keeps its plain-GD meaning).
/// - `Classical`: `v ← β·v + g`, `θ ← θ − lr·v` (PyTorch's `SGD(momentum=β)` with
///   `dampening=0`; `v` is a sum, about `1/(1 − β)` times larger).
///
/// The two give identical trajectories when the classical form runs with `lr·(1 − β)`
/// (substitute `v = (1 − β)·v'`); the golden tests use exactly that to check the EMA form
/// against PyTorch. Both start from `v = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MomentumForm {
    /// `v ← β·v + (1 − β)·g`.
    Ema,
    /// `v ← β·v + g` (PyTorch's default).
    #[default]
    Classical,
}

/// Settings of [`Momentum`].
///
/// | setting | default | PyTorch `SGD(momentum=…)` | optax `sgd(momentum=…)` |
/// |---|---|---|---|
/// | `lr` | 1e-3 | 1e-3 | required |
/// | `beta` | 0.9 | 0 (must be set) | `None` (must be set) |
/// | `form` | `Classical` | classical (`dampening=0`) | classical (`trace`) |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentumConfig {
    /// Learning rate (finite, > 0). Default 1e-3.
    pub lr: f64,
    /// Momentum coefficient β in [0, 1). Default 0.9.
    pub beta: f64,
    /// Velocity update form. Default [`MomentumForm::Classical`].
    pub form: MomentumForm,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for MomentumConfig {
    fn default() -> Self {
        MomentumConfig { lr: 1e-3, beta: 0.9, form: MomentumForm::Classical, weight_decay: WeightDecay::None }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MomentumRule {
    beta: f64,
    form: MomentumForm,
}

impl Rule for MomentumRule {
    fn kind(&self) -> &'static str {
        "momentum"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["momentum_buffer"]
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        vec![("beta", format!("{:?}", self.beta)), ("form", format!("{:?}", self.form))]
    }
    #[inline(always)] // vectorized by the engine's `update_simd`
    // ANCHOR: update
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, _t: u64) {
        let [v] = bufs else { return };
        let (beta, lr) = (T::of(self.beta), T::of(lr));
        let gain = match self.form {
            MomentumForm::Ema => T::of(1.0 - self.beta),
            MomentumForm::Classical => T::one(),
        };
        for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
            let v_new = beta * *v + gain * g;
            *v = v_new;
            *p -= lr * v_new;
        }
    }
    // ANCHOR_END: update
}

/// Gradient descent with momentum (heavy ball), in either [`MomentumForm`].
#[derive(Clone, Debug)]
pub struct Momentum<T: Float> {
    engine: Engine<T, MomentumRule>,
}

impl<T: Float> Momentum<T> {
    /// Validates the settings (`beta` in [0, 1)).
    pub fn new(config: MomentumConfig) -> Result<Self> {
        check::unit("momentum", "beta", config.beta, "in [0, 1) (typical: 0.9)")?;
        let rule = MomentumRule { beta: config.beta, form: config.form };
        Ok(Momentum { engine: Engine::new(rule, config.lr, config.weight_decay)? })
    }
}

first_order!(Momentum);

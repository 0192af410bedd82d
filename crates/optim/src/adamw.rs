//! AdamW: Adam with decoupled weight decay.

use downhill_tensor::{Float, Result};

use crate::adam::{AdamConfig, AdamRule};
use crate::engine::{Engine, first_order};
use crate::group::WeightDecay;

/// Settings of [`AdamW`].
///
/// | setting | default | PyTorch `AdamW` | optax `adamw` |
/// |---|---|---|---|
/// | `lr` | 1e-3 | 1e-3 | required |
/// | `beta1` | 0.9 | 0.9 | 0.9 |
/// | `beta2` | 0.999 | 0.999 | 0.999 |
/// | `eps` | 1e-8 | 1e-8 | 1e-8 |
/// | `weight_decay` | 0.01 (decoupled) | 0.01 | 1e-4 |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate (finite, > 0). Default 1e-3.
    pub lr: f64,
    /// Decay of the first moment, in [0, 1). Default 0.9.
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1). Default 0.999.
    pub beta2: f64,
    /// Added to the bias-corrected root (finite, > 0). Default 1e-8.
    pub eps: f64,
    /// Decoupled decay λ: `θ ← θ·(1 − lr·λ)` before each Adam update (finite, >= 0). Default 0.01.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// AdamW (Loshchilov & Hutter 2019): `θ ← θ·(1 − lr·λ)`, then the [`Adam`](crate::Adam) update.
/// The decay does not pass through Adam's moments, unlike L2 added to the gradient. Parameter
/// groups can override the decay (e.g. [`ParamGroup::no_decay_on_biases`](crate::ParamGroup::no_decay_on_biases)).
#[derive(Clone, Debug)]
pub struct AdamW<T: Float> {
    engine: Engine<T, AdamRule>,
}

impl<T: Float> AdamW<T> {
    /// Validates the settings.
    pub fn new(config: AdamWConfig) -> Result<Self> {
        let adam = AdamConfig {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: WeightDecay::None,
        };
        adam.validate("adamw")?;
        let rule = AdamRule { kind: "adamw", beta1: config.beta1, beta2: config.beta2, eps: config.eps };
        Ok(AdamW { engine: Engine::new(rule, config.lr, WeightDecay::Decoupled(config.weight_decay))? })
    }
}

first_order!(AdamW);

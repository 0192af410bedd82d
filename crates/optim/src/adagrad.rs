//! Adagrad: per-coordinate learning rates from the sum of squared gradients.

use downhill_tensor::{Float, Result};

use crate::check;
use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Settings of [`Adagrad`].
///
/// | setting | default | PyTorch `Adagrad` | optax `adagrad` |
/// |---|---|---|---|
/// | `lr` | 0.01 | 0.01 | required |
/// | `eps` | 1e-10 | 1e-10 | 1e-7 |
/// | `initial_accumulator_value` | 0 | 0 | 0.1 |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
///
/// PyTorch's `lr_decay` (an inverse-time decay of `lr`) is not a setting here: use a schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate (finite, > 0). Default 0.01.
    pub lr: f64,
    /// Added to `√sum` (finite, > 0). Default 1e-10.
    pub eps: f64,
    /// Starting value of the sum of squares (finite, >= 0). Default 0.
    pub initial_accumulator_value: f64,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 0.01,
            eps: 1e-10,
            initial_accumulator_value: 0.0,
            weight_decay: WeightDecay::None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct AdagradRule {
    eps: f64,
    init: f64,
}

impl Rule for AdagradRule {
    fn kind(&self) -> &'static str {
        "adagrad"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["sum"]
    }
    fn init(&self, _i: usize) -> f64 {
        self.init
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        vec![("eps", format!("{:?}", self.eps)), ("initial_accumulator_value", format!("{:?}", self.init))]
    }
    #[inline(always)] // vectorized by the engine's `update_simd`
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, _t: u64) {
        let [s] = bufs else { return };
        let (eps, lr) = (T::of(self.eps), T::of(lr));
        for ((p, s), &g) in p.iter_mut().zip(s.iter_mut()).zip(g) {
            let s_new = *s + g * g;
            *s = s_new;
            *p -= lr * g / (s_new.sqrt() + eps);
        }
    }
}

/// Adagrad (Duchi et al. 2011): `s ← s + g²`, `θ ← θ − lr·g / (√s + eps)`.
#[derive(Clone, Debug)]
pub struct Adagrad<T: Float> {
    engine: Engine<T, AdagradRule>,
}

impl<T: Float> Adagrad<T> {
    /// Validates the settings.
    pub fn new(config: AdagradConfig) -> Result<Self> {
        check::positive("adagrad", "eps", config.eps, "finite and > 0 (default: 1e-10)")?;
        check::non_negative(
            "adagrad",
            "initial_accumulator_value",
            config.initial_accumulator_value,
            "finite and >= 0 (default: 0)",
        )?;
        let rule = AdagradRule { eps: config.eps, init: config.initial_accumulator_value };
        Ok(Adagrad { engine: Engine::new(rule, config.lr, config.weight_decay)? })
    }
}

first_order!(Adagrad);

//! Adam: bias-corrected first and second moment estimates.

use downhill_tensor::{Float, Result};

use crate::check;
use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Settings of [`Adam`].
///
/// | setting | default | PyTorch `Adam` | optax `adam` |
/// |---|---|---|---|
/// | `lr` | 1e-3 | 1e-3 | required |
/// | `beta1` | 0.9 | 0.9 | 0.9 |
/// | `beta2` | 0.999 | 0.999 | 0.999 |
/// | `eps` | 1e-8 | 1e-8 | 1e-8 |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
///
/// `Adam` with [`WeightDecay::Decoupled`] is AdamW; [`AdamW`](crate::AdamW) is the same rule
/// with AdamW's default decay and its own kind in saved state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (finite, > 0). Default 1e-3.
    pub lr: f64,
    /// Decay of the first moment, in [0, 1). Default 0.9.
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1). Default 0.999.
    pub beta2: f64,
    /// Added to the bias-corrected root (finite, > 0). Default 1e-8.
    pub eps: f64,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: WeightDecay::None }
    }
}

impl AdamConfig {
    pub(crate) fn validate(&self, owner: &'static str) -> Result<()> {
        check::unit(owner, "beta1", self.beta1, "in [0, 1) (default: 0.9)")?;
        check::unit(owner, "beta2", self.beta2, "in [0, 1) (default: 0.999)")?;
        check::positive(owner, "eps", self.eps, "finite and > 0 (default: 1e-8)")
    }
}

#[derive(Clone, Debug)]
pub(crate) struct AdamRule {
    pub(crate) kind: &'static str,
    pub(crate) beta1: f64,
    pub(crate) beta2: f64,
    pub(crate) eps: f64,
}

impl Rule for AdamRule {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        vec![
            ("beta1", format!("{:?}", self.beta1)),
            ("beta2", format!("{:?}", self.beta2)),
            ("eps", format!("{:?}", self.eps)),
        ]
    }
    #[inline(always)] // vectorized by the engine's `update_simd`
    // ANCHOR: update
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, t: u64) {
        let [m, v] = bufs else { return };
        // Bias corrections in f64, from this parameter's own update count t (1 on its first update).
        let bc1 = 1.0 - self.beta1.powf(t as f64);
        let bc2 = 1.0 - self.beta2.powf(t as f64);
        let step_size = T::of(lr / bc1);
        let bc2_sqrt = T::of(bc2.sqrt());
        let (b1, b2, c1, c2, eps) = (
            T::of(self.beta1),
            T::of(self.beta2),
            T::of(1.0 - self.beta1),
            T::of(1.0 - self.beta2),
            T::of(self.eps),
        );
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let (m_new, v_new) = (b1 * *m + c1 * g, b2 * *v + c2 * g * g);
            (*m, *v) = (m_new, v_new);
            *p -= step_size * m_new / (v_new.sqrt() / bc2_sqrt + eps);
        }
    }
    // ANCHOR_END: update
}

/// Adam (Kingma & Ba 2015): `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
/// `θ ← θ − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + eps)`: PyTorch's arrangement, with the
/// bias corrections computed in `f64` from each parameter's own update count `t` (so on the first
/// step `m/(1 − β₁) = g` and the step is about `lr` in every coordinate).
#[derive(Clone, Debug)]
pub struct Adam<T: Float> {
    engine: Engine<T, AdamRule>,
}

impl<T: Float> Adam<T> {
    /// Validates the settings.
    pub fn new(config: AdamConfig) -> Result<Self> {
        config.validate("adam")?;
        let rule = AdamRule { kind: "adam", beta1: config.beta1, beta2: config.beta2, eps: config.eps };
        Ok(Adam { engine: Engine::new(rule, config.lr, config.weight_decay)? })
    }
}

first_order!(Adam);

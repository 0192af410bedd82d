//! Nesterov accelerated gradient, in PyTorch's form.

use downhill_tensor::{Float, Result};

use crate::check;
use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Settings of [`Nesterov`].
///
/// | setting | default | PyTorch `SGD(momentum=…, nesterov=True)` | optax `sgd(momentum=…, nesterov=True)` |
/// |---|---|---|---|
/// | `lr` | 1e-3 | 1e-3 | required |
/// | `beta` | 0.9 | must be set (> 0) | must be set |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NesterovConfig {
    /// Learning rate (finite, > 0). Default 1e-3.
    pub lr: f64,
    /// Momentum coefficient β in [0, 1). Default 0.9.
    pub beta: f64,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for NesterovConfig {
    fn default() -> Self {
        NesterovConfig { lr: 1e-3, beta: 0.9, weight_decay: WeightDecay::None }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct NesterovRule {
    beta: f64,
}

impl Rule for NesterovRule {
    fn kind(&self) -> &'static str {
        "nesterov"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["momentum_buffer"]
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        vec![("beta", format!("{:?}", self.beta))]
    }
    #[inline(always)] // vectorized by the engine's `update_simd`
    // ANCHOR: update
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, _t: u64) {
        let [b] = bufs else { return };
        let (beta, lr) = (T::of(self.beta), T::of(lr));
        for ((p, b), &g) in p.iter_mut().zip(b.iter_mut()).zip(g) {
            let b_new = beta * *b + g;
            *b = b_new;
            *p -= lr * (g + beta * b_new);
        }
    }
    // ANCHOR_END: update
}

/// Nesterov momentum, as PyTorch computes it: `b ← β·b + g`, `θ ← θ − lr·(g + β·b)`.
///
/// **The lookahead form.** Sutskever et al. (2013) write Nesterov's method as a gradient taken
/// at a look-ahead point: `v ← β·v − lr·∇f(θ + β·v)`, `θ ← θ + v`. Substituting
/// `φ = θ + β·v` (the look-ahead point itself) and `v = −lr·b` turns it into the update above
/// on `φ`: this optimizer's parameters are the look-ahead points, so it needs one gradient per
/// step, at the parameters, like every other optimizer. The test
/// `nesterov_lookahead_form_is_equivalent` runs both forms side by side.
#[derive(Clone, Debug)]
pub struct Nesterov<T: Float> {
    engine: Engine<T, NesterovRule>,
}

impl<T: Float> Nesterov<T> {
    /// Validates the settings (`beta` in [0, 1)).
    pub fn new(config: NesterovConfig) -> Result<Self> {
        check::unit("nesterov", "beta", config.beta, "in [0, 1) (typical: 0.9)")?;
        Ok(Nesterov {
            engine: Engine::new(NesterovRule { beta: config.beta }, config.lr, config.weight_decay)?,
        })
    }
}

first_order!(Nesterov);

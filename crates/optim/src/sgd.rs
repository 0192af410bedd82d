//! Plain gradient descent: `θ ← θ − lr·g`.

use downhill_tensor::{Float, Result};

use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Settings of [`Sgd`].
///
/// | setting | default | PyTorch `SGD` | optax `sgd` |
/// |---|---|---|---|
/// | `lr` | 1e-3 | 1e-3 | required |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (finite, > 0). Default 1e-3.
    pub lr: f64,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, weight_decay: WeightDecay::None }
    }
}

impl SgdConfig {
    /// The defaults with this learning rate.
    pub fn lr(lr: f64) -> Self {
        SgdConfig { lr, ..Self::default() }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SgdRule;

impl Rule for SgdRule {
    fn kind(&self) -> &'static str {
        "sgd"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &[]
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    #[inline(always)] // vectorized by the engine's `update_simd`
    fn update<T: Float>(&self, p: &mut [T], g: &[T], _bufs: &mut [&mut [T]], lr: f64, _t: u64) {
        let lr = T::of(lr);
        for (p, &g) in p.iter_mut().zip(g) {
            *p -= lr * g;
        }
    }
}

/// Gradient descent (full-batch GD or minibatch SGD, depending on the gradients you pass):
/// `θ ← θ − lr·g`. PyTorch's `SGD(momentum=0)`.
///
/// ```
/// use downhill_optim::{Optimizer, Sgd, SgdConfig};
/// use downhill_tensor::{Params, Tape, Tensor};
/// let mut params = Params::new();
/// let w = params.insert("w", Tensor::scalar(3.0f64))?;
/// let mut opt = Sgd::new(SgdConfig::lr(0.25))?;
/// let tape = Tape::new();
/// let grads = tape.param(&params, w).square().backward()?; // d(w²)/dw = 6
/// drop(tape);
/// opt.step(&mut params, &grads)?;
/// assert_eq!(params.get(w).data(), &[1.5]);
/// # Ok::<(), downhill_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Float> {
    engine: Engine<T, SgdRule>,
}

impl<T: Float> Sgd<T> {
    /// Validates the settings.
    pub fn new(config: SgdConfig) -> Result<Self> {
        Ok(Sgd { engine: Engine::new(SgdRule, config.lr, config.weight_decay)? })
    }
}

first_order!(Sgd);

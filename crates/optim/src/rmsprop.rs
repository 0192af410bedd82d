//! RMSProp, in PyTorch's form (eps added to the square root).

use downhill_tensor::{Float, Result};

use crate::check;
use crate::engine::{Engine, Rule, first_order};
use crate::group::WeightDecay;

/// Settings of [`RmsProp`].
///
/// | setting | default | PyTorch `RMSprop` | optax `rmsprop` |
/// |---|---|---|---|
/// | `lr` | 0.01 | 0.01 | required |
/// | `alpha` (decay of the square average) | 0.99 | 0.99 | `decay = 0.9` |
/// | `eps` | 1e-8 | 1e-8 (outside the root) | 1e-8 (inside the root unless `eps_in_sqrt=False`) |
/// | `momentum` | 0 | 0 | `None` |
/// | `centered` | false | false | false |
/// | `weight_decay` | `None` | 0 (L2) | via `add_decayed_weights` |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (finite, > 0). Default 0.01.
    pub lr: f64,
    /// Decay of the running average of `g²`, in [0, 1). Default 0.99.
    pub alpha: f64,
    /// Added to the root (finite, > 0). Default 1e-8.
    pub eps: f64,
    /// Momentum on the scaled step, in [0, 1). Default 0.
    pub momentum: f64,
    /// Divide by the centered second moment (an estimate of the variance). Default false.
    pub centered: bool,
    /// Weight decay. Default [`WeightDecay::None`].
    pub weight_decay: WeightDecay,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: WeightDecay::None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RmsPropRule {
    alpha: f64,
    eps: f64,
    momentum: f64,
    centered: bool,
}

impl Rule for RmsPropRule {
    fn kind(&self) -> &'static str {
        "rmsprop"
    }
    fn buffers(&self) -> &'static [&'static str] {
        match (self.momentum > 0.0, self.centered) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "momentum_buffer"],
            (false, true) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "momentum_buffer", "grad_avg"],
        }
    }
    fn hyper(&self) -> Vec<(&'static str, String)> {
        vec![
            ("alpha", format!("{:?}", self.alpha)),
            ("eps", format!("{:?}", self.eps)),
            ("momentum", format!("{:?}", self.momentum)),
            ("centered", self.centered.to_string()),
        ]
    }
    const PIECEWISE: bool = false;
    #[inline(always)] // vectorized by the engine's `update_simd`
    // ANCHOR: update
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, _t: u64) {
        let (alpha, one_m, eps, mom, lr) =
            (T::of(self.alpha), T::of(1.0 - self.alpha), T::of(self.eps), T::of(self.momentum), T::of(lr));
        let (sq, rest) = match bufs.split_first_mut() {
            Some(x) => x,
            None => return,
        };
        let (mut buf, mut gavg) = match rest {
            [] => (None, None),
            [b] if self.momentum > 0.0 => (Some(&mut **b), None),
            [a] => (None, Some(&mut **a)),
            [b, a, ..] => (Some(&mut **b), Some(&mut **a)),
        };
        for (i, ((p, s), &g)) in p.iter_mut().zip(sq.iter_mut()).zip(g).enumerate() {
            let s_new = alpha * *s + one_m * g * g;
            *s = s_new;
            let avg = match gavg.as_deref_mut() {
                Some(ga) => {
                    let ga_new = ga[i] + one_m * (g - ga[i]);
                    ga[i] = ga_new;
                    (s_new - ga_new * ga_new).sqrt() + eps
                }
                None => s_new.sqrt() + eps,
            };
            match buf.as_deref_mut() {
                Some(b) => {
                    let b_new = mom * b[i] + g / avg;
                    b[i] = b_new;
                    *p -= lr * b_new;
                }
                None => *p -= lr * g / avg,
            }
        }
    }
    // ANCHOR_END: update
}

/// RMSProp (Hinton 2012): `s ← α·s + (1 − α)·g²`, `θ ← θ − lr·g / (√s + eps)`, with PyTorch's
/// optional momentum (`b ← μ·b + g/(√s + eps)`, `θ ← θ − lr·b`) and centering (`√(s − ḡ²)`
/// with `ḡ` the running average of `g`).
#[derive(Clone, Debug)]
pub struct RmsProp<T: Float> {
    engine: Engine<T, RmsPropRule>,
}

impl<T: Float> RmsProp<T> {
    /// Validates the settings.
    pub fn new(config: RmsPropConfig) -> Result<Self> {
        check::unit("rmsprop", "alpha", config.alpha, "in [0, 1) (default: 0.99)")?;
        check::positive("rmsprop", "eps", config.eps, "finite and > 0 (default: 1e-8)")?;
        check::unit("rmsprop", "momentum", config.momentum, "in [0, 1) (default: 0)")?;
        let rule = RmsPropRule {
            alpha: config.alpha,
            eps: config.eps,
            momentum: config.momentum,
            centered: config.centered,
        };
        Ok(RmsProp { engine: Engine::new(rule, config.lr, config.weight_decay)? })
    }
}

first_order!(RmsProp);

//! Reduce the learning rate when a metric stops improving: the one stateful schedule.

use downhill_tensor::{Float, Result};

use crate::check;
use crate::state::{OptimizerState, num};

/// Multiplies the learning rate by `factor` when a metric (lower is better) has not improved for
/// more than `patience` observations: PyTorch's `ReduceLROnPlateau(mode="min",
/// threshold_mode="rel")`, with the same defaults, expressed as a scale on the optimizer's
/// learning rate (the optimizer's schedule still applies; the two multiply).
///
/// | setting | default | PyTorch | optax `reduce_on_plateau` |
/// |---|---|---|---|
/// | `factor` | 0.1 | 0.1 | 0.1 |
/// | `patience` | 10 | 10 | 10 |
/// | `threshold` (relative: better means `< best·(1 − threshold)`) | 1e-4 | 1e-4 | `rtol = 1e-4` |
/// | `cooldown` | 0 | 0 | 0 |
/// | `min_scale` | 0 | `min_lr = 0` (absolute) | `min_scale = 0` |
///
/// ```
/// use downhill_optim::schedule::ReduceOnPlateau;
/// let mut p = ReduceOnPlateau::new().patience(1);
/// for loss in [1.0, 0.9, 0.9, 0.9] {
///     p.observe(loss);
/// }
/// assert!((p.scale() - 0.1).abs() < 1e-15);
/// // Then: optimizer.set_lr_scale(p.scale())?
/// ```
///
/// Its state (best metric, bad-epoch and cooldown counters, current scale) is data: save it with
/// the optimizer's via [`ReduceOnPlateau::save_into`] and restore it with
/// [`ReduceOnPlateau::load_from`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceOnPlateau {
    factor: f64,
    patience: u64,
    threshold: f64,
    cooldown: u64,
    min_scale: f64,
    // State.
    best: f64,
    bad_epochs: u64,
    cooldown_left: u64,
    scale: f64,
    observations: u64,
}

impl Default for ReduceOnPlateau {
    fn default() -> Self {
        Self::new()
    }
}

impl ReduceOnPlateau {
    /// PyTorch's defaults (see the table above); change them with the builder methods.
    pub fn new() -> Self {
        ReduceOnPlateau {
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            cooldown: 0,
            min_scale: 0.0,
            best: f64::INFINITY,
            bad_epochs: 0,
            cooldown_left: 0,
            scale: 1.0,
            observations: 0,
        }
    }

    /// The multiplier applied on each reduction (in (0, 1), default 0.1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Observations without improvement tolerated before a reduction (default 10).
    pub fn patience(mut self, patience: u64) -> Self {
        self.patience = patience;
        self
    }

    /// Relative improvement needed to count as better (>= 0, default 1e-4).
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Observations to wait after a reduction before counting bad ones again (default 0).
    pub fn cooldown(mut self, cooldown: u64) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The scale never goes below this (in [0, 1], default 0).
    pub fn min_scale(mut self, min_scale: f64) -> Self {
        self.min_scale = min_scale;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let owner = "reduce-on-plateau";
        check::unit(owner, "factor", self.factor, "in [0, 1) (default: 0.1)")?;
        check::positive(owner, "factor", self.factor, "in (0, 1) (default: 0.1)")?;
        check::non_negative(owner, "threshold", self.threshold, "finite and >= 0 (default: 1e-4)")?;
        check::non_negative(owner, "min_scale", self.min_scale, "in [0, 1] (default: 0)")?;
        Ok(())
    }

    /// Records one observation of the metric (lower is better; call once per epoch) and returns
    /// the scale to use from now on. A NaN metric counts as no improvement.
    pub fn observe(&mut self, metric: f64) -> f64 {
        self.observations += 1;
        if metric < self.best * (1.0 - self.threshold) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            self.scale = (self.scale * self.factor).max(self.min_scale);
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
        }
        self.scale
    }

    /// The current learning-rate scale (1 until the first reduction).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The best metric seen so far (`inf` before the first observation).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The number of observations so far.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    fn settings(&self) -> String {
        format!(
            "factor={:?}, patience={}, threshold={:?}, cooldown={}, min_scale={:?}",
            self.factor, self.patience, self.threshold, self.cooldown, self.min_scale
        )
    }

    /// Stores the settings and state under `plateau.*` metadata keys of an optimizer state.
    pub fn save_into<T: Float>(&self, state: &mut OptimizerState<T>) {
        let m = &mut state.metadata;
        m.insert("plateau.settings".into(), self.settings());
        m.insert("plateau.best".into(), num(self.best));
        m.insert("plateau.bad_epochs".into(), self.bad_epochs.to_string());
        m.insert("plateau.cooldown_left".into(), self.cooldown_left.to_string());
        m.insert("plateau.scale".into(), num(self.scale));
        m.insert("plateau.observations".into(), self.observations.to_string());
    }

    /// Restores the state saved by [`ReduceOnPlateau::save_into`]; the settings must match
    /// (typed [`StateMismatch`](downhill_tensor::Error::StateMismatch) otherwise). All or nothing.
    pub fn load_from<T: Float>(&mut self, state: &OptimizerState<T>) -> Result<()> {
        state.expect_setting("plateau.settings", &self.settings())?;
        let best = state.parse("plateau.best")?;
        let bad_epochs = state.parse("plateau.bad_epochs")?;
        let cooldown_left = state.parse("plateau.cooldown_left")?;
        let scale = state.parse("plateau.scale")?;
        let observations = state.parse("plateau.observations")?;
        (self.best, self.bad_epochs, self.cooldown_left, self.scale, self.observations) =
            (best, bad_epochs, cooldown_left, scale, observations);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_after_patience_and_respects_cooldown_and_floor() {
        let mut p = ReduceOnPlateau::new().patience(1).factor(0.5).cooldown(1).min_scale(0.2);
        let scales: Vec<f64> =
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0].iter().map(|&m| p.observe(m)).collect();
        // bad epochs: 1, 2 -> reduce (cooldown 1), cooldown eats one, 1, 2 -> reduce, ...
        assert_eq!(scales, vec![1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
        let mut q = ReduceOnPlateau::new().patience(0).factor(0.5).min_scale(0.2);
        for _ in 0..5 {
            q.observe(1.0);
        }
        assert_eq!(q.scale(), 0.2);
    }

    #[test]
    fn small_improvements_below_threshold_do_not_count() {
        let mut p = ReduceOnPlateau::new().patience(0).threshold(0.1);
        p.observe(1.0);
        p.observe(0.95); // not 10% better
        assert!((p.scale() - 0.1).abs() < 1e-15);
        let mut q = ReduceOnPlateau::new().patience(0).threshold(0.1);
        q.observe(1.0);
        q.observe(0.85);
        assert_eq!(q.scale(), 1.0);
    }

    #[test]
    fn settings_are_validated() {
        assert!(ReduceOnPlateau::new().validate().is_ok());
        assert!(ReduceOnPlateau::new().factor(1.0).validate().is_err());
        assert!(ReduceOnPlateau::new().factor(0.0).validate().is_err());
        assert!(ReduceOnPlateau::new().threshold(-1.0).validate().is_err());
    }
}

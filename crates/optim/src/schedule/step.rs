//! Step decay: multiply by `gamma` every `step_size` steps.

use downhill_tensor::Result;

use super::Schedule;
use crate::check;

/// `lr_at(step) = lr · gamma^⌊step / step_size⌋`: PyTorch's `StepLR`.
///
/// Default `gamma` (via [`StepDecay::new`]) is 0.1, PyTorch's default; [`StepDecay::with_gamma`]
/// sets another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDecay {
    lr: f64,
    step_size: u64,
    gamma: f64,
}

impl StepDecay {
    /// Starts at `lr` (> 0) and multiplies by 0.1 every `step_size` (>= 1) steps.
    pub fn new(lr: f64, step_size: u64) -> Result<Self> {
        Self::with_gamma(lr, step_size, 0.1)
    }

    /// Starts at `lr` and multiplies by `gamma` (in (0, 1]) every `step_size` steps.
    pub fn with_gamma(lr: f64, step_size: u64, gamma: f64) -> Result<Self> {
        check::positive("step decay schedule", "lr", lr, "finite and > 0 (typical: 0.1)")?;
        check::at_least_one("step decay schedule", "step_size", step_size, ">= 1 (steps between decays)")?;
        check::factor("step decay schedule", "gamma", gamma, "in (0, 1] (default: 0.1)")?;
        Ok(StepDecay { lr, step_size, gamma })
    }
}

impl Schedule for StepDecay {
    fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.gamma.powf((step / self.step_size) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_at_boundaries() {
        let s = StepDecay::with_gamma(1.0, 3, 0.5).unwrap();
        let lrs: Vec<f64> = (0..7).map(|t| s.lr_at(t)).collect();
        assert_eq!(lrs, vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        assert!((StepDecay::new(1.0, 1).unwrap().lr_at(2) - 0.01).abs() < 1e-17);
        assert!(StepDecay::new(1.0, 0).is_err());
        assert!(StepDecay::with_gamma(1.0, 2, 1.5).is_err());
    }
}

//! Linear warmup.

use downhill_tensor::Result;

use super::Schedule;
use crate::check;

/// `lr_at(step) = lr · (s + (1 − s)·min(step, W)/W)`: from `s·lr` up to `lr` over `W` steps,
/// then constant. PyTorch's `LinearLR(start_factor=s, end_factor=1, total_iters=W)`, whose
/// defaults (`s = 1/3`, `W = 5`) [`LinearWarmup::new`] also uses. Chain it with a decay using
/// [`Join`](super::Join).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearWarmup {
    lr: f64,
    warmup_steps: u64,
    start_factor: f64,
}

impl LinearWarmup {
    /// Warmup to `lr` with PyTorch's defaults: start at `lr/3`, reach `lr` after 5 steps.
    pub fn new(lr: f64) -> Result<Self> {
        Self::with(lr, 5, 1.0 / 3.0)
    }

    /// Warmup from `start_factor·lr` (`start_factor` in [0, 1]) to `lr` over `warmup_steps` (>= 1).
    pub fn with(lr: f64, warmup_steps: u64, start_factor: f64) -> Result<Self> {
        check::positive("linear warmup schedule", "lr", lr, "finite and > 0 (typical: 1e-3)")?;
        check::at_least_one("linear warmup schedule", "warmup_steps", warmup_steps, ">= 1 (default: 5)")?;
        if !(0.0..=1.0).contains(&start_factor) {
            check::unit("linear warmup schedule", "start_factor", start_factor, "in [0, 1] (default: 1/3)")?;
        }
        Ok(LinearWarmup { lr, warmup_steps, start_factor })
    }
}

impl Schedule for LinearWarmup {
    fn lr_at(&self, step: u64) -> f64 {
        let frac = step.min(self.warmup_steps) as f64 / self.warmup_steps as f64;
        self.lr * (self.start_factor + (1.0 - self.start_factor) * frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_then_holds() {
        let s = LinearWarmup::with(1.0, 4, 0.0).unwrap();
        let lrs: Vec<f64> = (0..6).map(|t| s.lr_at(t)).collect();
        assert_eq!(lrs, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
        let d = LinearWarmup::new(3.0).unwrap();
        assert!((d.lr_at(0) - 1.0).abs() < 1e-15 && d.lr_at(5) == 3.0);
        assert!(LinearWarmup::with(1.0, 4, 1.5).is_err());
        assert!(LinearWarmup::with(1.0, 0, 0.5).is_err());
    }
}

//! Cosine decay to a floor.

use downhill_tensor::{Error, Result};

use super::Schedule;
use crate::check;

/// `lr_at(step) = floor + (lr − floor)·(1 + cos(π·step/T))/2` for `step <= T`, then `floor`.
///
/// PyTorch's `CosineAnnealingLR(T_max=T, eta_min=floor)` over its first `T` steps (PyTorch
/// keeps following the cosine back up after `T_max`; this schedule holds the floor). Default
/// floor (via [`Cosine::new`]) is 0, as in PyTorch (`eta_min=0`) and optax (`alpha=0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cosine {
    lr: f64,
    total_steps: u64,
    floor: f64,
}

impl Cosine {
    /// From `lr` (> 0) down to 0 over `total_steps` (>= 1) steps.
    pub fn new(lr: f64, total_steps: u64) -> Result<Self> {
        Self::with_floor(lr, total_steps, 0.0)
    }

    /// From `lr` down to `floor` (in [0, lr]) over `total_steps` steps.
    pub fn with_floor(lr: f64, total_steps: u64, floor: f64) -> Result<Self> {
        check::positive("cosine schedule", "lr", lr, "finite and > 0 (typical: 0.1)")?;
        check::at_least_one(
            "cosine schedule",
            "total_steps",
            total_steps,
            ">= 1 (steps to reach the floor)",
        )?;
        check::non_negative(
            "cosine schedule",
            "floor",
            floor,
            "finite, >= 0 and <= lr (typical: 0 or lr/100)",
        )?;
        if floor > lr {
            return Err(Error::Hyperparameter {
                owner: "cosine schedule",
                name: "floor",
                value: floor,
                expected: "finite, >= 0 and <= lr (typical: 0 or lr/100)",
            });
        }
        Ok(Cosine { lr, total_steps, floor })
    }
}

impl Schedule for Cosine {
    fn lr_at(&self, step: u64) -> f64 {
        let t = step.min(self.total_steps) as f64 / self.total_steps as f64;
        self.floor + (self.lr - self.floor) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_to_the_floor_and_stays() {
        let s = Cosine::with_floor(1.0, 4, 0.1).unwrap();
        assert_eq!(s.lr_at(0), 1.0);
        assert!((s.lr_at(2) - 0.55).abs() < 1e-15);
        assert!((s.lr_at(4) - 0.1).abs() < 1e-15);
        assert_eq!(s.lr_at(4), s.lr_at(400));
        assert!(Cosine::with_floor(1.0, 4, 2.0).is_err());
        assert!(Cosine::new(1.0, 0).is_err());
    }
}

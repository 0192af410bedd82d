//! Exponential decay: multiply by `gamma` every step.

use downhill_tensor::Result;

use super::Schedule;
use crate::check;

/// `lr_at(step) = lr · gamma^step`: PyTorch's `ExponentialLR(gamma)` (no default for `gamma`
/// there either).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exponential {
    lr: f64,
    gamma: f64,
}

impl Exponential {
    /// Starts at `lr` (> 0) and multiplies by `gamma` (in (0, 1]) every step.
    pub fn new(lr: f64, gamma: f64) -> Result<Self> {
        check::positive("exponential schedule", "lr", lr, "finite and > 0 (typical: 0.1)")?;
        check::factor("exponential schedule", "gamma", gamma, "in (0, 1] (typical: 0.99)")?;
        Ok(Exponential { lr, gamma })
    }
}

impl Schedule for Exponential {
    fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.gamma.powf(step as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_geometrically() {
        let s = Exponential::new(2.0, 0.5).unwrap();
        assert_eq!((s.lr_at(0), s.lr_at(1), s.lr_at(3)), (2.0, 1.0, 0.25));
        assert!(Exponential::new(1.0, 0.0).is_err());
        assert!(Exponential::new(-1.0, 0.5).is_err());
    }
}

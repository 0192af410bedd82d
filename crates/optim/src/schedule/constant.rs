//! The constant schedule.

use downhill_tensor::Result;

use super::Schedule;
use crate::check;

/// `lr_at(step) = lr` for every step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    lr: f64,
}

impl Constant {
    /// A constant learning rate (finite, > 0).
    pub fn new(lr: f64) -> Result<Self> {
        check::positive("constant schedule", "lr", lr, "finite and > 0 (typical: 0.01)")?;
        Ok(Constant { lr })
    }
}

impl Schedule for Constant {
    fn lr_at(&self, _step: u64) -> f64 {
        self.lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_constant_and_validated() {
        let s = Constant::new(0.3).unwrap();
        assert_eq!((s.lr_at(0), s.lr_at(1_000_000)), (0.3, 0.3));
        assert!(Constant::new(0.0).is_err());
        assert!(Constant::new(f64::NAN).is_err());
    }
}

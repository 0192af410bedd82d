//! A sequence of schedules, switching at step boundaries.

use std::sync::Arc;

use downhill_tensor::{Error, Result, Site};

use super::Schedule;

/// Runs `schedules[0]` until `boundaries[0]`, then `schedules[1]` (restarted: it sees
/// `step − boundaries[0]`) until `boundaries[1]`, and so on: optax's `join_schedules` and
/// PyTorch's `SequentialLR`. The usual use is warmup then decay:
///
/// ```
/// use downhill_optim::schedule::{Cosine, Join, LinearWarmup, Schedule};
/// let s = Join::new(vec![
///     Box::new(LinearWarmup::with(0.1, 10, 0.0)?),
///     Box::new(Cosine::new(0.1, 90)?),
/// ], vec![10])?;
/// assert_eq!(s.lr_at(5), 0.05);
/// assert_eq!(s.lr_at(10), 0.1); // the cosine's step 0
/// # Ok::<(), downhill_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Join {
    schedules: Vec<Arc<dyn Schedule>>,
    boundaries: Vec<u64>,
}

impl Join {
    /// `boundaries` must be strictly increasing, one fewer than `schedules` (at least one schedule).
    #[track_caller]
    pub fn new(schedules: Vec<Box<dyn Schedule>>, boundaries: Vec<u64>) -> Result<Self> {
        let at = Site::caller();
        let bad = |message: String| Error::InvalidArgument { op: "join schedule", message, at };
        if schedules.is_empty() {
            return Err(bad("needs at least one schedule".to_string()));
        }
        if boundaries.len() + 1 != schedules.len() {
            return Err(bad(format!(
                "{} schedules need {} boundaries, got {}; give one boundary step between each pair of schedules",
                schedules.len(),
                schedules.len() - 1,
                boundaries.len()
            )));
        }
        if boundaries.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(format!("boundaries {boundaries:?} must be strictly increasing")));
        }
        Ok(Join { schedules: schedules.into_iter().map(Arc::from).collect(), boundaries })
    }
}

impl Schedule for Join {
    fn lr_at(&self, step: u64) -> f64 {
        let k = self.boundaries.iter().take_while(|&&b| step >= b).count();
        let start = if k == 0 { 0 } else { self.boundaries[k - 1] };
        self.schedules[k].lr_at(step - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Constant, Exponential};

    #[test]
    fn switches_and_restarts_at_boundaries() {
        let s = Join::new(
            vec![
                Box::new(Constant::new(1.0).unwrap()),
                Box::new(Exponential::new(0.5, 0.5).unwrap()),
                Box::new(Constant::new(0.01).unwrap()),
            ],
            vec![2, 4],
        )
        .unwrap();
        let lrs: Vec<f64> = (0..6).map(|t| s.lr_at(t)).collect();
        assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.25, 0.01, 0.01]);
        assert!(Join::new(vec![Box::new(Constant::new(1.0).unwrap())], vec![3]).is_err());
        assert!(Join::new(vec![], vec![]).is_err());
        assert!(
            Join::new(
                vec![
                    Box::new(Constant::new(1.0).unwrap()),
                    Box::new(Constant::new(1.0).unwrap()),
                    Box::new(Constant::new(1.0).unwrap())
                ],
                vec![3, 3]
            )
            .is_err()
        );
    }
}

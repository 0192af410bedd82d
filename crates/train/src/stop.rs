//! Why a run stopped, divergence guards, and early stopping: the pure decision logic of the fit
//! loop, kept apart from it so each rule is tested on its own.

use std::fmt;

/// Why training ended.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// All requested epochs ran.
    MaxEpochs,
    /// The step budget ran out.
    MaxSteps,
    /// Validation loss stopped improving for `patience` evaluations.
    EarlyStopping {
        /// The epoch with the best validation loss.
        best_epoch: u64,
        /// That loss.
        best_loss: f64,
    },
    /// The loss became NaN or infinite.
    NonFinite {
        /// The step where it happened.
        step: u64,
        /// The value (NaN or ±inf).
        loss: f64,
    },
    /// The loss grew by more than the allowed factor in one step.
    LossJump {
        /// The step where it happened.
        step: u64,
        /// Loss before.
        from: f64,
        /// Loss after.
        to: f64,
    },
    /// The parameter norm passed its bound.
    ParamNorm {
        /// The step where it happened.
        step: u64,
        /// The norm.
        norm: f64,
        /// The bound.
        bound: f64,
    },
    /// The loss rose this many steps in a row.
    Increasing {
        /// The step where it happened.
        step: u64,
        /// Consecutive increases.
        count: usize,
    },
}

impl StopReason {
    /// True for the guards that mean the run diverged.
    pub fn diverged(&self) -> bool {
        matches!(
            self,
            StopReason::NonFinite { .. }
                | StopReason::LossJump { .. }
                | StopReason::ParamNorm { .. }
                | StopReason::Increasing { .. }
        )
    }

    /// A stable short code, e.g. for JSON output and reports.
    pub fn code(&self) -> &'static str {
        match self {
            StopReason::MaxEpochs => "max_epochs",
            StopReason::MaxSteps => "max_steps",
            StopReason::EarlyStopping { .. } => "early_stopping",
            StopReason::NonFinite { .. } => "non_finite",
            StopReason::LossJump { .. } => "loss_jump",
            StopReason::ParamNorm { .. } => "param_norm",
            StopReason::Increasing { .. } => "increasing",
        }
    }

    /// What to do about a divergence (empty for normal stops).
    pub fn diagnosis(&self) -> &'static str {
        match self {
            StopReason::NonFinite { .. } | StopReason::LossJump { .. } => {
                "the step size is past the stable bound: lower the learning rate about 10x, standardize the \
                 features if they are unscaled (downhill doctor shows the largest stable rate), or clip gradients"
            }
            StopReason::ParamNorm { .. } => {
                "the weights are running away: lower the learning rate, add an L2 penalty, or check for \
                 separable data with an unregularized logistic model"
            }
            StopReason::Increasing { .. } => {
                "the loss keeps rising: the learning rate is too high for this stage (try a decaying schedule) \
                 or the gradient has the wrong sign"
            }
            _ => "",
        }
    }
}

/// A number with `digits` decimals, in scientific notation once it reaches a million (or is below
/// 1e-4 and not zero), so that a diverging loss prints as `6.316468e9`, not as a 100-digit number.
struct Readable(f64, usize);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Readable(x, digits) = *self;
        let a = x.abs();
        if !x.is_finite() || x == 0.0 || (1e-4..1e6).contains(&a) {
            write!(f, "{x:.digits$}")
        } else {
            write!(f, "{x:.digits$e}")
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::MaxEpochs => write!(f, "ran all epochs"),
            StopReason::MaxSteps => write!(f, "reached the step budget"),
            StopReason::EarlyStopping { best_epoch, best_loss } => {
                write!(
                    f,
                    "early stopping: best validation loss {} at epoch {best_epoch}",
                    Readable(*best_loss, 6)
                )
            }
            StopReason::NonFinite { step, loss } => write!(f, "loss became {loss} at step {step}"),
            StopReason::LossJump { step, from, to } => {
                let (from, to, ratio) = (Readable(*from, 6), Readable(*to, 6), Readable(to / from, 1));
                write!(f, "loss jumped from {from} to {to} at step {step} ({ratio}x)")
            }
            StopReason::ParamNorm { step, norm, bound } => {
                write!(f, "parameter norm {norm:.4e} passed its bound {bound:.4e} at step {step}")
            }
            StopReason::Increasing { step, count } => {
                write!(f, "loss rose {count} steps in a row (to step {step})")
            }
        }?;
        let d = self.diagnosis();
        if !d.is_empty() {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

/// Divergence guards.
///
/// A non-finite loss and the parameter-norm bound are checked after every step. The jump and
/// streak rules compare losses, which only means something when they are measured on the same
/// rows: the fit loop applies them per step in full-batch training, and to the per-epoch loss
/// over the whole training split with mini-batches (one hard batch can easily cost 10× the
/// previous one in a healthy run).
#[derive(Clone, Debug, PartialEq)]
pub struct Guards {
    /// Stop when the loss grows by more than this factor in one step (default 10; `None` off).
    pub max_jump: Option<f64>,
    /// Stop when the parameter norm exceeds this (default off).
    pub max_param_norm: Option<f64>,
    /// Stop after this many consecutive loss increases (default off; mini-batch losses are noisy).
    pub max_increases: Option<usize>,
}

impl Default for Guards {
    fn default() -> Self {
        Guards { max_jump: Some(10.0), max_param_norm: None, max_increases: None }
    }
}

/// The guards' memory of the previous steps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuardState {
    last: Option<f64>,
    increases: usize,
}

impl Guards {
    /// Checks a loss and the parameter norm at step `step`; a non-finite loss always stops.
    /// `comparable` says whether `loss` can be compared with the previous one given to this
    /// state (same rows); if not, only the non-finite and norm rules apply.
    pub fn check(
        &self,
        state: &mut GuardState,
        step: u64,
        loss: f64,
        param_norm: f64,
        comparable: bool,
    ) -> Option<StopReason> {
        if !loss.is_finite() {
            return Some(StopReason::NonFinite { step, loss });
        }
        if let Some(bound) = self.max_param_norm
            && (param_norm.is_nan() || param_norm > bound)
        {
            return Some(StopReason::ParamNorm { step, norm: param_norm, bound });
        }
        if !comparable {
            return None;
        }
        if let Some(prev) = state.last {
            if let Some(j) = self.max_jump
                && prev > 0.0
                && loss > j * prev
            {
                return Some(StopReason::LossJump { step, from: prev, to: loss });
            }
            state.increases = if loss > prev { state.increases + 1 } else { 0 };
            if let Some(k) = self.max_increases
                && state.increases >= k
            {
                return Some(StopReason::Increasing { step, count: state.increases });
            }
        }
        state.last = Some(loss);
        None
    }
}

/// Early stopping on the validation loss.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Evaluations without improvement before stopping.
    pub patience: usize,
    /// An improvement must lower the best loss by more than this.
    pub min_delta: f64,
    /// Put back the parameters of the best evaluation when stopping.
    pub restore_best: bool,
}

/// What early stopping says after an evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// A new best: keep (a copy of) these parameters.
    Improved,
    /// No improvement yet; keep going.
    Wait,
    /// Patience ran out.
    Stop {
        /// The best epoch.
        best_epoch: u64,
        /// Its loss.
        best_loss: f64,
    },
}

/// Early stopping's memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EarlyState {
    /// Best validation loss so far and its epoch.
    pub best: Option<(u64, f64)>,
    /// Evaluations since the best.
    pub waited: usize,
}

impl EarlyStopping {
    /// Records epoch `epoch`'s validation loss.
    pub fn update(&self, state: &mut EarlyState, epoch: u64, val_loss: f64) -> Verdict {
        match state.best {
            Some((_, best)) if val_loss.is_nan() || val_loss >= best - self.min_delta => {
                state.waited += 1;
                if state.waited >= self.patience {
                    let (best_epoch, best_loss) = state.best.unwrap_or((epoch, val_loss));
                    Verdict::Stop { best_epoch, best_loss }
                } else {
                    Verdict::Wait
                }
            }
            _ => {
                state.best = Some((epoch, val_loss));
                state.waited = 0;
                Verdict::Improved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_tiny_losses_print_in_scientific_notation() {
        let jump = StopReason::LossJump { step: 1, from: 14355.549435, to: 6316467711.561313 };
        let text = jump.to_string();
        assert!(
            text.starts_with("loss jumped from 14355.549435 to 6.316468e9 at step 1 (440001.8x)"),
            "{text}"
        );
        let huge = StopReason::LossJump { step: 3, from: 2.0, to: 2.8e198 };
        assert!(
            huge.to_string().starts_with("loss jumped from 2.000000 to 2.800000e198 at step 3 (1.4e198x)")
        );
        let tiny = StopReason::EarlyStopping { best_epoch: 4, best_loss: 3.5e-9 };
        assert_eq!(tiny.to_string(), "early stopping: best validation loss 3.500000e-9 at epoch 4");
        let zero = StopReason::EarlyStopping { best_epoch: 0, best_loss: 0.0 };
        assert_eq!(zero.to_string(), "early stopping: best validation loss 0.000000 at epoch 0");
    }

    #[test]
    fn guards_stop_on_nan_jumps_norms_and_streaks() {
        let g = Guards { max_jump: Some(10.0), max_param_norm: Some(100.0), max_increases: Some(3) };
        let mut s = GuardState::default();
        assert_eq!(g.check(&mut s, 0, 1.0, 1.0, true), None);
        assert_eq!(g.check(&mut s, 1, 0.5, 1.0, true), None);
        assert!(matches!(
            g.check(&mut s.clone(), 2, 5.1, 1.0, true),
            Some(StopReason::LossJump { step: 2, .. })
        ));
        assert!(matches!(
            g.check(&mut s.clone(), 2, f64::NAN, 1.0, true),
            Some(StopReason::NonFinite { .. })
        ));
        assert!(matches!(g.check(&mut s.clone(), 2, 0.4, 1e3, true), Some(StopReason::ParamNorm { .. })));
        assert!(matches!(
            g.check(&mut s.clone(), 2, 0.4, f64::NAN, true),
            Some(StopReason::ParamNorm { .. })
        ));
        assert_eq!(g.check(&mut s, 2, 0.6, 1.0, true), None);
        assert_eq!(g.check(&mut s, 3, 0.7, 1.0, true), None);
        let r = g.check(&mut s, 4, 0.8, 1.0, true).unwrap();
        assert_eq!(g.check(&mut s.clone(), 5, 100.0, 1.0, false), None, "incomparable losses are not jumps");
        assert!(matches!(r, StopReason::Increasing { count: 3, .. }));
        assert!(r.diverged() && r.to_string().contains("rose 3 steps"));
        assert!(!StopReason::MaxEpochs.diverged());
    }

    #[test]
    fn early_stopping_waits_patience_evaluations() {
        let e = EarlyStopping { patience: 2, min_delta: 0.01, restore_best: true };
        let mut s = EarlyState::default();
        assert_eq!(e.update(&mut s, 0, 1.0), Verdict::Improved);
        assert_eq!(e.update(&mut s, 1, 0.8), Verdict::Improved);
        assert_eq!(e.update(&mut s, 2, 0.795), Verdict::Wait, "below min_delta is not an improvement");
        assert_eq!(e.update(&mut s, 3, 0.9), Verdict::Stop { best_epoch: 1, best_loss: 0.8 });
    }
}

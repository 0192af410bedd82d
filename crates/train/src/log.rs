//! The run log: one record per optimizer step and one per epoch, written as CSV.
//!
//! Numbers are written with Rust's shortest round-trip formatting, so the same run gives the
//! same bytes and every value can be read back exactly.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// What happened in one optimizer step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Step number (from 0).
    pub step: u64,
    /// Epoch the step belongs to.
    pub epoch: u64,
    /// Mini-batch training loss before the update.
    pub loss: f64,
    /// Learning rate used for the update.
    pub lr: f64,
    /// Global gradient norm (before clipping).
    pub grad_norm: f64,
    /// Global parameter norm after the update.
    pub param_norm: f64,
    /// ‖update‖ / ‖parameters before‖: around 1e-3 is healthy; 1e-1 is violent, 1e-6 is stalled.
    pub update_ratio: f64,
    /// Gradient norm of each parameter, in [`RunLog::params`] order.
    pub param_grad_norms: Vec<f64>,
}

/// The state after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// Epoch number (from 0).
    pub epoch: u64,
    /// Steps run so far.
    pub steps: u64,
    /// Training loss over the whole training split (evaluated after the epoch).
    pub train_loss: f64,
    /// Validation loss, if there is a validation split.
    pub val_loss: Option<f64>,
    /// Further metrics by name (`val_accuracy`, `val_f1`, ...).
    pub metrics: BTreeMap<String, f64>,
}

/// Every record of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunLog {
    /// Parameter names, the columns of the per-parameter gradient norms.
    pub params: Vec<String>,
    /// One record per step.
    pub steps: Vec<StepRecord>,
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
}

fn csv_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument { op: "RunLog", message: format!("cannot write CSV: {e}") }
}

fn num(x: f64) -> String {
    format!("{x}")
}

fn to_string(w: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = w.into_inner().map_err(csv_err)?;
    String::from_utf8(bytes).map_err(csv_err)
}

impl RunLog {
    /// A log for a model with these parameter names.
    pub fn new(params: Vec<String>) -> Self {
        RunLog { params, steps: Vec::new(), epochs: Vec::new() }
    }

    /// The per-step CSV: `step,epoch,loss,lr,grad_norm,param_norm,update_ratio,grad_norm/<param>...`.
    pub fn steps_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> =
            ["step", "epoch", "loss", "lr", "grad_norm", "param_norm", "update_ratio"]
                .map(String::from)
                .to_vec();
        header.extend(self.params.iter().map(|p| format!("grad_norm/{p}")));
        w.write_record(&header).map_err(csv_err)?;
        for s in &self.steps {
            let mut row = vec![
                s.step.to_string(),
                s.epoch.to_string(),
                num(s.loss),
                num(s.lr),
                num(s.grad_norm),
                num(s.param_norm),
                num(s.update_ratio),
            ];
            row.extend(s.param_grad_norms.iter().map(|&g| num(g)));
            w.write_record(&row).map_err(csv_err)?;
        }
        to_string(w)
    }

    /// The per-epoch CSV: `epoch,steps,train_loss,val_loss,<metrics>...` (metric columns sorted).
    pub fn epochs_csv(&self) -> Result<String> {
        let names: std::collections::BTreeSet<&String> =
            self.epochs.iter().flat_map(|e| e.metrics.keys()).collect();
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = ["epoch", "steps", "train_loss", "val_loss"].map(String::from).to_vec();
        header.extend(names.iter().map(|s| s.to_string()));
        w.write_record(&header).map_err(csv_err)?;
        for e in &self.epochs {
            let mut row = vec![
                e.epoch.to_string(),
                e.steps.to_string(),
                num(e.train_loss),
                e.val_loss.map(num).unwrap_or_default(),
            ];
            row.extend(names.iter().map(|n| e.metrics.get(*n).map(|&v| num(v)).unwrap_or_default()));
            w.write_record(&row).map_err(csv_err)?;
        }
        to_string(w)
    }

    /// Losses of every step, for plotting.
    pub fn step_losses(&self) -> Vec<f64> {
        self.steps.iter().map(|s| s.loss).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_numbers_exactly() {
        let mut log = RunLog::new(vec!["w".into(), "b".into()]);
        log.steps.push(StepRecord {
            step: 0,
            epoch: 0,
            loss: 0.1 + 0.2,
            lr: 0.01,
            grad_norm: 1.5,
            param_norm: 2.0,
            update_ratio: 7.5e-3,
            param_grad_norms: vec![1.2, 0.9],
        });
        log.epochs.push(EpochRecord {
            epoch: 0,
            steps: 1,
            train_loss: 0.25,
            val_loss: None,
            metrics: BTreeMap::from([("val_accuracy".into(), 0.5)]),
        });
        let s = log.steps_csv().unwrap();
        assert_eq!(
            s,
            "step,epoch,loss,lr,grad_norm,param_norm,update_ratio,grad_norm/w,grad_norm/b\n0,0,0.30000000000000004,0.01,1.5,2,0.0075,1.2,0.9\n"
        );
        assert_eq!(
            log.epochs_csv().unwrap(),
            "epoch,steps,train_loss,val_loss,val_accuracy\n0,1,0.25,,0.5\n"
        );
    }
}

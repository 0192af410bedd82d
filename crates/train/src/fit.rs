//! `fit`: one loop that trains any [`Module`] with any [`Optimizer`] on a [`Dataset`], with seeded
//! mini-batches, per-step and per-epoch logging, divergence guards, early stopping and a step
//! budget. It returns scikit-learn-style results: steps run, why it stopped, and the curves.
//!
//! [`fit`] is the simple entry point. Underneath it is a [`Trainer`]: a run that can stop after
//! any step ([`Trainer::run_until`]), write a checkpoint, and resume from it in another process
//! bit for bit (see [`crate::checkpoint`]).

use std::collections::BTreeMap;

use downhill_nn::{L2, Module, loss};
use downhill_optim::Optimizer;
use downhill_tensor::{Float, Grads, ParamId, Params, Tape, Tensor, Var};

use crate::data::{Batches, Cursor, Dataset};
use crate::log::{EpochRecord, RunLog, StepRecord};
use crate::metrics::score;
use crate::progress::{Progress, ProgressMode};
use crate::stop::{EarlyState, EarlyStopping, GuardState, Guards, StopReason, Verdict};
use crate::{Error, Result};

/// The training loss, matched to the model's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Mean squared error (regression).
    Mse,
    /// Half the mean squared error (the course's form; gradient `mean(pred − y)`).
    HalfMse,
    /// Huber loss with threshold `delta` (regression with outliers).
    Huber {
        /// Where the loss turns from quadratic to linear.
        delta: f64,
    },
    /// Binary cross-entropy on probabilities (the model ends in a sigmoid), clipped at 1e-7.
    Bce,
    /// Binary cross-entropy on logits (stable; the model outputs logits).
    BceWithLogits,
    /// Softmax cross-entropy on logits with integer labels (multiclass).
    CrossEntropy,
}

impl Loss {
    /// The name used by the CLI, reports and `doctor`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::HalfMse => "half_mse",
            Loss::Huber { .. } => "huber",
            Loss::Bce => "bce",
            Loss::BceWithLogits => "bce_with_logits",
            Loss::CrossEntropy => "cross_entropy",
        }
    }

    /// Parses a name given by [`Loss::name`] (`huber` uses delta 1).
    pub fn parse(s: &str) -> Result<Loss> {
        Ok(match s {
            "mse" => Loss::Mse,
            "half_mse" => Loss::HalfMse,
            "huber" => Loss::Huber { delta: 1.0 },
            "bce" => Loss::Bce,
            "bce_with_logits" => Loss::BceWithLogits,
            "cross_entropy" => Loss::CrossEntropy,
            other => {
                return Err(Error::InvalidArgument {
                    op: "loss",
                    message: format!(
                        "unknown loss {other:?}; choose mse, half_mse, huber, bce, bce_with_logits or cross_entropy"
                    ),
                });
            }
        })
    }

    fn uses_labels(&self) -> bool {
        matches!(self, Loss::CrossEntropy)
    }

    /// The loss of `pred` against targets `y` (`[b, 1]`) or `labels`, on the tape.
    #[track_caller]
    pub fn eval<'t, T: Float>(&self, pred: Var<'t, T>, y: Var<'t, T>, labels: &[usize]) -> Var<'t, T> {
        match *self {
            Loss::Mse => loss::mse_loss(pred, y),
            Loss::HalfMse => loss::half_mse_loss(pred, y),
            Loss::Huber { delta } => loss::huber_loss(pred, y, delta),
            Loss::Bce => loss::bce_loss(pred, y),
            Loss::BceWithLogits => loss::bce_with_logits_loss(pred, y),
            Loss::CrossEntropy => loss::softmax_cross_entropy(pred, labels),
        }
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    /// Passes over the training data (default 10).
    pub epochs: u64,
    /// Rows per step: 1 is SGD, ≥ the row count is full-batch gradient descent (default 32).
    pub batch_size: usize,
    /// Seed of the batch order (default 0).
    pub seed: u64,
    /// Stop after this many steps in total (default: no limit).
    pub max_steps: Option<u64>,
    /// Divergence guards (default: non-finite loss and a 10× jump).
    pub guards: Guards,
    /// Early stopping on the validation loss (default off; needs a validation set).
    pub early_stopping: Option<EarlyStopping>,
    /// An L2 penalty added to the training objective (default none).
    pub l2: Option<L2>,
    /// A progress bar on standard error (default [`ProgressMode::Auto`]: only on a terminal,
    /// never under CI). It never changes results or logs.
    pub progress: ProgressMode,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            max_steps: None,
            guards: Guards::default(),
            early_stopping: None,
            l2: None,
            progress: ProgressMode::Auto,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitResult {
    /// Optimizer steps taken.
    pub steps: u64,
    /// Epochs completed.
    pub epochs: u64,
    /// Why it stopped.
    pub stop: StopReason,
    /// The best epoch by validation loss (with early stopping), whose parameters were restored
    /// if `restore_best` was set.
    pub best_epoch: Option<u64>,
    /// Per-step and per-epoch records.
    pub log: RunLog,
}

impl FitResult {
    /// The last epoch's training loss (over the whole training split).
    pub fn final_train_loss(&self) -> Option<f64> {
        self.log.epochs.last().map(|e| e.train_loss)
    }

    /// The last epoch's validation loss.
    pub fn final_val_loss(&self) -> Option<f64> {
        self.log.epochs.last().and_then(|e| e.val_loss)
    }
}

/// A dataset converted once to the model's float type.
pub(crate) struct Prepared<T: Float> {
    pub(crate) x: Tensor<T>,
    pub(crate) y: Tensor<T>,
    pub(crate) labels: Vec<usize>,
}

impl<T: Float> Prepared<T> {
    pub(crate) fn new(d: &Dataset, loss: Loss) -> Result<Self> {
        let labels = if loss.uses_labels() { d.labels()? } else { Vec::new() };
        Ok(Prepared { x: d.x.cast(), y: d.y.cast(), labels })
    }
}

/// Loss (without penalty) and predictions of the model on a whole dataset.
pub(crate) fn evaluate<T: Float, M: Module<T> + ?Sized>(
    model: &M,
    params: &Params<T>,
    loss: Loss,
    data: &Prepared<T>,
    tape: &mut Tape<T>,
) -> Result<(f64, Tensor<T>)> {
    tape.clear();
    let pred = model.forward(tape, params, tape.constant(&data.x));
    let l = loss.eval(pred, tape.constant(&data.y), &data.labels);
    let value = l.item()?.f64();
    let out = pred.value()?;
    tape.clear();
    Ok((value, out))
}

/// Metrics suited to the loss ([`crate::metrics::score`]) on predictions `pred` of `data`, named
/// `{prefix}_{metric}`.
fn metrics<T: Float>(
    loss: Loss,
    pred: &Tensor<T>,
    data: &Prepared<T>,
    prefix: &str,
    out: &mut BTreeMap<String, f64>,
) -> Result<()> {
    let p: Vec<f64> = pred.data().iter().map(|v| v.f64()).collect();
    let y: Vec<f64> = data.y.data().iter().map(|v| v.f64()).collect();
    let columns = if pred.rank() == 2 { pred.dims()[1].max(1) } else { 1 };
    for (k, v) in score(loss, &p, columns, &y, &data.labels)?.metrics {
        out.insert(format!("{prefix}_{k}"), v);
    }
    Ok(())
}

fn norm<T: Float>(t: &Tensor<T>) -> f64 {
    t.data().iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt()
}

/// Trains `model` (its parameters in `params`) with `opt` on `train`, evaluating on `val` after
/// every epoch.
///
/// Each step: a seeded batch of rows, the loss (plus the L2 penalty) on a tape, `backward`, the
/// optimizer's update, the guards. Each epoch: training and validation loss over the whole splits
/// and the metrics that fit the loss. A divergence stops the run with a diagnosis in
/// [`FitResult::stop`]; it is not an `Err` (errors are for misuse: shape mistakes, bad settings).
///
/// This is [`Trainer::new`] followed by [`Trainer::run`] and [`Trainer::result`]; use a
/// [`Trainer`] to stop part-way, save a checkpoint and resume.
pub fn fit<T, M, O>(
    model: &M,
    params: &mut Params<T>,
    opt: &mut O,
    loss: Loss,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &FitConfig,
) -> Result<FitResult>
where
    T: Float,
    M: Module<T> + ?Sized,
    O: Optimizer<T> + ?Sized,
{
    let mut t = Trainer::new(model, params, opt, loss, train, val, cfg)?;
    t.run()?;
    Ok(t.result())
}

/// Where a run is, beyond its weights and optimizer state: what a checkpoint must hold.
///
/// The data cursor is the whole random state of the run: the batch order of an epoch is a pure
/// function of `(seed, epoch)` (see [`Batches`]), so `(epoch, next batch)` says exactly which rows
/// come next. The divergence guards' memory (the last comparable loss and the streak of
/// increases) is a pure function of the losses in the run log, so it is rebuilt from the log on
/// resume rather than stored twice.
#[derive(Clone, Debug, Default)]
pub(crate) struct FitState<T: Float> {
    /// The next batch to run.
    pub(crate) cursor: Cursor,
    /// Optimizer steps taken by this run.
    pub(crate) step: u64,
    /// Every record so far.
    pub(crate) log: RunLog,
    /// Early stopping's memory.
    pub(crate) early: EarlyState,
    /// The best epoch by validation loss.
    pub(crate) best_epoch: Option<u64>,
    /// Parameters of the best epoch (early stopping with `restore_best`).
    pub(crate) best: Option<Params<T>>,
    /// Set once the run has ended.
    pub(crate) stop: Option<StopReason>,
    /// Per-step guard memory (full-batch runs compare step losses).
    pub(crate) guard: GuardState,
    /// Per-epoch guard memory (mini-batch runs compare whole-split losses).
    pub(crate) epoch_guard: GuardState,
}

/// A training run that can be stopped after any step, saved, and resumed bit for bit.
///
/// ```no_run
/// # use downhill_train::fit::{FitConfig, Loss, Trainer};
/// # use downhill_train::data::{toy, Toy};
/// # use downhill_nn::LogisticRegression;
/// # use downhill_optim::{Sgd, SgdConfig};
/// # use downhill_tensor::Params;
/// # fn main() -> downhill_train::Result<()> {
/// let data = toy(Toy::Moons, 200, 0.1, 0)?;
/// let cfg = FitConfig { epochs: 5, batch_size: 16, ..FitConfig::default() };
/// let mut params = Params::<f64>::new();
/// let model = LogisticRegression::new(&mut params, "logreg", 2)?;
/// let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
/// let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &data, None, &cfg)?;
/// t.run_until(20)?; // 20 steps, then stop mid-epoch
/// t.save_checkpoint("run.ckpt.safetensors")?;
/// // ... later, in another process, with a freshly built model and optimizer:
/// // t.resume_from_checkpoint("run.ckpt.safetensors")?; t.run()?;
/// # Ok(()) }
/// ```
pub struct Trainer<'a, T, M, O>
where
    T: Float,
    M: Module<T> + ?Sized,
    O: Optimizer<T> + ?Sized,
{
    pub(crate) model: &'a M,
    pub(crate) params: &'a mut Params<T>,
    pub(crate) opt: &'a mut O,
    pub(crate) loss: Loss,
    pub(crate) cfg: FitConfig,
    pub(crate) tr: Prepared<T>,
    pub(crate) va: Option<Prepared<T>>,
    pub(crate) batches: Batches,
    pub(crate) full_batch: bool,
    ids: Vec<ParamId>,
    pub(crate) state: FitState<T>,
    tape: Tape<T>,
    eval_tape: Tape<T>,
    grads: Grads<T>,
    before: Vec<Tensor<T>>,
    plan: Option<(u64, Vec<Vec<usize>>)>,
    #[cfg(test)]
    pub(crate) progress_target: Option<crate::progress::tests::Recorder>,
}

impl<'a, T, M, O> Trainer<'a, T, M, O>
where
    T: Float,
    M: Module<T> + ?Sized,
    O: Optimizer<T> + ?Sized,
{
    /// Checks the settings and prepares a run (no step is taken yet).
    pub fn new(
        model: &'a M,
        params: &'a mut Params<T>,
        opt: &'a mut O,
        loss: Loss,
        train: &Dataset,
        val: Option<&Dataset>,
        cfg: &FitConfig,
    ) -> Result<Self> {
        if cfg.early_stopping.is_some() && val.is_none() {
            return Err(Error::InvalidArgument {
                op: "fit",
                message: "early stopping needs a validation set; pass Some(val) or turn early stopping off"
                    .to_string(),
            });
        }
        if cfg.epochs == 0 {
            return Err(Error::InvalidArgument {
                op: "fit",
                message: "epochs must be at least 1".to_string(),
            });
        }
        let tr = Prepared::<T>::new(train, loss)?;
        let va = val.map(|v| Prepared::<T>::new(v, loss)).transpose()?;
        let n = train.len();
        let full_batch = cfg.batch_size >= n;
        let batches = if full_batch {
            Batches::new(n, n, cfg.seed)?.sequential()
        } else {
            Batches::new(n, cfg.batch_size, cfg.seed)?
        };
        let names: Vec<String> = params.iter().map(|(_, name, _)| name.to_string()).collect();
        let ids: Vec<_> = params.ids().collect();
        let state = FitState { log: RunLog::new(names), ..FitState::default() };
        Ok(Trainer {
            model,
            params,
            opt,
            loss,
            cfg: cfg.clone(),
            tr,
            va,
            batches,
            full_batch,
            before: Vec::with_capacity(ids.len()),
            ids,
            state,
            tape: Tape::new(),
            eval_tape: Tape::new(),
            grads: Grads::new(),
            plan: None,
            #[cfg(test)]
            progress_target: None,
        })
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// The next batch: its epoch and its index within the epoch.
    pub fn cursor(&self) -> Cursor {
        self.state.cursor
    }

    /// The records so far.
    pub fn log(&self) -> &RunLog {
        &self.state.log
    }

    /// Why the run ended, once it has.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.state.stop.as_ref()
    }

    /// True once the run has ended (epochs done, budget spent, a guard or early stopping).
    pub fn is_finished(&self) -> bool {
        self.state.stop.is_some()
    }

    /// The parameters as they are now.
    pub fn params(&self) -> &Params<T> {
        self.params
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        self.opt
    }

    /// The run's settings.
    pub fn config(&self) -> &FitConfig {
        &self.cfg
    }

    /// The step budget of the whole run: the smaller of `epochs × batches per epoch` and
    /// `max_steps`.
    pub fn total_steps(&self) -> u64 {
        let all = self.cfg.epochs.saturating_mul(self.batches.per_epoch() as u64);
        self.cfg.max_steps.map_or(all, |m| m.min(all))
    }

    /// Runs to the end (all epochs, the step budget, a guard or early stopping).
    pub fn run(&mut self) -> Result<()> {
        self.run_until(u64::MAX)
    }

    /// Runs until `steps` optimizer steps have been taken in total, or the run ends first.
    ///
    /// After the last batch of an epoch, that epoch's evaluation belongs to the step: a run
    /// paused there has already evaluated the epoch, and a checkpoint saved then starts at the
    /// next epoch's first batch.
    pub fn run_until(&mut self, steps: u64) -> Result<()> {
        if self.is_finished() || self.state.step >= steps {
            return Ok(());
        }
        let mut bar = self.progress_bar();
        let out = self.run_loop(steps, &mut bar);
        if let Some(b) = &bar {
            match &self.state.stop {
                Some(stop) => b.finish(stop),
                None => b.pause(),
            }
        }
        out
    }

    #[cfg(not(test))]
    fn progress_bar(&self) -> Option<Progress> {
        Progress::for_run(self.cfg.progress, self.total_steps(), self.state.step)
    }

    #[cfg(test)]
    fn progress_bar(&self) -> Option<Progress> {
        match &self.progress_target {
            Some(rec) => Some(Progress::with_target(
                indicatif::ProgressDrawTarget::term_like(Box::new(rec.clone())),
                self.total_steps(),
                self.state.step,
            )),
            None => Progress::for_run(self.cfg.progress, self.total_steps(), self.state.step),
        }
    }

    fn run_loop(&mut self, steps: u64, bar: &mut Option<Progress>) -> Result<()> {
        while self.state.stop.is_none() && self.state.step < steps {
            if self.cfg.max_steps.is_some_and(|m| self.state.step >= m) {
                self.finish(StopReason::MaxSteps);
                break;
            }
            self.step(bar)?;
        }
        Ok(())
    }

    /// Ends the run; with early stopping and `restore_best`, puts the best parameters back.
    fn finish(&mut self, stop: StopReason) {
        if let (StopReason::EarlyStopping { .. }, Some(b)) = (&stop, self.state.best.take()) {
            *self.params = b;
        }
        self.state.stop = Some(stop);
    }

    /// The rows of the batch under the cursor.
    fn rows(&mut self) -> Vec<usize> {
        let Cursor { epoch, batch } = self.state.cursor;
        if self.plan.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.plan = Some((epoch, self.batches.epoch(epoch, 0)));
        }
        self.plan.as_ref().and_then(|(_, p)| p.get(batch).cloned()).unwrap_or_default()
    }

    /// One optimizer step on the batch under the cursor, then the epoch's evaluation if it was
    /// the epoch's last batch.
    fn step(&mut self, bar: &mut Option<Progress>) -> Result<()> {
        let rows = self.rows();
        let epoch = self.state.cursor.epoch;
        let step = self.state.step;
        let (tr, params, tape) = (&self.tr, &*self.params, &mut self.tape);
        // Forward and backward on this batch.
        tape.clear();
        let (xb, yb, lb);
        let (x, y, labels) = if self.full_batch {
            (tape.constant(&tr.x), tape.constant(&tr.y), tr.labels.as_slice())
        } else {
            xb = tape.constant(&tr.x).index_select(0, &rows);
            yb = tape.constant(&tr.y).index_select(0, &rows);
            lb = if tr.labels.is_empty() { Vec::new() } else { rows.iter().map(|&r| tr.labels[r]).collect() };
            (xb, yb, lb.as_slice())
        };
        let mut objective = match self.loss {
            // The model may fuse its forward pass into this loss (LogisticRegression does).
            Loss::BceWithLogits => self.model.bce_with_logits_loss(tape, params, x, y),
            _ => self.loss.eval(self.model.forward(tape, params, x), y, labels),
        };
        if let Some(l2) = &self.cfg.l2 {
            objective = objective + l2.penalty(tape, params);
        }
        objective.backward_into(&mut self.grads)?;
        let loss_value = objective.item()?.f64();
        tape.clear();
        // Statistics, then the update.
        let grads = &self.grads;
        let param_grad_norms: Vec<f64> = self.ids.iter().map(|&id| grads.get(id).map_or(0.0, norm)).collect();
        self.before.clear();
        self.before.extend(self.ids.iter().map(|&id| self.params.get(id).clone()));
        let lr = self.opt.lr();
        self.opt.step(self.params, &self.grads)?;
        let (mut p2, mut d2, mut b2) = (0.0, 0.0, 0.0);
        for (&id, old) in self.ids.iter().zip(&self.before) {
            for (&a, &b) in self.params.get(id).data().iter().zip(old.data()) {
                p2 += a.f64() * a.f64();
                d2 += (a.f64() - b.f64()).powi(2);
                b2 += b.f64() * b.f64();
            }
        }
        let param_norm = p2.sqrt();
        self.state.log.steps.push(StepRecord {
            step,
            epoch,
            loss: loss_value,
            lr,
            grad_norm: self.grads.global_norm(),
            param_norm,
            update_ratio: if b2 > 0.0 { (d2 / b2).sqrt() } else { f64::INFINITY },
            param_grad_norms,
        });
        self.state.step += 1;
        self.state.cursor.batch += 1;
        if let Some(b) = bar.as_mut() {
            b.step(step, epoch, loss_value);
        }
        if let Some(reason) =
            self.cfg.guards.check(&mut self.state.guard, step, loss_value, param_norm, self.full_batch)
        {
            self.finish(reason);
            return Ok(());
        }
        if self.state.cursor.batch >= self.batches.per_epoch() {
            self.end_epoch(bar)?;
        }
        Ok(())
    }

    /// Whole-split losses and metrics after the last batch of the cursor's epoch, the epoch
    /// guards and early stopping; then the cursor moves to the next epoch.
    fn end_epoch(&mut self, bar: &mut Option<Progress>) -> Result<()> {
        let epoch = self.state.cursor.epoch;
        let step = self.state.step;
        let (train_loss, train_pred) =
            evaluate(self.model, self.params, self.loss, &self.tr, &mut self.eval_tape)?;
        let mut m = BTreeMap::new();
        metrics(self.loss, &train_pred, &self.tr, "train", &mut m)?;
        let val_loss = match &self.va {
            Some(v) => {
                let (l, pred) = evaluate(self.model, self.params, self.loss, v, &mut self.eval_tape)?;
                metrics(self.loss, &pred, v, "val", &mut m)?;
                Some(l)
            }
            None => None,
        };
        let record = EpochRecord { epoch, steps: step, train_loss, val_loss, metrics: m };
        if let Some(b) = bar.as_mut() {
            b.epoch(&record);
        }
        self.state.log.epochs.push(record);
        self.state.cursor = Cursor { epoch: epoch + 1, batch: 0 };
        if !self.full_batch {
            let pn = self.state.log.steps.last().map_or(0.0, |s| s.param_norm);
            if let Some(reason) = self.cfg.guards.check(
                &mut self.state.epoch_guard,
                step.saturating_sub(1),
                train_loss,
                pn,
                true,
            ) {
                self.finish(reason);
                return Ok(());
            }
        }
        if let (Some(es), Some(vl)) = (&self.cfg.early_stopping, val_loss) {
            match es.update(&mut self.state.early, epoch, vl) {
                Verdict::Improved => {
                    self.state.best_epoch = Some(epoch);
                    if es.restore_best {
                        self.state.best = Some(self.params.clone());
                    }
                }
                Verdict::Wait => {}
                Verdict::Stop { best_epoch, best_loss } => {
                    self.finish(StopReason::EarlyStopping { best_epoch, best_loss });
                    return Ok(());
                }
            }
        }
        if epoch + 1 >= self.cfg.epochs {
            self.finish(StopReason::MaxEpochs);
        }
        Ok(())
    }

    /// Rebuilds the guards' memory by replaying their checks over the log: the state after a
    /// sequence of losses depends on nothing else.
    pub(crate) fn replay_guards(&mut self) {
        let (mut guard, mut epoch_guard) = (GuardState::default(), GuardState::default());
        for s in &self.state.log.steps {
            // A stop would have ended the run; a log of a running run has none.
            let _ = self.cfg.guards.check(&mut guard, s.step, s.loss, s.param_norm, self.full_batch);
        }
        if !self.full_batch {
            for e in &self.state.log.epochs {
                // The parameter norm after the epoch's last step (steps are numbered from 0).
                let last = (e.steps as usize).checked_sub(1).and_then(|i| self.state.log.steps.get(i));
                let pn = last.map_or(0.0, |s| s.param_norm);
                let _ = self.cfg.guards.check(
                    &mut epoch_guard,
                    e.steps.saturating_sub(1),
                    e.train_loss,
                    pn,
                    true,
                );
            }
        }
        self.state.guard = guard;
        self.state.epoch_guard = epoch_guard;
    }

    /// The result so far (final once [`Trainer::is_finished`]); a run paused by
    /// [`Trainer::run_until`] reports [`StopReason::MaxSteps`].
    pub fn result(&self) -> FitResult {
        FitResult {
            steps: self.state.step,
            epochs: self.state.log.epochs.len() as u64,
            stop: self.state.stop.clone().unwrap_or(StopReason::MaxSteps),
            best_epoch: self.state.best_epoch,
            log: self.state.log.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SplitOptions, StandardScaler, Toy, breast_cancer, diabetes_raw, toy};
    use downhill_nn::{Activation, Init, LinearRegression, LogisticRegression, Mlp};
    use downhill_optim::{Adam, AdamConfig, Sgd, SgdConfig};
    use downhill_tensor::seeded_rng;

    fn standardized(d: &Dataset) -> Dataset {
        let s = StandardScaler::fit(&d.x).unwrap();
        Dataset { x: s.transform(&d.x).unwrap(), ..d.clone() }
    }

    /// A logistic regression that counts the fit loop's calls of its loss hook, or hides the hook
    /// (the trait's default: forward, then the loss).
    struct Hooked {
        inner: LogisticRegression,
        fused: bool,
        calls: std::cell::Cell<usize>,
    }

    impl Module<f64> for Hooked {
        fn forward<'t>(&self, tape: &'t Tape<f64>, params: &Params<f64>, x: Var<'t, f64>) -> Var<'t, f64> {
            self.inner.forward(tape, params, x)
        }
        fn params(&self) -> Vec<ParamId> {
            self.inner.params()
        }
        fn bce_with_logits_loss<'t>(
            &self,
            tape: &'t Tape<f64>,
            params: &Params<f64>,
            x: Var<'t, f64>,
            y: Var<'t, f64>,
        ) -> Var<'t, f64> {
            self.calls.set(self.calls.get() + 1);
            if self.fused {
                self.inner.bce_with_logits_loss(tape, params, x, y)
            } else {
                loss::bce_with_logits_loss(self.inner.forward(tape, params, x), y)
            }
        }
    }

    #[test]
    fn bce_with_logits_fits_go_through_the_models_loss_hook() {
        // 6,000 × 12 churn rows, full batch: large enough for LogisticRegression's fused node.
        let d = standardized(&crate::data::churn(6_000, 5, false).unwrap());
        assert!(d.x.numel() >= downhill_tensor::LARGE);
        let cfg = FitConfig { epochs: 30, batch_size: d.len(), ..FitConfig::default() };
        let run = |fused: bool| {
            let mut params = Params::<f64>::new();
            let inner = LogisticRegression::new(&mut params, "logreg", d.n_features()).unwrap();
            let model = Hooked { inner, fused, calls: std::cell::Cell::new(0) };
            let mut opt = Sgd::new(SgdConfig::lr(0.5)).unwrap();
            let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg).unwrap();
            let w: Vec<f64> = params.iter().flat_map(|(_, _, t)| t.data().to_vec()).collect();
            (model.calls.get(), r.final_train_loss().unwrap(), w)
        };
        let ((calls, loss_fused, w_fused), (_, loss_plain, w_plain)) = (run(true), run(false));
        assert_eq!(calls, 30, "one call per full-batch step");
        assert!(loss_fused < 0.9 * 2f64.ln(), "it learns: {loss_fused}");
        assert!((loss_fused - loss_plain).abs() < 1e-12, "{loss_fused} vs {loss_plain}");
        for (a, b) in w_fused.iter().zip(&w_plain) {
            assert!((a - b).abs() < 1e-11, "{a} vs {b}");
        }
    }

    #[test]
    fn logistic_regression_on_breast_cancer_learns_and_logs() {
        let d = standardized(&breast_cancer().unwrap());
        let (tr, va, _) = d.split(&SplitOptions { val: 0.2, test: 0.0, seed: 0, stratify: true }).unwrap();
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let cfg = FitConfig { epochs: 20, batch_size: 32, ..FitConfig::default() };
        let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        assert_eq!(r.stop, StopReason::MaxEpochs);
        assert_eq!(r.steps, 20 * tr.len().div_ceil(32) as u64);
        assert_eq!(r.log.steps.len() as u64, r.steps);
        let first = r.log.epochs[0].train_loss;
        let last = r.final_train_loss().unwrap();
        assert!(last < 0.1 && last < first, "{first} -> {last}");
        assert!(r.log.epochs.last().unwrap().metrics["val_accuracy"] > 0.95);
        // Same seed, same run, bit for bit.
        let mut p2 = Params::<f64>::new();
        let m2 = LogisticRegression::new(&mut p2, "logreg", 30).unwrap();
        let mut o2 = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let r2 = fit(&m2, &mut p2, &mut o2, Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        assert_eq!(r.log, r2.log);
    }

    #[test]
    fn unscaled_diabetes_diverges_with_a_diagnosis() {
        let d = diabetes_raw().unwrap();
        let mut params = Params::<f64>::new();
        let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
        let cfg = FitConfig { epochs: 200, batch_size: usize::MAX, ..FitConfig::default() };
        let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &cfg).unwrap();
        assert!(r.stop.diverged(), "{}", r.stop);
        assert!(r.stop.to_string().contains("lower the learning rate"));
        // Standardized, the same rate converges.
        let mut params = Params::<f64>::new();
        let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
        let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &standardized(&d), None, &cfg).unwrap();
        assert_eq!(r.stop, StopReason::MaxEpochs);
    }

    #[test]
    fn early_stopping_restores_the_best_epoch_and_budgets_stop() {
        let d = toy(Toy::Moons, 300, 0.3, 1).unwrap();
        let (tr, va, _) = d.split(&SplitOptions { val: 0.3, test: 0.0, seed: 2, stratify: false }).unwrap();
        let mut params = Params::<f64>::new();
        let mlp = Mlp::new(
            &mut params,
            "mlp",
            &[2, 64, 64, 1],
            Activation::Relu,
            Init::HeNormal,
            &mut seeded_rng(3),
        )
        .unwrap();
        let mut opt = Adam::new(AdamConfig { lr: 0.02, ..AdamConfig::default() }).unwrap();
        let es = EarlyStopping { patience: 3, min_delta: 0.0, restore_best: true };
        let cfg = FitConfig { epochs: 500, batch_size: 16, early_stopping: Some(es), ..FitConfig::default() };
        let r = fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        let StopReason::EarlyStopping { best_epoch, best_loss } = r.stop else { panic!("{}", r.stop) };
        assert_eq!(r.best_epoch, Some(best_epoch));
        // The restored parameters give the best validation loss again.
        let mut t = Tape::new();
        let (vl, _) = evaluate(
            &mlp,
            &params,
            Loss::BceWithLogits,
            &Prepared::new(&va, Loss::BceWithLogits).unwrap(),
            &mut t,
        )
        .unwrap();
        assert_eq!(vl, best_loss);

        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        let cfg = FitConfig { epochs: 50, batch_size: 16, max_steps: Some(7), ..FitConfig::default() };
        let r = fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &tr, None, &cfg).unwrap();
        assert_eq!((r.steps, &r.stop), (7, &StopReason::MaxSteps));
    }

    #[test]
    fn a_progress_bar_never_changes_the_run() {
        let d = toy(Toy::Moons, 120, 0.2, 0).unwrap();
        let run = |bar: Option<crate::progress::tests::Recorder>| {
            let mut params = Params::<f64>::new();
            let mlp = Mlp::new(
                &mut params,
                "mlp",
                &[2, 8, 1],
                Activation::Tanh,
                Init::XavierUniform,
                &mut seeded_rng(1),
            )
            .unwrap();
            let mut opt = Adam::new(AdamConfig::default()).unwrap();
            let cfg = FitConfig {
                epochs: 4,
                batch_size: 16,
                progress: ProgressMode::Never,
                ..FitConfig::default()
            };
            let mut t =
                Trainer::new(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg).unwrap();
            t.progress_target = bar;
            t.run_until(10).unwrap();
            t.run().unwrap();
            let r = t.result();
            (r.log.steps_csv().unwrap(), r.log.epochs_csv().unwrap(), r)
        };
        let rec = crate::progress::tests::Recorder::default();
        let (steps, epochs, with_bar) = run(Some(rec.clone()));
        let (steps2, epochs2, without) = run(None);
        assert_eq!((steps, epochs), (steps2, epochs2), "log bytes");
        assert_eq!(with_bar, without);
        let text = rec.text();
        assert!(text.contains("32/32 steps") && text.contains("max_epochs"), "the bar was drawn: {text}");
    }

    #[test]
    fn run_until_pauses_between_steps_and_fit_is_trainer_run() {
        let d = toy(Toy::Moons, 100, 0.2, 0).unwrap();
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "m", 2).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let cfg =
            FitConfig { epochs: 3, batch_size: 30, progress: ProgressMode::Never, ..FitConfig::default() };
        let straight = {
            let mut p = params.clone();
            let mut o = Sgd::new(SgdConfig::lr(0.1)).unwrap();
            fit(&model, &mut p, &mut o, Loss::BceWithLogits, &d, None, &cfg).unwrap()
        };
        let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg).unwrap();
        assert_eq!(t.total_steps(), 12, "4 batches per epoch (the last has 10 rows)");
        t.run_until(4).unwrap();
        assert_eq!((t.step_count(), t.cursor(), t.is_finished()), (4, Cursor { epoch: 1, batch: 0 }, false));
        assert_eq!(t.log().epochs.len(), 1, "the epoch's evaluation belongs to its last step");
        t.run_until(6).unwrap();
        assert_eq!(t.cursor(), Cursor { epoch: 1, batch: 2 });
        t.run_until(2).unwrap();
        assert_eq!(t.step_count(), 6, "running until an earlier step does nothing");
        t.run().unwrap();
        assert_eq!(t.result(), straight);
        assert_eq!(t.stop_reason(), Some(&StopReason::MaxEpochs));
    }

    #[test]
    fn misuse_is_an_error() {
        let d = toy(Toy::Xor, 20, 0.0, 0).unwrap();
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "m", 2).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let es = EarlyStopping { patience: 1, min_delta: 0.0, restore_best: false };
        let cfg = FitConfig { early_stopping: Some(es), ..FitConfig::default() };
        assert!(fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg).is_err());
        // A model with the wrong input width: the tensor error surfaces as an Err.
        let bad = LogisticRegression::new(&mut params, "bad", 3).unwrap();
        let e = fit(&bad, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &FitConfig::default())
            .unwrap_err();
        assert!(matches!(e, Error::Tensor(_)), "{e}");
        assert!(Loss::parse("l1").is_err());
        assert_eq!(Loss::parse("cross_entropy").unwrap().name(), "cross_entropy");
    }
}

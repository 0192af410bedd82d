//! Checkpoints: one safetensors file that holds everything a run needs to continue bit for bit
//! in another process.
//!
//! # What is in the file
//!
//! Tensors (all of the model's float type, ordered by name):
//! - `param/{name}`: the weights, one per parameter of the store;
//! - `optim/{buffer}/{name}`: the optimizer's buffers ([`Optimizer::state`]: momentum, Adam's
//!   moments, ...);
//! - `best/{name}`: the parameters of the best epoch, when early stopping restores them.
//!
//! String metadata (numbers in Rust's shortest round-trip form, so they read back exactly):
//! - `format` ([`FORMAT`]) and `dtype`;
//! - `optim.*`: the optimizer's metadata (kind, step counters, `lr_scale`, every setting);
//! - `run.*`: what identifies the run: loss, seed, effective batch size, the shape and a
//!   checksum of the training and validation data, guards, early stopping and L2 settings.
//!   Resuming with any of them different is an [`Error::CheckpointMismatch`];
//! - `state.*`: the data cursor (epoch and next batch), the step counter, the best epoch;
//! - `early.*`: early stopping's best loss, its epoch, and the evaluations waited since;
//! - `stop.*`: why the run ended, if it has;
//! - `log.steps`, `log.epochs`: the run log so far as CSV ([`RunLog::steps_csv`]), so the
//!   report of a resumed run equals the uninterrupted one;
//! - `scaler.*`: the feature scaler's statistics, if one was attached ([`Checkpoint::scaler`]).
//!
//! # Why this is enough
//!
//! The only randomness of a run is the batch order, and the order of epoch `e` is a pure
//! function of `(seed, e)` ([`Batches`](crate::data::Batches)): the data cursor **is** the random
//! state. The guards' memory is a pure function of the logged losses and is rebuilt from the log.
//! Everything else that changes during a run (weights, optimizer buffers and counters, the
//! schedule's position, which is the optimizer's step count) is stored exactly.
//!
//! ```no_run
//! # use downhill_train::checkpoint::Checkpoint;
//! # use downhill_train::fit::{FitConfig, Loss, Trainer};
//! # use downhill_train::data::{toy, Toy};
//! # use downhill_nn::LogisticRegression;
//! # use downhill_optim::{Adam, AdamConfig};
//! # use downhill_tensor::Params;
//! # fn main() -> downhill_train::Result<()> {
//! # let data = toy(Toy::Moons, 200, 0.1, 0)?;
//! # let cfg = FitConfig { epochs: 5, batch_size: 16, ..FitConfig::default() };
//! // In a fresh process: build the same model and optimizer, then resume.
//! let ckpt = Checkpoint::<f64>::load("run.ckpt.safetensors")?;
//! let mut params = Params::<f64>::new();
//! let model = LogisticRegression::new(&mut params, "logreg", 2)?;
//! let mut opt = Adam::new(AdamConfig::default())?;
//! let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &data, None, &cfg)?;
//! t.resume(&ckpt)?;
//! t.run()?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use downhill_nn::Module;
use downhill_optim::{Optimizer, OptimizerState};
use downhill_tensor::{Float, Tensor, io};

use crate::data::{Cursor, StandardScaler};
use crate::fit::{FitState, Trainer};
use crate::log::{EpochRecord, RunLog, StepRecord};
use crate::stop::{EarlyState, StopReason};
use crate::{Error, Result};

/// The value of the `format` metadata key of a checkpoint written by this version.
pub const FORMAT: &str = "downhill-checkpoint/1";

/// Named tensors, ordered by name.
pub type Named<T> = Vec<(String, Tensor<T>)>;

/// Everything needed to resume a run: weights, optimizer state, data cursor, step counter,
/// early-stopping state, best parameters, the run log, and optionally the scaler statistics.
///
/// Make one with [`Trainer::checkpoint`], write it with [`Checkpoint::save`], read it with
/// [`Checkpoint::load`] and continue with [`Trainer::resume`].
#[derive(Clone, Debug)]
pub struct Checkpoint<T: Float> {
    /// The weights, by parameter name (ordered by name).
    pub params: Named<T>,
    /// The optimizer's state.
    pub optimizer: OptimizerState<T>,
    /// The best epoch's parameters, kept for early stopping's `restore_best`.
    pub best: Option<Named<T>>,
    /// The feature scaler the data was standardized with, if attached (saved with the run so a
    /// resumed process scales its data the same way).
    pub scaler: Option<StandardScaler>,
    /// The next batch (epoch, batch within the epoch): with the seed, the whole random state.
    pub cursor: Cursor,
    /// Optimizer steps taken by the run.
    pub step: u64,
    /// The best epoch by validation loss so far.
    pub best_epoch: Option<u64>,
    /// Early stopping's memory.
    pub early: EarlyState,
    /// Why the run ended, if it has.
    pub stop: Option<StopReason>,
    /// The run log so far.
    pub log: RunLog,
    /// What identifies the run (loss, seed, batch size, data checksums, settings), compared on
    /// resume. Keys without the `run.` prefix.
    pub run: BTreeMap<String, String>,
    /// Where the checkpoint came from (a path, `"<bytes>"` or `"<memory>"`), for messages.
    pub origin: String,
}

fn corrupt(origin: &str, message: impl Into<String>) -> Error {
    Error::CheckpointCorrupt { path: origin.to_string(), message: message.into() }
}

/// Shortest round-trip text of a float.
fn num(x: f64) -> String {
    format!("{x:?}")
}

/// FNV-1a over the bits of a tensor's values: a cheap identity for "the same data".
fn checksum<T: Float>(tensors: &[&Tensor<T>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in tensors {
        for d in t.dims() {
            for b in (*d as u64).to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        for &v in t.data() {
            for b in v.f64().to_bits().to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("{h:016x}")
}

fn stop_to_meta(stop: &StopReason, m: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, v: String| {
        m.insert(format!("stop.{k}"), v);
    };
    put("code", stop.code().to_string());
    match *stop {
        StopReason::MaxEpochs | StopReason::MaxSteps => {}
        StopReason::EarlyStopping { best_epoch, best_loss } => {
            put("best_epoch", best_epoch.to_string());
            put("best_loss", num(best_loss));
        }
        StopReason::NonFinite { step, loss } => {
            put("step", step.to_string());
            put("loss", num(loss));
        }
        StopReason::LossJump { step, from, to } => {
            put("step", step.to_string());
            put("from", num(from));
            put("to", num(to));
        }
        StopReason::ParamNorm { step, norm, bound } => {
            put("step", step.to_string());
            put("norm", num(norm));
            put("bound", num(bound));
        }
        StopReason::Increasing { step, count } => {
            put("step", step.to_string());
            put("count", count.to_string());
        }
    }
}

/// Reads metadata of a loaded checkpoint with errors naming the file.
struct Meta<'a> {
    m: &'a BTreeMap<String, String>,
    origin: &'a str,
}

impl Meta<'_> {
    fn text(&self, key: &str) -> Result<&str> {
        self.m
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| corrupt(self.origin, format!("no {key:?} in the metadata")))
    }

    fn parse<V: std::str::FromStr>(&self, key: &str) -> Result<V> {
        let s = self.text(key)?;
        s.parse().map_err(|_| corrupt(self.origin, format!("metadata {key:?} = {s:?} is not a valid number")))
    }

    fn opt<V: std::str::FromStr>(&self, key: &str) -> Result<Option<V>> {
        if self.m.contains_key(key) { self.parse(key).map(Some) } else { Ok(None) }
    }

    fn floats(&self, key: &str) -> Result<Vec<f64>> {
        let s = self.text(key)?;
        if s.is_empty() {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(|v| {
                v.parse()
                    .map_err(|_| corrupt(self.origin, format!("metadata {key:?}: {v:?} is not a number")))
            })
            .collect()
    }

    fn stop(&self) -> Result<Option<StopReason>> {
        let Some(code) = self.m.get("stop.code") else { return Ok(None) };
        Ok(Some(match code.as_str() {
            "max_epochs" => StopReason::MaxEpochs,
            "max_steps" => StopReason::MaxSteps,
            "early_stopping" => StopReason::EarlyStopping {
                best_epoch: self.parse("stop.best_epoch")?,
                best_loss: self.parse("stop.best_loss")?,
            },
            "non_finite" => {
                StopReason::NonFinite { step: self.parse("stop.step")?, loss: self.parse("stop.loss")? }
            }
            "loss_jump" => StopReason::LossJump {
                step: self.parse("stop.step")?,
                from: self.parse("stop.from")?,
                to: self.parse("stop.to")?,
            },
            "param_norm" => StopReason::ParamNorm {
                step: self.parse("stop.step")?,
                norm: self.parse("stop.norm")?,
                bound: self.parse("stop.bound")?,
            },
            "increasing" => {
                StopReason::Increasing { step: self.parse("stop.step")?, count: self.parse("stop.count")? }
            }
            other => return Err(corrupt(self.origin, format!("unknown stop reason {other:?}"))),
        }))
    }
}

fn csv_rows(text: &str, what: &str, origin: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let bad = |e: csv::Error| corrupt(origin, format!("{what} is not valid CSV: {e}"));
    let header: Vec<String> = r.headers().map_err(bad)?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        rows.push(rec.map_err(bad)?.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

fn cell<V: std::str::FromStr>(s: &str, what: &str, origin: &str) -> Result<V> {
    s.parse().map_err(|_| corrupt(origin, format!("{what}: {s:?} is not a number")))
}

/// Parses [`RunLog::steps_csv`] and [`RunLog::epochs_csv`] back into a log (exactly: the CSV
/// holds shortest round-trip numbers).
fn parse_log(steps: &str, epochs: &str, origin: &str) -> Result<RunLog> {
    const FIXED: usize = 7;
    let (header, rows) = csv_rows(steps, "log.steps", origin)?;
    if header.len() < FIXED || header[0] != "step" {
        return Err(corrupt(origin, format!("log.steps has header {header:?}")));
    }
    let params: Vec<String> = header[FIXED..]
        .iter()
        .map(|h| h.strip_prefix("grad_norm/").map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| corrupt(origin, format!("log.steps has header {header:?}")))?;
    let mut log = RunLog::new(params);
    for row in rows {
        let f = |i: usize| cell::<f64>(&row[i], "log.steps", origin);
        log.steps.push(StepRecord {
            step: cell(&row[0], "log.steps", origin)?,
            epoch: cell(&row[1], "log.steps", origin)?,
            loss: f(2)?,
            lr: f(3)?,
            grad_norm: f(4)?,
            param_norm: f(5)?,
            update_ratio: f(6)?,
            param_grad_norms: (FIXED..row.len()).map(f).collect::<Result<_>>()?,
        });
    }
    let (header, rows) = csv_rows(epochs, "log.epochs", origin)?;
    if header.len() < 4 || header[0] != "epoch" {
        return Err(corrupt(origin, format!("log.epochs has header {header:?}")));
    }
    for row in rows {
        let mut metrics = BTreeMap::new();
        for (name, v) in header[4..].iter().zip(&row[4..]) {
            if !v.is_empty() {
                metrics.insert(name.clone(), cell(v, "log.epochs", origin)?);
            }
        }
        log.epochs.push(EpochRecord {
            epoch: cell(&row[0], "log.epochs", origin)?,
            steps: cell(&row[1], "log.epochs", origin)?,
            train_loss: cell(&row[2], "log.epochs", origin)?,
            val_loss: if row[3].is_empty() { None } else { Some(cell(&row[3], "log.epochs", origin)?) },
            metrics,
        });
    }
    Ok(log)
}

impl<T: Float> Checkpoint<T> {
    /// Serializes to safetensors bytes (deterministic: the same run gives the same bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (tensors, metadata) = self.parts()?;
        Ok(io::to_bytes(tensors.iter().map(|(n, t)| (n.as_str(), *t)), &metadata)?)
    }

    /// Writes the checkpoint to `path` atomically (a crash never leaves half a checkpoint).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_bytes()?;
        Ok(io::write_atomic(path.as_ref(), &bytes)?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            action: "read",
            path: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&bytes, &origin)
    }

    /// Parses bytes written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, "<bytes>")
    }

    #[allow(clippy::type_complexity)]
    fn parts(&self) -> Result<(Vec<(String, &Tensor<T>)>, BTreeMap<String, String>)> {
        let mut tensors: Vec<(String, &Tensor<T>)> = Vec::new();
        tensors.extend(self.params.iter().map(|(n, t)| (format!("param/{n}"), t)));
        tensors.extend(self.optimizer.tensors.iter().map(|(n, t)| (format!("optim/{n}"), t)));
        if let Some(best) = &self.best {
            tensors.extend(best.iter().map(|(n, t)| (format!("best/{n}"), t)));
        }
        let mut m = BTreeMap::new();
        m.insert("format".to_string(), FORMAT.to_string());
        m.insert("dtype".to_string(), T::DTYPE.to_string());
        for (k, v) in &self.optimizer.metadata {
            m.insert(format!("optim.{k}"), v.clone());
        }
        for (k, v) in &self.run {
            m.insert(format!("run.{k}"), v.clone());
        }
        m.insert("state.step".into(), self.step.to_string());
        m.insert("state.epoch".into(), self.cursor.epoch.to_string());
        m.insert("state.batch".into(), self.cursor.batch.to_string());
        if let Some(b) = self.best_epoch {
            m.insert("state.best_epoch".into(), b.to_string());
        }
        if let Some((e, l)) = self.early.best {
            m.insert("early.best_epoch".into(), e.to_string());
            m.insert("early.best_loss".into(), num(l));
        }
        m.insert("early.waited".into(), self.early.waited.to_string());
        if let Some(stop) = &self.stop {
            stop_to_meta(stop, &mut m);
        }
        m.insert("log.steps".into(), self.log.steps_csv()?);
        m.insert("log.epochs".into(), self.log.epochs_csv()?);
        if let Some(s) = &self.scaler {
            let join = |v: &[f64]| v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(",");
            m.insert("scaler.mean".into(), join(&s.mean));
            m.insert("scaler.std".into(), join(&s.std));
            m.insert("scaler.eps".into(), num(s.eps));
        }
        Ok((tensors, m))
    }

    fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        let named = io::from_bytes::<T>(bytes, origin)?;
        let meta = Meta { m: &named.metadata, origin };
        match meta.m.get("format") {
            Some(f) if f == FORMAT => {}
            Some(f) => return Err(corrupt(origin, format!("format {f:?}, this version reads {FORMAT:?}"))),
            None => {
                return Err(corrupt(
                    origin,
                    "no \"format\" in the metadata: not a downhill checkpoint (a weights file? load it with downhill_tensor::io::load_params)",
                ));
            }
        }
        let (mut params, mut optim, mut best) = (Vec::new(), Vec::new(), Vec::new());
        for (name, t) in named.tensors {
            if let Some(n) = name.strip_prefix("param/") {
                params.push((n.to_string(), t));
            } else if let Some(n) = name.strip_prefix("optim/") {
                optim.push((n.to_string(), t));
            } else if let Some(n) = name.strip_prefix("best/") {
                best.push((n.to_string(), t));
            } else {
                return Err(corrupt(origin, format!("unexpected tensor {name:?}")));
            }
        }
        let prefixed = |p: &str| -> BTreeMap<String, String> {
            meta.m.iter().filter_map(|(k, v)| k.strip_prefix(p).map(|k| (k.to_string(), v.clone()))).collect()
        };
        let optimizer =
            OptimizerState { tensors: optim, metadata: prefixed("optim."), origin: origin.to_string() };
        if optimizer.kind().is_none() {
            return Err(corrupt(origin, "no optimizer kind (\"optim.kind\") in the metadata"));
        }
        let scaler = if meta.m.contains_key("scaler.mean") {
            let s = StandardScaler {
                mean: meta.floats("scaler.mean")?,
                std: meta.floats("scaler.std")?,
                eps: meta.parse("scaler.eps")?,
            };
            if s.mean.len() != s.std.len() {
                return Err(corrupt(
                    origin,
                    format!("scaler has {} means but {} stds", s.mean.len(), s.std.len()),
                ));
            }
            Some(s)
        } else {
            None
        };
        let early_best = match (meta.opt::<u64>("early.best_epoch")?, meta.opt::<f64>("early.best_loss")?) {
            (Some(e), Some(l)) => Some((e, l)),
            (None, None) => None,
            _ => return Err(corrupt(origin, "early.best_epoch and early.best_loss must come together")),
        };
        let ckpt = Checkpoint {
            params,
            optimizer,
            best: if best.is_empty() { None } else { Some(best) },
            scaler,
            cursor: Cursor { epoch: meta.parse("state.epoch")?, batch: meta.parse("state.batch")? },
            step: meta.parse("state.step")?,
            best_epoch: meta.opt("state.best_epoch")?,
            early: EarlyState { best: early_best, waited: meta.parse("early.waited")? },
            stop: meta.stop()?,
            log: parse_log(meta.text("log.steps")?, meta.text("log.epochs")?, origin)?,
            run: prefixed("run."),
            origin: origin.to_string(),
        };
        ckpt.check_consistent()?;
        Ok(ckpt)
    }

    /// The parts must tell the same story: one step record per step, numbered from 0, one epoch
    /// record per finished epoch.
    fn check_consistent(&self) -> Result<()> {
        let o = &self.origin;
        if self.log.steps.len() as u64 != self.step {
            return Err(corrupt(o, format!("{} step records for {} steps", self.log.steps.len(), self.step)));
        }
        if let Some(bad) = self.log.steps.iter().enumerate().find(|(i, s)| s.step != *i as u64) {
            return Err(corrupt(o, format!("step record {} is numbered {}", bad.0, bad.1.step)));
        }
        if self.log.epochs.len() as u64 != self.cursor.epoch {
            return Err(corrupt(
                o,
                format!(
                    "{} epoch records but the cursor is at epoch {}",
                    self.log.epochs.len(),
                    self.cursor.epoch
                ),
            ));
        }
        Ok(())
    }

    /// Attaches the scaler statistics the data was standardized with (builder style).
    pub fn with_scaler(mut self, scaler: StandardScaler) -> Self {
        self.scaler = Some(scaler);
        self
    }
}

fn mismatch(origin: &str, field: &str, saved: &str, current: &str) -> Error {
    let fix = match field {
        "seed" | "batch_size" => {
            "resume with the seed and batch size the run started with: the batch order is a function of both, so another value would not continue the same run"
        }
        "loss" => "resume with the loss the run started with",
        "train_rows" | "features" | "training data" | "val_rows" | "validation data" => {
            "resume on the same splits, scaled the same way (the checkpoint's scaler statistics are in Checkpoint::scaler)"
        }
        "dtype" => "build the model with the float type the checkpoint was saved with",
        "epochs" | "max_steps" => {
            "the checkpoint is already past this run's budget; resume with at least as many epochs and steps as it has run"
        }
        _ => "resume with the settings the run started with: they change which steps run and what they do",
    };
    Error::CheckpointMismatch {
        path: origin.to_string(),
        field: field.to_string(),
        saved: saved.to_string(),
        current: current.to_string(),
        fix,
    }
}

impl<T, M, O> Trainer<'_, T, M, O>
where
    T: Float,
    M: Module<T> + ?Sized,
    O: Optimizer<T> + ?Sized,
{
    /// What identifies this run in a checkpoint (compared on resume).
    fn identity(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("dtype", T::DTYPE.to_string());
        put("loss", format!("{:?}", self.loss));
        put("seed", self.cfg.seed.to_string());
        put("batch_size", self.batches.batch_size().to_string());
        put("train_rows", self.tr.x.dims().first().copied().unwrap_or(0).to_string());
        put("features", self.tr.x.dims().get(1).copied().unwrap_or(0).to_string());
        put("training data", checksum(&[&self.tr.x, &self.tr.y]));
        match &self.va {
            Some(v) => {
                put("val_rows", v.x.dims().first().copied().unwrap_or(0).to_string());
                put("validation data", checksum(&[&v.x, &v.y]));
            }
            None => put("val_rows", "none".to_string()),
        }
        put("guards", format!("{:?}", self.cfg.guards));
        put("early_stopping", format!("{:?}", self.cfg.early_stopping));
        put("l2", format!("{:?}", self.cfg.l2));
        m
    }

    /// A checkpoint of the run as it is now (between two steps).
    pub fn checkpoint(&self) -> Result<Checkpoint<T>> {
        let mut params: Named<T> = self.params.iter().map(|(_, n, t)| (n.to_string(), t.clone())).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let best = self.state.best.as_ref().map(|b| {
            let mut v: Named<T> = b.iter().map(|(_, n, t)| (n.to_string(), t.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        });
        Ok(Checkpoint {
            params,
            optimizer: self.opt.state(self.params)?,
            best,
            scaler: None,
            cursor: self.state.cursor,
            step: self.state.step,
            best_epoch: self.state.best_epoch,
            early: self.state.early.clone(),
            stop: self.state.stop.clone(),
            log: self.state.log.clone(),
            run: self.identity(),
            origin: "<memory>".to_string(),
        })
    }

    /// Writes [`Trainer::checkpoint`] to `path` (atomically).
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        self.checkpoint()?.save(path)
    }

    /// Reads a checkpoint from `path` and continues from it ([`Trainer::resume`]). Returns the
    /// checkpoint (its scaler, its log).
    pub fn resume_from_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<Checkpoint<T>> {
        let ckpt = Checkpoint::load(path)?;
        self.resume(&ckpt)?;
        Ok(ckpt)
    }

    /// Continues the run from `ckpt`: weights, optimizer state, cursor, step counter, early
    /// stopping, best parameters and log. All or nothing: on any error (another model, optimizer,
    /// data or settings) the trainer, the parameters and the optimizer are unchanged.
    ///
    /// The epoch count and step budget may be larger than the saved run's: a run that ended by
    /// running out of them continues.
    pub fn resume(&mut self, ckpt: &Checkpoint<T>) -> Result<()> {
        let origin = ckpt.origin.as_str();
        let current = self.identity();
        for (field, now) in &current {
            let saved = ckpt.run.get(field).map(String::as_str).unwrap_or("missing");
            if saved != now {
                return Err(mismatch(origin, field, saved, now));
            }
        }
        if let Some(extra) = ckpt.run.keys().find(|k| !current.contains_key(*k)) {
            return Err(mismatch(origin, extra, &ckpt.run[extra], "missing"));
        }
        ckpt.check_consistent()?;
        // A run that ended by its budget continues if this one's budget is larger.
        let mut stop = ckpt.stop.clone();
        match stop {
            Some(StopReason::MaxEpochs) if ckpt.cursor.epoch < self.cfg.epochs => stop = None,
            Some(StopReason::MaxSteps) if self.cfg.max_steps.is_none_or(|m| ckpt.step < m) => stop = None,
            _ => {}
        }
        // A checkpoint already past this run's budget is not a state this run could reach.
        if ckpt.cursor.epoch > self.cfg.epochs || (stop.is_none() && ckpt.cursor.epoch >= self.cfg.epochs) {
            return Err(mismatch(
                origin,
                "epochs",
                &ckpt.cursor.epoch.to_string(),
                &self.cfg.epochs.to_string(),
            ));
        }
        if let Some(m) = self.cfg.max_steps.filter(|&m| ckpt.step > m) {
            return Err(mismatch(origin, "max_steps", &ckpt.step.to_string(), &m.to_string()));
        }
        if stop.is_none() && ckpt.cursor.batch >= self.batches.per_epoch() {
            return Err(corrupt(
                origin,
                format!(
                    "cursor batch {} of an epoch of {} batches",
                    ckpt.cursor.batch,
                    self.batches.per_epoch()
                ),
            ));
        }
        let names: Vec<String> = self.params.iter().map(|(_, n, _)| n.to_string()).collect();
        if ckpt.log.params != names {
            return Err(corrupt(
                origin,
                format!("the run log has parameters {:?}, the model {names:?}", ckpt.log.params),
            ));
        }
        let as_file =
            |tensors: &Named<T>| io::NamedTensors { tensors: tensors.clone(), metadata: BTreeMap::new() };
        let mut params = self.params.clone();
        io::assign(&mut params, as_file(&ckpt.params), origin)?;
        let best = match &ckpt.best {
            Some(b) => {
                let mut p = self.params.clone();
                io::assign(&mut p, as_file(b), origin)?;
                Some(p)
            }
            None => None,
        };
        let restores = self.cfg.early_stopping.as_ref().is_some_and(|e| e.restore_best);
        if restores && stop.is_none() && ckpt.early.best.is_some() && best.is_none() {
            return Err(corrupt(
                origin,
                "early stopping restores the best epoch, but the checkpoint has no best parameters",
            ));
        }
        // The optimizer checks kind, names, shapes and settings, and changes nothing on error.
        self.opt.load_state(&ckpt.optimizer, &params)?;
        *self.params = params;
        self.state = FitState {
            cursor: ckpt.cursor,
            step: ckpt.step,
            log: ckpt.log.clone(),
            early: ckpt.early.clone(),
            best_epoch: ckpt.best_epoch,
            best,
            stop,
            ..FitState::default()
        };
        self.replay_guards();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> RunLog {
        let mut log = RunLog::new(vec!["w".into(), "b,odd \"name\"".into()]);
        for (i, loss) in [0.1 + 0.2, f64::INFINITY, -0.0, 1e-300].into_iter().enumerate() {
            log.steps.push(StepRecord {
                step: i as u64,
                epoch: i as u64 / 2,
                loss,
                lr: 0.01,
                grad_norm: f64::MAX,
                param_norm: 2.5,
                update_ratio: f64::INFINITY,
                param_grad_norms: vec![1.0 / 3.0, f64::MIN_POSITIVE],
            });
        }
        log.epochs.push(EpochRecord {
            epoch: 0,
            steps: 2,
            train_loss: 0.25,
            val_loss: None,
            metrics: BTreeMap::from([("train_accuracy".into(), 0.5)]),
        });
        log.epochs.push(EpochRecord {
            epoch: 1,
            steps: 4,
            train_loss: 0.125,
            val_loss: Some(1.0 / 7.0),
            metrics: BTreeMap::from([("val_accuracy".into(), 0.75)]),
        });
        log
    }

    fn checkpoint() -> Checkpoint<f64> {
        Checkpoint {
            params: vec![("w".into(), Tensor::vector(&[1.0, -2.0]))],
            optimizer: OptimizerState::new("sgd", 4),
            best: None,
            scaler: None,
            cursor: Cursor { epoch: 2, batch: 0 },
            step: 4,
            best_epoch: None,
            early: EarlyState::default(),
            stop: None,
            log: log(),
            run: BTreeMap::from([("seed".to_string(), "0".to_string())]),
            origin: "<memory>".into(),
        }
    }

    #[test]
    fn the_log_reads_back_exactly() {
        let l = log();
        let back = parse_log(&l.steps_csv().unwrap(), &l.epochs_csv().unwrap(), "x").unwrap();
        assert_eq!(back.params, l.params);
        assert_eq!(back.epochs, l.epochs, "missing metrics and validation losses stay missing");
        let bits = |r: &RunLog| -> Vec<u64> { r.steps.iter().map(|s| s.loss.to_bits()).collect() };
        assert_eq!(bits(&back), bits(&l), "-0, inf and subnormal-adjacent values keep their bits");
        assert_eq!(back.steps, l.steps);
    }

    #[test]
    fn every_stop_reason_reads_back() {
        for stop in [
            StopReason::MaxEpochs,
            StopReason::MaxSteps,
            StopReason::EarlyStopping { best_epoch: 3, best_loss: 0.1 + 0.2 },
            StopReason::NonFinite { step: 7, loss: f64::NEG_INFINITY },
            StopReason::LossJump { step: 2, from: 1.5, to: 99.25 },
            StopReason::ParamNorm { step: 9, norm: 1e300, bound: 1e6 },
            StopReason::Increasing { step: 12, count: 5 },
        ] {
            let mut c = checkpoint();
            c.stop = Some(stop.clone());
            let back = Checkpoint::<f64>::from_bytes(&c.to_bytes().unwrap()).unwrap();
            assert_eq!(back.stop, Some(stop));
        }
    }

    #[test]
    fn parts_that_disagree_or_unknown_formats_are_corrupt() {
        let mut c = checkpoint();
        c.step = 5;
        let e = Checkpoint::<f64>::from_bytes(&c.to_bytes().unwrap()).unwrap_err();
        assert!(
            matches!(&e, Error::CheckpointCorrupt { message, .. } if message.contains("4 step records for 5 steps")),
            "{e}"
        );
        let mut c = checkpoint();
        c.cursor.epoch = 3;
        assert!(matches!(
            Checkpoint::<f64>::from_bytes(&c.to_bytes().unwrap()),
            Err(Error::CheckpointCorrupt { .. })
        ));
        // Another format version.
        let (tensors, mut meta) = checkpoint()
            .parts()
            .map(|(t, m)| (t.into_iter().map(|(n, t)| (n, t.clone())).collect::<Vec<_>>(), m))
            .unwrap();
        meta.insert("format".into(), "downhill-checkpoint/99".into());
        let bytes = io::to_bytes(tensors.iter().map(|(n, t)| (n.as_str(), t)), &meta).unwrap();
        let e = Checkpoint::<f64>::from_bytes(&bytes).unwrap_err();
        assert!(e.to_string().contains("downhill-checkpoint/99"), "{e}");
        // A tensor outside the three prefixes.
        let mut with_extra = tensors.clone();
        with_extra.push(("stray".into(), Tensor::scalar(1.0)));
        meta.insert("format".into(), FORMAT.into());
        let bytes = io::to_bytes(with_extra.iter().map(|(n, t)| (n.as_str(), t)), &meta).unwrap();
        assert!(matches!(Checkpoint::<f64>::from_bytes(&bytes), Err(Error::CheckpointCorrupt { .. })));
        // Garbage.
        assert!(matches!(Checkpoint::<f64>::from_bytes(b"nope"), Err(Error::Tensor(_))));
    }
}

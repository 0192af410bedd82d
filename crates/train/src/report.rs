//! Run reports: everything a finished run leaves behind, in one directory.
//!
//! [`RunReport::write`] fills a directory with
//!
//! - `config.json`: the [`RunConfig`] (seed, model and its parameter shapes, loss, optimizer and
//!   its settings, training settings, data source and split, crate version, and the git commit
//!   when the program runs inside a git checkout);
//! - `steps.csv` and `epochs.csv`: the [`RunLog`];
//! - SVG charts drawn with [`crate::plot`]: `loss.svg` (training and validation loss),
//!   `grad_norm.svg` (global and per-parameter gradient norms), `lr.svg` (the learning rate), and
//!   where they apply `reliability.svg` (binary classification) and `residuals.svg`
//!   (regression), plus any extra [`Figure`]s (e.g. [`surface_contours_svg`] or
//!   [`lr_sweep_svg`]);
//! - `summary.md`: what was trained, why it stopped and the diagnosis, the final train /
//!   validation / test metrics in a table, the doctor's findings, and links to the charts.
//!
//! The same run with the same seed writes byte-identical files: no timestamps, no absolute paths,
//! numbers formatted deterministically (shortest round trip in CSV and JSON, fixed digits in the
//! summary), and maps ordered by key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use downhill_nn::Module;
use downhill_optim::Optimizer;
use downhill_tensor::{Float, Params, Tape, Tensor};
use serde::Serialize;

use crate::data::Dataset;
use crate::doctor;
use crate::fit::{FitConfig, FitResult, Loss};
use crate::log::RunLog;
pub use crate::metrics::confusion_matrix;
use crate::metrics::{Scores, calibration, score};
use crate::plot::{ContourChart, LineChart, Series, reliability_svg, residual_svg};
use crate::surfaces::Surface;
use crate::{Error, Result};

/// The most points a per-step chart draws; longer runs are averaged over buckets of steps.
const MAX_POINTS: usize = 600;

/// The loss chart averages harder: single mini-batch losses are noisy enough to hide the trend.
const MAX_LOSS_POINTS: usize = 150;

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------

/// Everything needed to rerun a run, written as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunConfig {
    /// A short name of the run (`"digits-mlp"`); the title of the summary.
    pub name: String,
    /// The seed every random choice of the run derives from (initialization, split, batches).
    pub seed: u64,
    /// The model.
    pub model: ModelInfo,
    /// The loss ([`Loss::name`]).
    pub loss: String,
    /// The optimizer and its settings.
    pub optimizer: OptimizerInfo,
    /// Epochs, batch size, guards, early stopping, penalty.
    pub training: TrainingInfo,
    /// Where the data came from and how it was split and scaled.
    pub data: DataInfo,
    /// The version of downhill-train that wrote the report.
    pub downhill_version: String,
    /// `git rev-parse HEAD` of the working directory, when git and a repository are there
    /// (see [`git_commit`]); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
}

impl RunConfig {
    /// The config as pretty-printed JSON with a trailing newline (keys in declaration order,
    /// settings maps sorted, floats in shortest round-trip form; NaN and infinities as `null`).
    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self).map_err(|e| Error::InvalidArgument {
            op: "RunConfig::to_json",
            message: format!("cannot serialize the config: {e}"),
        })?;
        s.push('\n');
        Ok(s)
    }
}

/// The version of this crate (`CARGO_PKG_VERSION`), for [`RunConfig::downhill_version`].
pub fn crate_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The commit checked out in the current directory (`git rev-parse HEAD`), or `None` when git is
/// not installed, the directory is not a repository, or the output is not a commit hash. Never
/// fails.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let hex = hash.chars().all(|c| c.is_ascii_hexdigit());
    (hex && (hash.len() == 40 || hash.len() == 64)).then_some(hash)
}

/// A model: a description and its parameters' names and shapes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// What the model is, e.g. `"mlp 64-32-10, relu, he_normal init"`.
    pub description: String,
    /// Every parameter in store order.
    pub parameters: Vec<ParamInfo>,
    /// The number of scalars in all parameters.
    pub parameter_count: usize,
}

/// One parameter's name and shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamInfo {
    /// The name in the store (`mlp.0.weight`).
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
}

impl ModelInfo {
    /// Describes the model whose parameters are `params`.
    pub fn new<T: Float>(description: impl Into<String>, params: &Params<T>) -> Self {
        let parameters: Vec<ParamInfo> = params
            .iter()
            .map(|(_, name, t)| ParamInfo { name: name.to_string(), shape: t.dims().to_vec() })
            .collect();
        let parameter_count = params.iter().map(|(_, _, t)| t.numel()).sum();
        ModelInfo { description: description.into(), parameters, parameter_count }
    }
}

/// An optimizer's kind and settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizerInfo {
    /// [`Optimizer::kind`]: `"sgd"`, `"adam"`, ...
    pub kind: String,
    /// The settings its saved state records (`lr`, `schedule`, `weight_decay`, `groups`,
    /// `clip`, `hyper.*`), sorted by name.
    pub settings: BTreeMap<String, String>,
}

impl OptimizerInfo {
    /// The kind and settings of `opt`, read from its [`Optimizer::state`] (counters and buffers
    /// are left out, so a fresh and a trained optimizer give the same info).
    pub fn of<T: Float, O: Optimizer<T> + ?Sized>(opt: &O, params: &Params<T>) -> Result<Self> {
        let state = opt.state(params)?;
        let skip = ["kind", "step", "params", "slot_steps", "lr_scale"];
        let settings = state
            .metadata
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()) && !k.starts_with("plateau."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(OptimizerInfo { kind: opt.kind().to_string(), settings })
    }
}

/// The settings of [`crate::fit::fit`] that shape a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainingInfo {
    /// Epochs asked for.
    pub epochs: u64,
    /// Rows per step.
    pub batch_size: usize,
    /// Seed of the batch order.
    pub batch_seed: u64,
    /// Step budget, if any.
    pub max_steps: Option<u64>,
    /// Strength of the L2 penalty, if any.
    pub l2: Option<f64>,
    /// Early stopping, if on: `patience`, `min_delta`, `restore_best`.
    pub early_stopping: Option<BTreeMap<String, f64>>,
    /// The divergence guards that are on: `max_jump`, `max_param_norm`, `max_increases`.
    pub guards: BTreeMap<String, f64>,
}

impl From<&FitConfig> for TrainingInfo {
    fn from(c: &FitConfig) -> Self {
        let mut guards = BTreeMap::new();
        if let Some(j) = c.guards.max_jump {
            guards.insert("max_jump".to_string(), j);
        }
        if let Some(n) = c.guards.max_param_norm {
            guards.insert("max_param_norm".to_string(), n);
        }
        if let Some(k) = c.guards.max_increases {
            guards.insert("max_increases".to_string(), k as f64);
        }
        TrainingInfo {
            epochs: c.epochs,
            batch_size: c.batch_size,
            batch_seed: c.seed,
            max_steps: c.max_steps,
            l2: c.l2.as_ref().map(|l| l.lambda()),
            early_stopping: c.early_stopping.as_ref().map(|e| {
                BTreeMap::from([
                    ("patience".to_string(), e.patience as f64),
                    ("min_delta".to_string(), e.min_delta),
                    ("restore_best".to_string(), if e.restore_best { 1.0 } else { 0.0 }),
                ])
            }),
            guards,
        }
    }
}

/// Where the data came from, how it was split, and how it was preprocessed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataInfo {
    /// The source: `"bundled:digits"`, or a CSV path as the user gave it.
    pub source: String,
    /// Rows before splitting.
    pub rows: usize,
    /// Feature columns.
    pub features: usize,
    /// The target column's name.
    pub target: String,
    /// The split.
    pub split: SplitInfo,
    /// Preprocessing steps in order, e.g. `"StandardScaler fitted on the training split"`.
    pub preprocessing: Vec<String>,
}

/// A split's settings and the resulting sizes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitInfo {
    /// Fraction for validation.
    pub val: f64,
    /// Fraction for testing.
    pub test: f64,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Whether classes kept their proportions.
    pub stratify: bool,
    /// Training rows.
    pub train_rows: usize,
    /// Validation rows.
    pub val_rows: usize,
    /// Test rows.
    pub test_rows: usize,
}

// ---------------------------------------------------------------------------------------------
// Final evaluation
// ---------------------------------------------------------------------------------------------

/// A trained model scored on one split: the loss, the metrics that fit the loss, and the
/// predictions (for the reliability and residual charts).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The loss that was trained (no penalty), over the whole split.
    pub loss: f64,
    /// The task's metrics by name: binary `accuracy`, `precision`, `recall`, `f1`,
    /// `log_loss`, `ece`; multiclass `accuracy`, `macro_f1`; regression `rmse`, `mae`, `r2`.
    pub metrics: BTreeMap<String, f64>,
    /// The model's raw outputs, row-major `[rows, columns]`.
    pub outputs: Vec<f64>,
    /// Output columns (classes for a multiclass model, else 1).
    pub columns: usize,
    /// The targets, one per row.
    pub targets: Vec<f64>,
    /// Probabilities of class 1 (binary losses only).
    pub probabilities: Option<Vec<f64>>,
    /// The loss it was scored with.
    pub loss_kind: Loss,
}

/// Scores `model` on the whole of `data` with `loss` and the metrics that fit it.
pub fn evaluate<T, M>(model: &M, params: &Params<T>, loss: Loss, data: &Dataset) -> Result<Evaluation>
where
    T: Float,
    M: Module<T> + ?Sized,
{
    let labels = if loss == Loss::CrossEntropy { data.labels()? } else { Vec::new() };
    let (x, y): (Tensor<T>, Tensor<T>) = (data.x.cast(), data.y.cast());
    let tape = Tape::new();
    let pred = model.forward(&tape, params, tape.constant(&x));
    let l = loss.eval(pred, tape.constant(&y), &labels);
    let value = l.item()?.f64();
    let out = pred.value()?;
    let outputs: Vec<f64> = out.data().iter().map(|v| v.f64()).collect();
    let columns = if out.rank() == 2 { out.dims()[1].max(1) } else { 1 };
    let targets: Vec<f64> = data.y.data().to_vec();
    let Scores { metrics, probabilities } = score(loss, &outputs, columns, &targets, &labels)?;
    Ok(Evaluation { loss: value, metrics, outputs, columns, targets, probabilities, loss_kind: loss })
}

impl Evaluation {
    /// The confusion matrix `m[true][predicted]` of a multiclass evaluation.
    pub fn confusion(&self) -> Option<Vec<Vec<usize>>> {
        if self.loss_kind != Loss::CrossEntropy {
            return None;
        }
        let labels: Vec<usize> = self.targets.iter().map(|&t| t as usize).collect();
        confusion_matrix(&self.outputs, self.columns, &labels).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// A chart to write into the run directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The file name inside the run directory (`"loss.svg"`): a plain name, no directories.
    pub file: String,
    /// The caption in the summary.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// Averages `points` over buckets of equal size so at most `max` remain; returns the bucket
/// size too (1 when nothing was averaged). A bucket holding a non-finite value averages to a
/// non-finite value, so a divergence stays visible as a gap.
fn bucket_means(points: &[(f64, f64)], max: usize) -> (Vec<(f64, f64)>, usize) {
    let k = points.len().div_ceil(max.max(1)).max(1);
    if k == 1 {
        return (points.to_vec(), 1);
    }
    let means = points
        .chunks(k)
        .map(|c| {
            let n = c.len() as f64;
            (c.iter().map(|p| p.0).sum::<f64>() / n, c.iter().map(|p| p.1).sum::<f64>() / n)
        })
        .collect();
    (means, k)
}

fn per_step(log: &RunLog, value: impl Fn(&crate::log::StepRecord) -> f64) -> Vec<(f64, f64)> {
    log.steps.iter().map(|s| (s.step as f64 + 1.0, value(s))).collect()
}

fn averaged_note(k: usize) -> String {
    if k > 1 { format!(" (mean of every {k} steps)") } else { String::new() }
}

/// `loss.svg`: the mini-batch loss per step, and the training and validation loss over the
/// whole splits after every epoch, against steps (log-scale loss).
pub fn loss_figure(log: &RunLog) -> Result<Figure> {
    let (steps, k) = bucket_means(&per_step(log, |s| s.loss), MAX_LOSS_POINTS);
    let mut series =
        vec![Series::new(format!("mini-batch objective, loss + penalty{}", averaged_note(k)), steps)];
    series.push(Series::new(
        "training (whole split, per epoch)",
        log.epochs.iter().map(|e| (e.steps as f64, e.train_loss)).collect(),
    ));
    let val: Vec<(f64, f64)> =
        log.epochs.iter().filter_map(|e| e.val_loss.map(|v| (e.steps as f64, v))).collect();
    if !val.is_empty() {
        series.push(Series::new("validation (per epoch)", val));
    }
    let title = "Training and validation loss".to_string();
    let svg = LineChart {
        title: title.clone(),
        x_label: "step".into(),
        y_label: "loss".into(),
        log_x: false,
        log_y: true,
        series,
    }
    .to_svg()?;
    Ok(Figure { file: "loss.svg".into(), title, svg })
}

/// `grad_norm.svg`: the global gradient norm per step and, for up to 7 parameters, each
/// parameter's (log scale).
pub fn grad_norm_figure(log: &RunLog) -> Result<Figure> {
    let (global, k) = bucket_means(&per_step(log, |s| s.grad_norm), MAX_POINTS);
    let mut series = vec![Series::new("global", global)];
    if log.params.len() <= 7 {
        for (i, name) in log.params.iter().enumerate() {
            let pts = per_step(log, |s| s.param_grad_norms.get(i).copied().unwrap_or(f64::NAN));
            series.push(Series::new(name.clone(), bucket_means(&pts, MAX_POINTS).0));
        }
    }
    let title = format!("Gradient norm{}", averaged_note(k));
    let svg = LineChart {
        title: title.clone(),
        x_label: "step".into(),
        y_label: "L2 norm of the gradient".into(),
        log_x: false,
        log_y: true,
        series,
    }
    .to_svg()?;
    Ok(Figure { file: "grad_norm.svg".into(), title, svg })
}

/// `lr.svg`: the learning rate used at every step (log scale, so decays over decades read as
/// lines; a rate of exactly 0, e.g. the first step of a warmup, is left out).
pub fn lr_figure(log: &RunLog) -> Result<Figure> {
    let (lr, k) = bucket_means(&per_step(log, |s| s.lr), MAX_POINTS);
    let constant = log.steps.first().map(|s| s.lr).filter(|&first| log.steps.iter().all(|s| s.lr == first));
    let title = match constant {
        Some(v) => format!("Learning rate (constant {})", fmt_num(v)),
        None => format!("Learning rate{}", averaged_note(k)),
    };
    let svg = LineChart {
        title: title.clone(),
        x_label: "step".into(),
        y_label: "learning rate".into(),
        log_x: false,
        log_y: true,
        series: vec![Series::new("learning rate", lr)],
    }
    .to_svg()?;
    Ok(Figure { file: "lr.svg".into(), title, svg })
}

/// `reliability.svg` of a binary evaluation on the split named `split`; `None` for other tasks.
///
/// The bins are equal-width, one per 20 rows, between 3 and 10 of them, so that a small split
/// does not draw bins holding a single row.
pub fn reliability_figure(eval: &Evaluation, split: &str) -> Result<Option<Figure>> {
    let Some(prob) = &eval.probabilities else { return Ok(None) };
    let bins = reliability_bins(prob.len());
    let cal = calibration(prob, &eval.targets, bins)?;
    let title = format!("Reliability on the {split} split ({} rows, {bins} bins)", prob.len());
    let svg = reliability_svg(&cal, &title)?;
    Ok(Some(Figure { file: "reliability.svg".into(), title, svg }))
}

/// Bins of a reliability diagram of `n` rows: one per 20 rows, between 3 and 10.
fn reliability_bins(n: usize) -> usize {
    (n / 20).clamp(3, 10)
}

/// `residuals.svg` of a regression evaluation on the split named `split`; `None` for other
/// tasks.
pub fn residual_figure(eval: &Evaluation, split: &str) -> Result<Option<Figure>> {
    if !matches!(eval.loss_kind, Loss::Mse | Loss::HalfMse | Loss::Huber { .. }) {
        return Ok(None);
    }
    let title = format!("Residuals on the {split} split");
    let svg = residual_svg(&eval.outputs, &eval.targets, &title)?;
    Ok(Some(Figure { file: "residuals.svg".into(), title, svg }))
}

/// Runs `opt` for `steps` updates on a 2-D analytic `surface` from `start`, gradients from the
/// tape, and returns the path (`steps + 1` points; it ends early at a non-finite point).
pub fn surface_path<O: Optimizer<f64> + ?Sized>(
    surface: Surface,
    opt: &mut O,
    start: [f64; 2],
    steps: usize,
) -> Result<Vec<(f64, f64)>> {
    if surface.dim() != 2 {
        return Err(Error::InvalidArgument {
            op: "surface_path",
            message: format!("{} is {}-D; paths are drawn on 2-D surfaces", surface.name(), surface.dim()),
        });
    }
    let mut params = Params::<f64>::new();
    let id = params.insert("xy", Tensor::vector(&start))?;
    let mut path = vec![(start[0], start[1])];
    let mut tape = Tape::new();
    for _ in 0..steps {
        let grads = surface.eval(tape.param(&params, id)).backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
        let p = params.get(id).data();
        let (x, y) = (p[0], p[1]);
        path.push((x, y));
        if !(x.is_finite() && y.is_finite()) {
            break;
        }
    }
    Ok(path)
}

/// The value of a 2-D surface at `(x, y)`, through the tape (NaN if it cannot be evaluated).
fn surface_value(surface: Surface, x: f64, y: f64) -> f64 {
    let tape = Tape::new();
    let v = Tensor::vector(&[x, y]);
    surface.eval(tape.constant(&v)).item().unwrap_or(f64::NAN)
}

/// Contours of a 2-D analytic `surface` over `x` × `y` with optimizer `paths` on top (e.g. from
/// [`surface_path`], one [`Series`] per optimizer, named after it).
pub fn surface_contours_svg(
    surface: Surface,
    paths: &[Series],
    x: (f64, f64),
    y: (f64, f64),
    title: &str,
) -> Result<String> {
    if surface.dim() != 2 {
        return Err(Error::InvalidArgument {
            op: "surface_contours_svg",
            message: format!("{} is {}-D; contours need a 2-D surface", surface.name(), surface.dim()),
        });
    }
    let f = move |a: f64, b: f64| surface_value(surface, a, b);
    ContourChart { title: title.to_string(), f: &f, x, y, levels: 14, paths: paths.to_vec() }.to_svg()
}

/// An LR-sweep curve: final loss against learning rate (log-log), one [`Series`] per sweep
/// (e.g. per optimizer); diverged rates (non-finite losses) leave gaps. `chosen`, if given, is
/// marked by a vertical line labelled with its value.
pub fn lr_sweep_svg(sweeps: &[Series], chosen: Option<f64>, title: &str) -> Result<String> {
    let mut series = sweeps.to_vec();
    if let Some(lr) = chosen {
        let ys =
            sweeps.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if lo <= hi && lr.is_finite() && lr > 0.0 {
            series.push(Series::new(format!("chosen rate {}", fmt_num(lr)), vec![(lr, lo), (lr, hi)]));
        }
    }
    LineChart {
        title: title.to_string(),
        x_label: "learning rate".into(),
        y_label: "loss after the sweep's budget".into(),
        log_x: true,
        log_y: true,
        series,
    }
    .to_svg()
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// A finished run, ready to be written as a report directory.
#[derive(Clone, Debug)]
pub struct RunReport<'a> {
    /// The run's settings.
    pub config: &'a RunConfig,
    /// What `fit` returned.
    pub result: &'a FitResult,
    /// Final scores by split name, in table order (e.g. `train`, `validation`, `test`).
    pub evaluations: Vec<(String, Evaluation)>,
    /// The doctor's findings on the data or the run, if it was consulted.
    pub doctor: Option<&'a doctor::Report>,
    /// Extra charts (contours, LR sweeps, ...), written after the standard ones.
    pub figures: Vec<Figure>,
}

/// What [`RunReport::write`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The run directory, as given.
    pub dir: PathBuf,
    /// The files written into it, in order (`summary.md` last).
    pub files: Vec<String>,
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if (1e-3..1e5).contains(&a) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn with_commas(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Markdown table cells must not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl<'a> RunReport<'a> {
    /// A report of `result`, trained as `config` says, with no evaluations, findings or extra
    /// figures yet.
    pub fn new(config: &'a RunConfig, result: &'a FitResult) -> Self {
        RunReport { config, result, evaluations: Vec::new(), doctor: None, figures: Vec::new() }
    }

    /// Adds the final scores on a split (`"train"`, `"validation"`, `"test"`).
    pub fn with_evaluation(mut self, split: impl Into<String>, eval: Evaluation) -> Self {
        self.evaluations.push((split.into(), eval));
        self
    }

    /// Adds the doctor's findings.
    pub fn with_doctor(mut self, report: &'a doctor::Report) -> Self {
        self.doctor = Some(report);
        self
    }

    /// Adds an extra chart.
    pub fn with_figure(mut self, figure: Figure) -> Self {
        self.figures.push(figure);
        self
    }

    /// The evaluation the task charts use: the last one given (test if it was given last).
    fn chart_evaluation(&self) -> Option<&(String, Evaluation)> {
        self.evaluations.last()
    }

    /// Every chart of the report, standard ones first.
    pub fn figures(&self) -> Result<Vec<Figure>> {
        let log = &self.result.log;
        let mut out = vec![loss_figure(log)?, grad_norm_figure(log)?, lr_figure(log)?];
        if let Some((split, eval)) = self.chart_evaluation() {
            out.extend(reliability_figure(eval, split)?);
            out.extend(residual_figure(eval, split)?);
        }
        out.extend(self.figures.iter().cloned());
        let mut seen = std::collections::BTreeSet::new();
        for f in &out {
            let plain = !f.file.is_empty()
                && !f.file.contains(['/', '\\'])
                && f.file != "."
                && f.file != ".."
                && !matches!(f.file.as_str(), "config.json" | "steps.csv" | "epochs.csv" | "summary.md");
            if !plain || !seen.insert(f.file.clone()) {
                return Err(Error::InvalidArgument {
                    op: "RunReport",
                    message: format!(
                        "figure file {:?} must be a plain file name, unique in the report, and not one of config.json, steps.csv, epochs.csv, summary.md",
                        f.file
                    ),
                });
            }
        }
        Ok(out)
    }

    /// The markdown summary (`summary.md`), linking `figures`.
    pub fn summary_markdown(&self, figures: &[Figure]) -> String {
        let c = self.config;
        let r = self.result;
        let mut s = String::new();
        let _ = writeln!(s, "# Run report: {}\n", c.name);
        let d = &c.data;
        let sp = &d.split;
        let lr = c.optimizer.settings.get("lr").map(|v| format!(" (lr {v})")).unwrap_or_default();
        let _ = writeln!(
            s,
            "Trained **{}** ({} parameters) with **{}**{} on **{}** ({} rows x {} features, target `{}`), \
             minimizing `{}`, seed {}.\n",
            c.model.description,
            with_commas(c.model.parameter_count),
            c.optimizer.kind,
            lr,
            d.source,
            with_commas(d.rows),
            d.features,
            d.target,
            c.loss,
            c.seed
        );
        let _ = writeln!(s, "| setting | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| split | {} train / {} validation / {} test ({}seed {}) |",
            with_commas(sp.train_rows),
            with_commas(sp.val_rows),
            with_commas(sp.test_rows),
            if sp.stratify { "stratified, " } else { "" },
            sp.seed
        );
        if !d.preprocessing.is_empty() {
            let _ = writeln!(s, "| preprocessing | {} |", cell(&d.preprocessing.join("; ")));
        }
        let t = &c.training;
        let _ = writeln!(s, "| epochs | {} |", t.epochs);
        let _ = writeln!(s, "| batch size | {} (batch seed {}) |", t.batch_size, t.batch_seed);
        if let Some(m) = t.max_steps {
            let _ = writeln!(s, "| step budget | {m} |");
        }
        if let Some(l2) = t.l2 {
            let _ = writeln!(s, "| L2 penalty | {} |", fmt_num(l2));
        }
        if let Some(es) = &t.early_stopping {
            let patience = es.get("patience").copied().unwrap_or(0.0);
            let _ = writeln!(s, "| early stopping | patience {patience} |");
        }
        for (k, v) in &c.optimizer.settings {
            let _ = writeln!(s, "| optimizer {} | {} |", cell(k), cell(v));
        }
        let _ = writeln!(s, "| downhill | {} |", c.downhill_version);
        if let Some(g) = &c.git_commit {
            let _ = writeln!(s, "| git commit | `{g}` |");
        }

        let _ = writeln!(s, "\n## How it ended\n");
        let _ = writeln!(
            s,
            "- Stopped after {} steps ({} epochs): `{}`, {}.",
            with_commas(r.steps as usize),
            r.epochs,
            r.stop.code(),
            r.stop
        );
        let diagnosis = r.stop.diagnosis();
        if diagnosis.is_empty() {
            let _ = writeln!(s, "- Diagnosis: the run did not diverge; nothing to fix.");
        } else {
            let _ = writeln!(s, "- Diagnosis: {diagnosis}.");
        }
        if let Some(b) = r.best_epoch {
            let _ = writeln!(s, "- Best validation epoch: {b}.");
        }
        if let Some(first) = r.log.steps.first() {
            let _ = writeln!(
                s,
                "- First step: objective {} (compare with the doctor's initial-loss check), gradient norm {}.",
                fmt_num(first.loss),
                fmt_num(first.grad_norm)
            );
        }
        if let Some(last) = r.log.steps.last() {
            let _ = writeln!(
                s,
                "- Last step: gradient norm {}, parameter norm {}, update/parameter ratio {} \
                 (about 1e-3 is healthy; 1e-1 violent, 1e-6 stalled).",
                fmt_num(last.grad_norm),
                fmt_num(last.param_norm),
                fmt_num(last.update_ratio)
            );
        }

        let _ = writeln!(s, "\n## Final metrics\n");
        if self.evaluations.is_empty() {
            let _ = writeln!(s, "No split was evaluated after training.");
        } else {
            let names: std::collections::BTreeSet<&String> =
                self.evaluations.iter().flat_map(|(_, e)| e.metrics.keys()).collect();
            let _ = write!(s, "| metric |");
            for (split, _) in &self.evaluations {
                let _ = write!(s, " {} |", cell(split));
            }
            let _ = write!(s, "\n|---|");
            for _ in &self.evaluations {
                let _ = write!(s, "---:|");
            }
            let _ = write!(s, "\n| loss ({}) |", c.loss);
            for (_, e) in &self.evaluations {
                let _ = write!(s, " {} |", fmt_num(e.loss));
            }
            for name in names {
                let _ = write!(s, "\n| {name} |");
                for (_, e) in &self.evaluations {
                    let v = e.metrics.get(name).map_or_else(|| "-".to_string(), |&v| fmt_num(v));
                    let _ = write!(s, " {v} |");
                }
            }
            s.push('\n');
            if let Some((split, prob, targets)) = self
                .chart_evaluation()
                .and_then(|(split, e)| e.probabilities.as_ref().map(|p| (split, p, &e.targets)))
            {
                let bins = reliability_bins(prob.len());
                if let Ok(cal) = calibration(prob, targets, bins) {
                    let _ = writeln!(
                        s,
                        "\nReliability on the {split} split (expected calibration error {}):\n\n\
                         | predicted probability | rows | mean predicted | fraction positive |\n|---|---:|---:|---:|",
                        fmt_num(cal.ece)
                    );
                    for b in cal.bins.iter().filter(|b| b.count > 0) {
                        let _ = writeln!(
                            s,
                            "| {:.2}–{:.2} | {} | {} | {} |",
                            b.lo,
                            b.hi,
                            b.count,
                            fmt_num(b.mean_predicted),
                            fmt_num(b.fraction_positive)
                        );
                    }
                }
            }
            if let Some((split, m)) =
                self.chart_evaluation().and_then(|(split, e)| e.confusion().map(|m| (split, m)))
            {
                let _ = writeln!(
                    s,
                    "\nConfusion matrix on the {split} split (rows: true class, columns: predicted):\n"
                );
                let k = m.len();
                let _ = write!(s, "| true \\ predicted |");
                for j in 0..k {
                    let _ = write!(s, " {j} |");
                }
                let _ = write!(s, "\n|---|");
                for _ in 0..k {
                    let _ = write!(s, "---:|");
                }
                for (i, row) in m.iter().enumerate() {
                    let _ = write!(s, "\n| **{i}** |");
                    for v in row {
                        let _ = write!(s, " {v} |");
                    }
                }
                s.push('\n');
            }
        }

        let _ = writeln!(s, "\n## Doctor\n");
        match self.doctor {
            None => {
                let _ = writeln!(s, "Not consulted for this run.");
            }
            Some(rep) if rep.findings.is_empty() => {
                let _ = writeln!(s, "No findings.");
            }
            Some(rep) => {
                for (i, f) in rep.findings.iter().enumerate() {
                    let _ = writeln!(s, "{}. **[{}] {}**: {}", i + 1, f.severity, f.code, f.title);
                    let _ = writeln!(s, "   - found: {}", f.detail);
                    let _ = writeln!(s, "   - fix: {}", f.fix);
                }
            }
        }

        let _ = writeln!(s, "\n## Charts\n");
        for f in figures {
            let _ = writeln!(s, "### {}\n\n![{}]({})\n", f.title, f.title, f.file);
        }
        let _ = writeln!(s, "## Files\n");
        let _ = writeln!(s, "- [config.json](config.json): everything needed to rerun this run");
        let _ = writeln!(s, "- [steps.csv](steps.csv): one row per optimizer step");
        let _ = writeln!(s, "- [epochs.csv](epochs.csv): one row per epoch, with the metrics");
        s
    }

    /// Writes the report into `dir` (created if missing; files already there with other names
    /// are left alone). Every file is written atomically. An unwritable directory is an
    /// [`Error::Io`] naming it.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Written> {
        let dir = dir.as_ref();
        // Build everything first, so a bad figure writes nothing.
        let figures = self.figures()?;
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("config.json".to_string(), self.config.to_json()?.into_bytes()),
            ("steps.csv".to_string(), self.result.log.steps_csv()?.into_bytes()),
            ("epochs.csv".to_string(), self.result.log.epochs_csv()?.into_bytes()),
        ];
        files.extend(figures.iter().map(|f| (f.file.clone(), f.svg.clone().into_bytes())));
        files.push(("summary.md".to_string(), self.summary_markdown(&figures).into_bytes()));

        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            action: "create the run directory",
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        if !dir.is_dir() {
            return Err(Error::Io {
                action: "use as the run directory",
                path: dir.display().to_string(),
                message: "it is not a directory".to_string(),
            });
        }
        for (name, bytes) in &files {
            let path = dir.join(name);
            downhill_tensor::io::write_atomic(&path, bytes).map_err(|e| Error::Io {
                action: "write",
                path: path.display().to_string(),
                message: match e {
                    downhill_tensor::Error::Io { message, .. } => message,
                    other => other.to_string(),
                },
            })?;
        }
        Ok(Written { dir: dir.to_path_buf(), files: files.into_iter().map(|(n, _)| n).collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SplitOptions, StandardScaler, breast_cancer, diabetes_raw};
    use crate::fit::fit;
    use crate::metrics::macro_f1;
    use crate::stop::StopReason;
    use downhill_nn::{LinearRegression, LogisticRegression};
    use downhill_optim::{Adam, AdamConfig, Momentum, MomentumConfig, Sgd, SgdConfig};

    fn config(name: &str, params: &Params<f64>, opt: &dyn Optimizer<f64>, cfg: &FitConfig) -> RunConfig {
        RunConfig {
            name: name.to_string(),
            seed: 3,
            model: ModelInfo::new("test model", params),
            loss: "bce_with_logits".to_string(),
            optimizer: OptimizerInfo::of(opt, params).unwrap(),
            training: TrainingInfo::from(cfg),
            data: DataInfo {
                source: "bundled:test".to_string(),
                rows: 10,
                features: 2,
                target: "y".to_string(),
                split: SplitInfo {
                    val: 0.2,
                    test: 0.2,
                    seed: 3,
                    stratify: true,
                    train_rows: 6,
                    val_rows: 2,
                    test_rows: 2,
                },
                preprocessing: vec!["none".to_string()],
            },
            downhill_version: crate_version(),
            git_commit: None,
        }
    }

    fn scaled_split() -> (Dataset, Dataset) {
        let d = breast_cancer().unwrap();
        let (tr, _, te) = d.split(&SplitOptions { val: 0.0, test: 0.25, seed: 1, stratify: true }).unwrap();
        let s = StandardScaler::fit(&tr.x).unwrap();
        (Dataset { x: s.transform(&tr.x).unwrap(), ..tr }, Dataset { x: s.transform(&te.x).unwrap(), ..te })
    }

    #[test]
    fn optimizer_info_keeps_settings_not_counters() {
        let mut params = Params::<f64>::new();
        let id = params.insert("w", Tensor::vector(&[1.0, 2.0])).unwrap();
        let mut opt = Adam::new(AdamConfig { lr: 0.05, ..AdamConfig::default() }).unwrap();
        let before = OptimizerInfo::of(&opt, &params).unwrap();
        assert_eq!(before.kind, "adam");
        assert_eq!(before.settings["lr"], "0.05");
        assert!(before.settings.contains_key("hyper.beta1"), "{before:?}");
        assert!(!before.settings.contains_key("step"));
        let tape = Tape::new();
        let g = tape.param(&params, id).square().sum().backward().unwrap();
        drop(tape);
        opt.step(&mut params, &g).unwrap();
        assert_eq!(OptimizerInfo::of(&opt, &params).unwrap(), before, "training does not change the info");
    }

    #[test]
    fn evaluation_metrics_fit_the_task() {
        let (tr, te) = scaled_split();
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
        let zero = evaluate(&model, &params, Loss::BceWithLogits, &te).unwrap();
        assert!((zero.loss - 2f64.ln()).abs() < 1e-12, "zero weights give ln 2, got {}", zero.loss);
        assert_eq!(zero.probabilities.as_ref().unwrap()[0], 0.5);
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let cfg = FitConfig { epochs: 5, ..FitConfig::default() };
        fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, None, &cfg).unwrap();
        let e = evaluate(&model, &params, Loss::BceWithLogits, &te).unwrap();
        assert!(e.metrics["accuracy"] > 0.9 && e.loss < 0.2, "{:?}", e.metrics);
        let keys: Vec<&str> = e.metrics.keys().map(String::as_str).collect();
        assert_eq!(keys, ["accuracy", "ece", "f1", "log_loss", "precision", "recall"]);
        assert!(e.confusion().is_none());

        let m = confusion_matrix(&[0.9, 0.1, 0.2, 0.8, 0.7, 0.3], 2, &[0, 1, 1]).unwrap();
        assert_eq!(m, vec![vec![1, 0], vec![1, 1]]);
        assert!((macro_f1(&m) - (2.0 / 3.0 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
        assert!(confusion_matrix(&[0.5, 0.5], 2, &[2]).is_err());
        assert!(confusion_matrix(&[0.5, 0.5, 0.1], 2, &[0]).is_err());
    }

    #[test]
    fn figures_reflect_the_task_and_the_log() {
        let d = diabetes_raw().unwrap();
        let s = StandardScaler::fit(&d.x).unwrap();
        let d = Dataset { x: s.transform(&d.x).unwrap(), ..d };
        let mut params = Params::<f64>::new();
        let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.05)).unwrap();
        let cfg = FitConfig { epochs: 30, batch_size: 8, ..FitConfig::default() };
        let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &cfg).unwrap();
        assert!(r.log.steps.len() > MAX_POINTS, "long enough to be averaged");
        let e = evaluate(&model, &params, Loss::HalfMse, &d).unwrap();
        assert!(e.metrics["r2"] > 0.4, "{:?}", e.metrics);
        assert!(reliability_figure(&e, "test").unwrap().is_none());
        let res = residual_figure(&e, "test").unwrap().unwrap();
        assert_eq!(res.file, "residuals.svg");
        let loss = loss_figure(&r.log).unwrap();
        let k = r.log.steps.len().div_ceil(MAX_LOSS_POINTS);
        assert!(k > 1 && loss.svg.contains(&format!("mean of every {k} steps")));
        assert!(!loss.svg.contains("validation (per epoch)"), "no validation split, no validation curve");
        let g = grad_norm_figure(&r.log).unwrap();
        assert!(g.svg.contains("lin.weight") && g.svg.contains("global"));
        let lr = lr_figure(&r.log).unwrap().svg;
        assert!(lr.contains("constant 0.0500") && !lr.contains(">-0."), "no negative rates on the axis");
        let (b, k) = bucket_means(&[(1.0, 1.0), (2.0, 3.0), (3.0, f64::NAN)], 2);
        assert_eq!(k, 2);
        assert_eq!(b[0], (1.5, 2.0));
        assert!(b[1].1.is_nan(), "a non-finite step stays visible");
    }

    #[test]
    fn surface_paths_and_sweeps() {
        let mut gd = Sgd::new(SgdConfig::lr(0.05)).unwrap();
        let path = surface_path(Surface::Bowl, &mut gd, [-1.5, 0.5], 200).unwrap();
        assert_eq!(path.len(), 201);
        let end = path[200];
        assert!((end.0 - 1.0).abs() < 1e-3 && (end.1 + 2.0).abs() < 1e-3, "{end:?}");
        let mut mom = Momentum::new(MomentumConfig { lr: 0.02, ..MomentumConfig::default() }).unwrap();
        let mpath = surface_path(Surface::Bowl, &mut mom, [-1.5, 0.5], 50).unwrap();
        // Too large a step on the steep axis (curvature 10): the path leaves and ends early.
        let mut big = Sgd::new(SgdConfig::lr(0.5)).unwrap();
        let wild = surface_path(Surface::Bowl, &mut big, [-1.5, 0.5], 5000).unwrap();
        assert!(wild.len() < 5001 && !wild.last().unwrap().1.is_finite());
        assert!(surface_path(Surface::Parabola, &mut gd, [0.0, 0.0], 1).is_err());
        let svg = surface_contours_svg(
            Surface::Bowl,
            &[Series::new("sgd", path), Series::new("momentum", mpath)],
            (-2.0, 3.0),
            (-3.5, 1.0),
            "bowl",
        )
        .unwrap();
        assert!(svg.contains("sgd") && svg.contains("momentum") && svg.matches("<polyline").count() > 14);
        let sweep = Series::new("adam", vec![(1e-4, 0.6), (1e-3, 0.3), (1e-2, 0.1), (1e-1, f64::NAN)]);
        let svg = lr_sweep_svg(&[sweep], Some(1e-2), "sweep").unwrap();
        assert!(svg.contains("chosen rate 0.0100"));
    }

    #[test]
    fn writes_every_file_and_refuses_bad_places() {
        let (tr, te) = scaled_split();
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let cfg = FitConfig { epochs: 3, ..FitConfig::default() };
        let c = config("unit", &params, &opt, &cfg);
        let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&te), &cfg).unwrap();
        assert_eq!(r.stop, StopReason::MaxEpochs);
        let e = evaluate(&model, &params, Loss::BceWithLogits, &te).unwrap();
        let report = RunReport::new(&c, &r).with_evaluation("test", e);
        let base = std::env::temp_dir().join(format!("downhill-report-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let w = report.write(base.join("run")).unwrap();
        assert_eq!(
            w.files,
            [
                "config.json",
                "steps.csv",
                "epochs.csv",
                "loss.svg",
                "grad_norm.svg",
                "lr.svg",
                "reliability.svg",
                "summary.md"
            ]
        );
        let summary = std::fs::read_to_string(base.join("run/summary.md")).unwrap();
        assert!(
            summary.contains("![Reliability on the test split (142 rows, 7 bins)](reliability.svg)"),
            "{summary}"
        );
        assert!(summary.contains("| accuracy |") && summary.contains("`max_epochs`"));
        assert!(summary.contains("| predicted probability | rows |"), "reliability bins listed");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(base.join("run/config.json")).unwrap()).unwrap();
        assert_eq!(json["optimizer"]["kind"], "sgd");
        assert_eq!(json["model"]["parameter_count"], 31);
        assert!(json.get("git_commit").is_none(), "omitted when unknown");

        // A file where the directory should be: a typed error, nothing written.
        let file = base.join("occupied");
        std::fs::write(&file, b"x").unwrap();
        let err = report.write(file.join("run")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("occupied"), "{err}");
        let err = report.write(&file).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        // A figure that would overwrite a standard file is refused.
        let bad = RunReport::new(&c, &r).with_figure(Figure {
            file: "../summary.md".into(),
            title: "x".into(),
            svg: String::new(),
        });
        assert!(matches!(bad.write(base.join("bad")), Err(Error::InvalidArgument { .. })));
        assert!(!base.join("bad").exists(), "nothing is written when a figure is refused");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn git_commit_is_a_hash_or_nothing() {
        let in_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git").exists();
        let has_git = std::process::Command::new("git").arg("--version").output().is_ok();
        match git_commit() {
            Some(h) => {
                assert!(h.len() == 40 || h.len() == 64, "{h}");
                assert!(h.chars().all(|c| c.is_ascii_hexdigit()), "{h}");
            }
            None => assert!(!(in_repo && has_git), "inside a checkout with git, the commit is known"),
        }
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(1.5e-7), "1.500e-7");
        assert_eq!(with_commas(1234567), "1,234,567");
        assert_eq!(with_commas(999), "999");
    }
}

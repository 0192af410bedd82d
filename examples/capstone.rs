//! The capstone, the project's main job: two models on bundled real data, trained through one
//! optimizer interface, each leaving a full run report.
//!
//! ```sh
//! cargo run --release --example capstone              # report in runs/capstone
//! cargo run --release --example capstone -- DIR       # or in DIR (or DOWNHILL_CAPSTONE_OUT=DIR)
//! ```
//!
//! 1. **Breast cancer** (569 × 30, raw features on scales from 1e-3 to 1e3): a stratified seeded
//!    split, a `StandardScaler` fitted on the training split only, a logistic regression trained
//!    with classical momentum.
//! 2. **Digits** (1797 8×8 images): pixels / 16, a stratified 80/20 train/test split (a tenth of
//!    all rows taken from the training part for validation), a 2-layer MLP (64-32-10, ReLU)
//!    trained with Adam and a small L2 penalty. The example fails (exit code 1) if its test
//!    accuracy is below 0.97 (scikit-learn's `MLPClassifier` with 32 hidden units reaches
//!    0.972–0.978 on such a split).
//! 3. The same three optimizer families on the course's bowl `(x − 1)² + 5(y + 2)²`, drawn as
//!    paths over its contours.
//!
//! Both models go through the same `train_and_report` with a `&mut dyn Optimizer<f64>`. The run
//! directory gets `index.md`, the bowl's chart, and one report directory per model
//! (`config.json`, `steps.csv`, `epochs.csv`, `summary.md`, SVG charts). The same seed writes the
//! same bytes, and the printed summary is deterministic.
//!
//! The pipeline is [`run`]; `tests/capstone.rs` includes this file and runs a smaller
//! configuration of it, so the example and its test cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use downhill::nn::{Activation, Init, L2, LogisticRegression, Mlp, Module};
use downhill::optim::{Adam, AdamConfig, Momentum, MomentumConfig, Optimizer, Sgd, SgdConfig};
use downhill::tensor::{Params, seeded_rng};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, breast_cancer, digits};
use downhill::train::doctor::{self, DataContext};
use downhill::train::fit::{FitConfig, Loss, fit};
use downhill::train::plot::Series;
use downhill::train::report::{
    DataInfo, Figure, ModelInfo, OptimizerInfo, RunConfig, RunReport, SplitInfo, TrainingInfo, crate_version,
    evaluate, git_commit, surface_contours_svg, surface_path,
};
use downhill::train::surfaces::Surface;
use downhill::train::{Error, Result};

/// The digits MLP must reach this test accuracy.
pub const DIGITS_TARGET_ACCURACY: f64 = 0.97;

/// The sizes of a capstone run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The seed of every split, initialization and batch order.
    pub seed: u64,
    /// Epochs of the logistic regression.
    pub cancer_epochs: u64,
    /// Epochs of the digits MLP.
    pub digits_epochs: u64,
    /// Hidden units of the digits MLP.
    pub hidden: usize,
    /// Steps of each optimizer on the bowl.
    pub surface_steps: usize,
    /// The run directory.
    pub out: PathBuf,
}

impl Options {
    /// The full capstone (the main job).
    pub fn full(out: impl Into<PathBuf>) -> Self {
        Options {
            seed: 0,
            cancer_epochs: 60,
            digits_epochs: 150,
            hidden: 32,
            surface_steps: 60,
            out: out.into(),
        }
    }

    /// A smaller run of the same code path (for tests): fewer epochs and hidden units.
    pub fn small(out: impl Into<PathBuf>) -> Self {
        Options {
            seed: 0,
            cancer_epochs: 5,
            digits_epochs: 4,
            hidden: 16,
            surface_steps: 20,
            out: out.into(),
        }
    }
}

/// What one trained model achieved.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskOutcome {
    /// The report's directory name inside the run directory.
    pub dir: String,
    /// One line: data → model, optimizer, loss.
    pub headline: String,
    /// Split sizes and preprocessing.
    pub setup: String,
    /// Steps run.
    pub steps: u64,
    /// Why training stopped.
    pub stop: String,
    /// Test loss.
    pub test_loss: f64,
    /// Test metrics by name.
    pub test: BTreeMap<String, f64>,
    /// Doctor findings on the training split (severity and code).
    pub findings: Vec<String>,
}

/// The whole capstone's outcome; its `Display` is the printed summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The logistic regression on breast cancer.
    pub cancer: TaskOutcome,
    /// The MLP on digits.
    pub digits: TaskOutcome,
    /// Each optimizer's distance from the bowl's minimum after its steps.
    pub surface: Vec<(String, f64)>,
    /// Steps on the bowl.
    pub surface_steps: usize,
}

impl Outcome {
    /// The digits MLP's test accuracy.
    pub fn digits_accuracy(&self) -> f64 {
        self.digits.test.get("accuracy").copied().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline)?;
        writeln!(f, "  {}", self.setup)?;
        writeln!(f, "  {} steps; {}", self.steps, self.stop)?;
        let metrics: Vec<String> = self.test.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        writeln!(f, "  test: loss {:.4}, {}", self.test_loss, metrics.join(", "))?;
        if !self.findings.is_empty() {
            writeln!(f, "  doctor: {}", self.findings.join(", "))?;
        }
        writeln!(f, "  report: {}/summary.md", self.dir)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "downhill capstone: two models on bundled real data, one optimizer interface\n")?;
        writeln!(f, "{}", self.cancer)?;
        writeln!(f, "{}", self.digits)?;
        writeln!(
            f,
            "optimizers on {} after {} steps (distance from the minimum):",
            Surface::Bowl.name(),
            self.surface_steps
        )?;
        for (name, d) in &self.surface {
            writeln!(f, "  {name:<9} {d:.3e}")?;
        }
        Ok(())
    }
}

/// One task: data already split and preprocessed, a model, an optimizer, how to train.
struct Task<'a> {
    dir: &'a str,
    name: &'a str,
    model_description: String,
    data: DataInfo,
    train: Dataset,
    val: Dataset,
    test: Dataset,
    loss: Loss,
    cfg: FitConfig,
    seed: u64,
}

/// Trains `model` with `opt` (any optimizer, behind one interface), evaluates it on every split,
/// asks the doctor about the training data and the run (and about the hidden units of `mlp`, if
/// the model is one), and writes the run report into `out/{task.dir}`.
fn train_and_report(
    task: Task<'_>,
    model: &dyn Module<f64>,
    mlp: Option<&Mlp>,
    params: &mut Params<f64>,
    opt: &mut dyn Optimizer<f64>,
    out: &Path,
) -> Result<TaskOutcome> {
    let config = RunConfig {
        name: task.name.to_string(),
        seed: task.seed,
        model: ModelInfo::new(task.model_description.clone(), params),
        loss: task.loss.name().to_string(),
        optimizer: OptimizerInfo::of(opt, params)?,
        training: TrainingInfo::from(&task.cfg),
        data: task.data.clone(),
        downhill_version: crate_version(),
        git_commit: git_commit(),
    };
    let result = fit(model, params, opt, task.loss, &task.train, Some(&task.val), &task.cfg)?;
    let context = DataContext { task: None, loss: Some(task.loss.name().to_string()), standardized: true };
    let mut findings = doctor::check_data(&task.train, &context);
    findings.extend(doctor::check_run(model, params, task.loss, &result, &task.train)?);
    if let Some(mlp) = mlp {
        findings.extend(doctor::check_mlp(mlp, params, &task.train)?);
    }
    let findings = doctor::Report::new(findings);
    let test = evaluate(model, params, task.loss, &task.test)?;
    let outcome = TaskOutcome {
        dir: task.dir.to_string(),
        headline: format!(
            "{} ({} rows, {} features) -> {}, {} (lr {}), {}",
            task.name,
            task.data.rows,
            task.data.features,
            task.model_description,
            config.optimizer.kind,
            config.optimizer.settings.get("lr").map_or("?", String::as_str),
            task.loss.name()
        ),
        setup: format!(
            "split {}/{}/{} (train/val/test, stratified, seed {}); {}",
            task.data.split.train_rows,
            task.data.split.val_rows,
            task.data.split.test_rows,
            task.data.split.seed,
            task.data.preprocessing.join("; ")
        ),
        steps: result.steps,
        stop: format!("stopped: {}", result.stop),
        test_loss: test.loss,
        test: test.metrics.clone(),
        findings: findings.findings.iter().map(|f| format!("{} {}", f.severity, f.code)).collect(),
    };
    RunReport::new(&config, &result)
        .with_evaluation("train", evaluate(model, params, task.loss, &task.train)?)
        .with_evaluation("validation", evaluate(model, params, task.loss, &task.val)?)
        .with_evaluation("test", test)
        .with_doctor(&findings)
        .write(out.join(task.dir))?;
    Ok(outcome)
}

fn split_info(opts: &SplitOptions, tr: &Dataset, va: &Dataset, te: &Dataset) -> SplitInfo {
    SplitInfo {
        val: opts.val,
        test: opts.test,
        seed: opts.seed,
        stratify: opts.stratify,
        train_rows: tr.len(),
        val_rows: va.len(),
        test_rows: te.len(),
    }
}

fn breast_cancer_task(
    opts: &Options,
    params: &mut Params<f64>,
) -> Result<(LogisticRegression, Task<'static>)> {
    let data = breast_cancer()?;
    let split = SplitOptions { val: 0.2, test: 0.2, seed: opts.seed, stratify: true };
    let (tr, va, te) = data.split(&split)?;
    // Fitted on the training split only, then applied to every split.
    let scaler = StandardScaler::fit(&tr.x)?;
    let scale = |d: Dataset| -> Result<Dataset> { Ok(Dataset { x: scaler.transform(&d.x)?, ..d }) };
    let info = DataInfo {
        source: "bundled:breast_cancer".to_string(),
        rows: data.len(),
        features: data.n_features(),
        target: data.target.clone(),
        split: split_info(&split, &tr, &va, &te),
        preprocessing: vec!["StandardScaler fitted on the training split".to_string()],
    };
    let model = LogisticRegression::new(params, "logreg", data.n_features())?;
    let task = Task {
        dir: "breast_cancer",
        name: "breast cancer",
        model_description: format!("logistic regression, {} inputs", data.n_features()),
        data: info,
        train: scale(tr)?,
        val: scale(va)?,
        test: scale(te)?,
        loss: Loss::BceWithLogits,
        cfg: FitConfig {
            epochs: opts.cancer_epochs,
            batch_size: 32,
            seed: opts.seed,
            ..FitConfig::default()
        },
        seed: opts.seed,
    };
    Ok((model, task))
}

fn digits_task(opts: &Options, params: &mut Params<f64>) -> Result<(Mlp, Task<'static>)> {
    let raw = digits()?;
    // Pixel counts 0..16 to [0, 1].
    let data = Dataset { x: raw.x.map(|v| v / 16.0), ..raw };
    // 80/20 train/test; validation is a tenth of all rows, taken from the training part.
    let split = SplitOptions { val: 0.1, test: 0.2, seed: opts.seed, stratify: true };
    let (tr, va, te) = data.split(&split)?;
    let sizes = [data.n_features(), opts.hidden, data.n_classes()?];
    let mut rng = seeded_rng(opts.seed);
    let model = Mlp::new(params, "mlp", &sizes, Activation::Relu, Init::HeNormal, &mut rng)?;
    let info = DataInfo {
        source: "bundled:digits".to_string(),
        rows: data.len(),
        features: data.n_features(),
        target: data.target.clone(),
        split: split_info(&split, &tr, &va, &te),
        preprocessing: vec!["pixels / 16".to_string()],
    };
    let task = Task {
        dir: "digits",
        name: "digits",
        model_description: format!("MLP {}-{}-{}, relu, he_normal init", sizes[0], sizes[1], sizes[2]),
        data: info,
        train: tr,
        val: va,
        test: te,
        loss: Loss::CrossEntropy,
        cfg: FitConfig {
            epochs: opts.digits_epochs,
            batch_size: 32,
            seed: opts.seed,
            l2: Some(L2::new(1e-3)),
            ..FitConfig::default()
        },
        seed: opts.seed,
    };
    Ok((model, task))
}

/// The bowl with SGD, momentum and Adam from one start; returns the chart and each optimizer's
/// final distance from the minimum.
fn bowl_paths(steps: usize) -> Result<(Figure, Vec<(String, f64)>)> {
    let start = [-1.5, 0.8];
    let mut runs: Vec<(&str, Box<dyn Optimizer<f64>>)> = vec![
        ("sgd", Box::new(Sgd::new(SgdConfig::lr(0.08))?)),
        ("momentum", Box::new(Momentum::new(MomentumConfig { lr: 0.01, ..MomentumConfig::default() })?)),
        ("adam", Box::new(Adam::new(AdamConfig { lr: 0.2, ..AdamConfig::default() })?)),
    ];
    let (mut paths, mut dist) = (Vec::new(), Vec::new());
    for (name, opt) in &mut runs {
        let path = surface_path(Surface::Bowl, opt.as_mut(), start, steps)?;
        let (x, y) = path.last().copied().unwrap_or((f64::NAN, f64::NAN));
        dist.push((name.to_string(), ((x - 1.0).powi(2) + (y + 2.0).powi(2)).sqrt()));
        let lr = opt.lr();
        paths.push(Series::new(format!("{name} (lr {lr})"), path));
    }
    let title = format!("{}: {steps} steps from ({}, {})", Surface::Bowl.name(), start[0], start[1]);
    let svg = surface_contours_svg(Surface::Bowl, &paths, (-2.0, 3.0), (-4.0, 1.5), &title)?;
    Ok((Figure { file: "bowl_optimizers.svg".to_string(), title, svg }, dist))
}

/// Runs the whole capstone into `opts.out` and returns what it achieved.
pub fn run(opts: &Options) -> Result<Outcome> {
    let mut cancer_params = Params::new();
    let (cancer_model, cancer_task) = breast_cancer_task(opts, &mut cancer_params)?;
    let mut momentum = Momentum::new(MomentumConfig { lr: 0.05, ..MomentumConfig::default() })?;
    let cancer =
        train_and_report(cancer_task, &cancer_model, None, &mut cancer_params, &mut momentum, &opts.out)?;

    let mut digits_params = Params::new();
    let (digits_model, digits_task) = digits_task(opts, &mut digits_params)?;
    let mut adam = Adam::new(AdamConfig { lr: 1e-3, ..AdamConfig::default() })?;
    let digits = train_and_report(
        digits_task,
        &digits_model,
        Some(&digits_model),
        &mut digits_params,
        &mut adam,
        &opts.out,
    )?;

    let (figure, surface) = bowl_paths(opts.surface_steps)?;
    let outcome = Outcome { cancer, digits, surface, surface_steps: opts.surface_steps };
    let index = format!(
        "# downhill capstone\n\n```text\n{outcome}```\n\n\
         - [Breast cancer: logistic regression](breast_cancer/summary.md)\n\
         - [Digits: MLP](digits/summary.md)\n\n## {}\n\n![{}]({})\n",
        figure.title, figure.title, figure.file
    );
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = opts.out.join(name);
        downhill::tensor::io::write_atomic(&path, bytes).map_err(|e| Error::Io {
            action: "write",
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    write(&figure.file, figure.svg.as_bytes())?;
    write("index.md", index.as_bytes())?;
    Ok(outcome)
}

fn main() -> ExitCode {
    let out = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DOWNHILL_CAPSTONE_OUT").ok())
        .unwrap_or_else(|| "runs/capstone".to_string());
    match run(&Options::full(&out)) {
        Ok(outcome) => {
            print!("{outcome}");
            println!("\nfull report: {out}/index.md");
            let acc = outcome.digits_accuracy();
            if acc >= DIGITS_TARGET_ACCURACY {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "capstone: digits test accuracy {acc:.4} is below the target {DIGITS_TARGET_ACCURACY}"
                );
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("capstone: {e}");
            ExitCode::FAILURE
        }
    }
}

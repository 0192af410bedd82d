//! Book, chapter 6: the capstone.
//!
//! ```sh
//! cargo run --release --example ch06_capstone            # writes book/src/generated/ch06/
//! cargo run --release --example ch06_capstone -- DIR     # or into DIR
//! ```
//!
//! A logistic regression (breast cancer) and a 2-layer MLP (digits) trained by one pipeline that
//! takes any optimizer as `&mut dyn Optimizer<f64>`, watches the run epoch by epoch, and asks the
//! doctor about the data and the run; the debugging playbook as four runnable demos (the initial
//! loss against ln 2 and ln 10, overfitting 16 digits, gradient checks of the MLP and of a
//! hand-written op with a wrong backward, a learning rate that diverges and its fix); and the
//! run report of the logistic regression (config.json, CSVs, summary.md, SVG charts) written
//! into `report/`. Everything it prints is also written, section by section, as text files;
//! `tests/book_ch06.rs` checks that the committed copies are up to date.
//!
//! The digits MLP runs for fewer epochs than in `examples/capstone.rs` (the project's main job)
//! so that the chapter stays fast; the full-size numbers come from
//! `cargo run --release --example capstone`.

use std::error::Error;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use downhill::gradcheck::GradCheck;
use downhill::nn::{Activation, Init, Linear, LogisticRegression, Mlp, Module, Sequential};
use downhill::optim::{Adam, AdamConfig, Momentum, MomentumConfig, Optimizer, Sgd, SgdConfig};
use downhill::prelude::{Float, ParamId, Params, Tape, Tensor, Var, seeded_rng};
use downhill::tensor::{CustomOp, TensorRef};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, breast_cancer, digits};
use downhill::train::doctor::{self, DataContext};
use downhill::train::fit::{FitConfig, FitResult, Loss, Trainer, fit};
use downhill::train::report::{
    DataInfo, Evaluation, ModelInfo, OptimizerInfo, RunConfig, RunReport, SplitInfo, TrainingInfo,
    crate_version, evaluate, loss_figure,
};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// Epochs of the digits MLP in this chapter (the capstone runs 150; change it here for the full run).
pub const DIGITS_EPOCHS: u64 = 30;

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// A dataset split three ways, preprocessed, with a record of how.
pub struct Splits {
    /// Rows the optimizer sees.
    pub train: Dataset,
    /// Rows the monitor and the doctor's overfitting check see.
    pub val: Dataset,
    /// Rows touched once, at the end.
    pub test: Dataset,
    /// Where the data came from and what was done to it (for the report's config.json).
    pub info: DataInfo,
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

// ANCHOR: cancer_data
/// Breast cancer: a stratified 60/20/20 split, then a scaler fitted on the training rows only.
pub fn cancer_splits(seed: u64) -> Res<Splits> {
    let data = breast_cancer()?;
    let split = SplitOptions { val: 0.2, test: 0.2, seed, stratify: true };
    let (train, val, test) = data.split(&split)?;
    let scaler = StandardScaler::fit(&train.x)?; // never fitted on validation or test rows
    let scale = |d: Dataset| -> Res<Dataset> { Ok(Dataset { x: scaler.transform(&d.x)?, ..d }) };
    let info = DataInfo {
        source: "bundled:breast_cancer".to_string(),
        rows: data.len(),
        features: data.n_features(),
        target: data.target.clone(),
        split: split_info(&split, &train, &val, &test),
        preprocessing: vec!["StandardScaler fitted on the training split".to_string()],
    };
    Ok(Splits { train: scale(train)?, val: scale(val)?, test: scale(test)?, info })
}
// ANCHOR_END: cancer_data

/// Digits: pixels / 16, a stratified split (20 % test, 10 % validation).
pub fn digits_splits(seed: u64) -> Res<Splits> {
    let raw = digits()?;
    let data = Dataset { x: raw.x.map(|v| v / 16.0), ..raw };
    let split = SplitOptions { val: 0.1, test: 0.2, seed, stratify: true };
    let (train, val, test) = data.split(&split)?;
    let info = DataInfo {
        source: "bundled:digits".to_string(),
        rows: data.len(),
        features: data.n_features(),
        target: data.target.clone(),
        split: split_info(&split, &train, &val, &test),
        preprocessing: vec!["pixels / 16".to_string()],
    };
    Ok(Splits { train, val, test, info })
}

/// The capstone's MLP for digits: 64 inputs, 32 hidden units, 10 outputs, He initialization
/// drawn from seed 0.
pub fn digits_mlp(params: &mut Params<f64>, activation: Activation) -> Res<Mlp> {
    Ok(Mlp::new(params, "mlp", &[64, 32, 10], activation, Init::HeNormal, &mut seeded_rng(0))?)
}

// ---------------------------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------------------------

/// How to train: the loss, `fit`'s settings, and how often the monitor prints (in epochs; 0
/// for never).
pub struct Plan {
    /// The loss, matched to the model's output.
    pub loss: Loss,
    /// Epochs, batch size, seed, guards, penalty.
    pub cfg: FitConfig,
    /// Print a monitor line every this many epochs (and after the last one).
    pub monitor_every: u64,
}

/// What the pipeline returns.
pub struct Trained {
    /// What the run did: steps, why it stopped, every step and epoch.
    pub result: FitResult,
    /// The monitor's lines.
    pub monitor: String,
    /// The final scores on each split.
    pub train: Evaluation,
    /// On the validation split.
    pub val: Evaluation,
    /// On the test split (looked at once, at the end).
    pub test: Evaluation,
    /// The doctor's findings on the training data, the run, and (for an MLP) its hidden units.
    pub doctor: doctor::Report,
}

// ANCHOR: pipeline
/// Trains any model with any optimizer, watching the run as it goes, then scores it on every
/// split and asks the doctor about the data and the run.
pub fn train_and_check(
    model: &dyn Module<f64>,
    mlp: Option<&Mlp>,
    params: &mut Params<f64>,
    opt: &mut dyn Optimizer<f64>,
    data: &Splits,
    plan: &Plan,
) -> Res<Trained> {
    let loss = plan.loss;
    let mut monitor = String::new();
    let mut trainer = Trainer::new(model, params, opt, loss, &data.train, Some(&data.val), &plan.cfg)?;
    let per_epoch = data.train.len().div_ceil(plan.cfg.batch_size) as u64;
    let chunk = per_epoch * plan.monitor_every.max(1);
    while !trainer.is_finished() {
        trainer.run_until(trainer.step_count() + chunk)?; // pause every `monitor_every` epochs
        if let (Some(e), Some(s)) = (trainer.log().epochs.last(), trainer.log().steps.last())
            && plan.monitor_every > 0
        {
            let acc = e.metrics.get("val_accuracy").copied().unwrap_or(f64::NAN);
            let val = e.val_loss.unwrap_or(f64::NAN);
            writeln!(
                monitor,
                "epoch {:>3}  step {:>5}  train {:.4}  val {val:.4}  val acc {acc:.4}  |grad| {:.3e}  update/param {:.1e}",
                e.epoch + 1,
                e.steps,
                e.train_loss,
                s.grad_norm,
                s.update_ratio
            )?;
        }
    }
    let result = trainer.result();
    drop(trainer); // gives `params` back

    // Both datasets arrive on a common scale (standardized, or pixels / 16).
    let context = DataContext { task: None, loss: Some(loss.name().to_string()), standardized: true };
    let mut findings = doctor::check_data(&data.train, &context);
    findings.extend(doctor::check_run(model, params, loss, &result, &data.train)?);
    if let Some(mlp) = mlp {
        findings.extend(doctor::check_mlp(mlp, params, &data.train)?);
    }
    Ok(Trained {
        train: evaluate(model, params, loss, &data.train)?,
        val: evaluate(model, params, loss, &data.val)?,
        test: evaluate(model, params, loss, &data.test)?,
        result,
        monitor,
        doctor: doctor::Report::new(findings),
    })
}
// ANCHOR_END: pipeline

/// `fit`'s settings used by every run of the chapter unless said otherwise.
fn cfg(epochs: u64, seed: u64) -> FitConfig {
    FitConfig { epochs, batch_size: 32, seed, ..FitConfig::default() }
}

fn outcome(name: &str, t: &Trained) -> String {
    let mut s = String::new();
    let m = &t.test.metrics;
    let _ = writeln!(s, "{name}: {} steps, stopped: {}", t.result.steps, t.result.stop.code());
    let _ =
        writeln!(s, "  loss       train {:.4}  val {:.4}  test {:.4}", t.train.loss, t.val.loss, t.test.loss);
    let _ = writeln!(
        s,
        "  accuracy   train {:.4}  val {:.4}  test {:.4}",
        t.train.metrics["accuracy"], t.val.metrics["accuracy"], m["accuracy"]
    );
    if let Some(ece) = m.get("ece") {
        let _ = writeln!(s, "  test ECE {ece:.4} (expected calibration error)");
    }
    let codes: Vec<String> = t.doctor.findings.iter().map(|f| format!("{} {}", f.severity, f.code)).collect();
    let _ = writeln!(
        s,
        "  doctor: {}",
        if codes.is_empty() { "no findings".to_string() } else { codes.join(", ") }
    );
    s
}

/// Section: both models through the one pipeline; the digits learning curve.
fn pipeline(figures: &mut Vec<(&'static str, String)>) -> Res<(String, String, Trained, Splits)> {
    // ANCHOR: models
    let seed = 0;
    // A logistic regression on breast cancer, trained with momentum.
    let cancer = cancer_splits(seed)?;
    let mut cancer_params = Params::<f64>::new();
    let logreg = LogisticRegression::new(&mut cancer_params, "logreg", cancer.train.n_features())?;
    let mut momentum = Momentum::new(MomentumConfig { lr: 0.05, ..MomentumConfig::default() })?;
    let plan = Plan { loss: Loss::BceWithLogits, cfg: cfg(60, seed), monitor_every: 10 };
    let logreg_run = train_and_check(&logreg, None, &mut cancer_params, &mut momentum, &cancer, &plan)?;

    // A 64-32-10 MLP on digits, trained with Adam and a small L2 penalty: the same call.
    let digits = digits_splits(seed)?;
    let mut digits_params = Params::<f64>::new();
    let sizes = [digits.train.n_features(), 32, digits.train.n_classes()?];
    let mut rng = seeded_rng(seed);
    let mlp = Mlp::new(&mut digits_params, "mlp", &sizes, Activation::Relu, Init::HeNormal, &mut rng)?;
    let mut adam = Adam::new(AdamConfig { lr: 1e-3, ..AdamConfig::default() })?;
    let cfg = FitConfig { l2: Some(downhill::nn::L2::new(1e-3)), ..cfg(DIGITS_EPOCHS, seed) };
    let plan = Plan { loss: Loss::CrossEntropy, cfg, monitor_every: 5 };
    let mlp_run = train_and_check(&mlp, Some(&mlp), &mut digits_params, &mut adam, &digits, &plan)?;
    // ANCHOR_END: models

    let mut monitor = String::new();
    writeln!(monitor, "logistic regression, breast cancer (momentum, lr 0.05):")?;
    monitor.push_str(&logreg_run.monitor);
    writeln!(monitor, "MLP 64-32-10, digits (adam, lr 0.001, L2 1e-3):")?;
    monitor.push_str(&mlp_run.monitor);

    let mut out = String::new();
    out.push_str(&outcome("logistic regression, breast cancer", &logreg_run));
    out.push_str(&outcome(&format!("MLP 64-32-10, digits, {DIGITS_EPOCHS} epochs"), &mlp_run));
    figures.push(("digits_loss.svg", loss_figure(&mlp_run.result.log)?.svg));
    Ok((monitor, out, logreg_run, cancer))
}

// ---------------------------------------------------------------------------------------------
// The run report
// ---------------------------------------------------------------------------------------------

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

/// Writes the logistic regression's run report into a scratch directory and reads it back.
fn report(run: &Trained, data: &Splits) -> Res<Vec<(String, String)>> {
    let dir = std::env::temp_dir().join(format!(
        "downhill-ch06-{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    ));
    // The same model and optimizer as the run, built fresh: only their settings are recorded.
    let mut params = Params::<f64>::new();
    let _ = LogisticRegression::new(&mut params, "logreg", data.train.n_features())?;
    let momentum = Momentum::new(MomentumConfig { lr: 0.05, ..MomentumConfig::default() })?;
    let plan_cfg = cfg(60, 0);
    // ANCHOR: report
    let config = RunConfig {
        name: "breast cancer, logistic regression".to_string(),
        seed: 0,
        model: ModelInfo::new("logistic regression, 30 inputs", &params),
        loss: Loss::BceWithLogits.name().to_string(),
        optimizer: OptimizerInfo::of(&momentum, &params)?,
        training: TrainingInfo::from(&plan_cfg),
        data: data.info.clone(),
        downhill_version: crate_version(),
        git_commit: None, // the book leaves it out; use report::git_commit() in your own runs
    };
    let written = RunReport::new(&config, &run.result)
        .with_evaluation("train", run.train.clone())
        .with_evaluation("validation", run.val.clone())
        .with_evaluation("test", run.test.clone())
        .with_doctor(&run.doctor)
        .write(&dir)?;
    // ANCHOR_END: report
    let mut files = Vec::new();
    for name in written.files {
        let content = std::fs::read_to_string(dir.join(&name))?;
        files.push((name, content));
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// The debugging playbook
// ---------------------------------------------------------------------------------------------

/// Playbook 1: the loss before any training, against what chance predicts.
fn initial_loss() -> Res<String> {
    let mut out = String::new();
    let cancer = cancer_splits(0)?;
    let digits = digits_splits(0)?;
    // ANCHOR: initial_loss
    // Logistic regression, zero weights: every probability is 1/2, so the loss is ln 2.
    let mut params = Params::<f64>::new();
    let logreg = LogisticRegression::new(&mut params, "logreg", 30)?;
    let logreg_start = evaluate(&logreg, &params, Loss::BceWithLogits, &cancer.train)?.loss;

    // The capstone's MLP, He initialization: 10 classes, so near ln 10.
    let mut params = Params::<f64>::new();
    let mlp = digits_mlp(&mut params, Activation::Relu)?;
    let he_start = evaluate(&mlp, &params, Loss::CrossEntropy, &digits.train)?.loss;
    // Zero output weights make every logit 0 and every class 1/10: exactly ln 10.
    let out_w = params.id("mlp.1.weight")?;
    params.get_mut(out_w).data_mut().fill(0.0);
    let zero_out_start = evaluate(&mlp, &params, Loss::CrossEntropy, &digits.train)?.loss;

    // A bad initialization: every weight drawn from N(0, 1), whatever the layer's width.
    let mut params = Params::<f64>::new();
    let bad_init = Init::Normal { std: 1.0 };
    let bad = Mlp::new(&mut params, "mlp", &[64, 32, 10], Activation::Relu, bad_init, &mut seeded_rng(0))?;
    let bad_start = evaluate(&bad, &params, Loss::CrossEntropy, &digits.train)?.loss;
    // What the doctor says after the first step of a run from there.
    let mut adam = Adam::new(AdamConfig { lr: 1e-3, ..AdamConfig::default() })?;
    let one_step = FitConfig { max_steps: Some(1), ..cfg(1, 0) };
    let r = fit(&bad, &mut params, &mut adam, Loss::CrossEntropy, &digits.train, None, &one_step)?;
    let findings = doctor::Report::new(doctor::check_log(&r, Loss::CrossEntropy, &digits.train));
    // ANCHOR_END: initial_loss
    let (ln2, ln10) = (2f64.ln(), 10f64.ln());
    writeln!(out, "logistic regression, zero init:       {logreg_start:.4}   (ln 2  = {ln2:.4})")?;
    writeln!(out, "MLP, he_normal init:                  {he_start:.4}   (ln 10 = {ln10:.4})")?;
    writeln!(out, "MLP, he_normal, zero output weights:  {zero_out_start:.4}")?;
    writeln!(out, "MLP, every weight from N(0, 1):       {bad_start:.4}")?;
    writeln!(out, "the doctor after one step of that run:")?;
    write!(out, "{findings}")?;
    Ok(out)
}

/// Playbook 2: a model that cannot fit 16 rows will not fit 1,000.
fn overfit() -> Res<String> {
    let mut out = String::new();
    let digits = digits_splits(0)?;
    // ANCHOR: overfit
    let tiny = digits.train.select(&(0..16).collect::<Vec<_>>())?;
    let mut runs = Vec::new();
    for (name, data) in [
        ("16 digits", tiny.clone()),
        ("16 digits, inputs zeroed by a bug", Dataset { x: tiny.x.map(|_| 0.0), ..tiny.clone() }),
    ] {
        let mut params = Params::<f64>::new();
        let mlp = digits_mlp(&mut params, Activation::Relu)?;
        let mut adam = Adam::new(AdamConfig { lr: 1e-2, ..AdamConfig::default() })?;
        let full_batch = FitConfig { epochs: 300, batch_size: 16, ..FitConfig::default() };
        let r = fit(&mlp, &mut params, &mut adam, Loss::CrossEntropy, &data, None, &full_batch)?;
        let acc = evaluate(&mlp, &params, Loss::CrossEntropy, &data)?.metrics["accuracy"];
        runs.push((name, r, acc));
    }
    // ANCHOR_END: overfit
    let labels = tiny.labels()?;
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l] += 1);
    let entropy: f64 = counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / 16.0).map(|p| -p * p.ln()).sum();
    for (name, r, acc) in &runs {
        let at = |k: usize| r.log.steps.get(k).map_or(f64::NAN, |s| s.loss);
        let shown: Vec<String> = [0, 50, 100, 299].iter().map(|&k| format!("{k}: {:.5}", at(k))).collect();
        writeln!(out, "{name}: full batch, adam lr 0.01, {} steps", r.steps)?;
        writeln!(out, "  loss at step {}; accuracy {acc:.4}", shown.join(", "))?;
    }
    writeln!(out, "entropy of the 16 labels (the best loss without looking at x): {entropy:.4}")?;
    Ok(out)
}

// ANCHOR: hand_tanh
/// tanh written by hand as a custom op: the forward pass and the backward pass side by side.
/// `bug` swaps the derivative 1 − tanh²(x) for the classic slip 1 − x².
pub struct HandTanh {
    /// Use the wrong derivative.
    pub bug: bool,
}

impl<T: Float> CustomOp<T> for HandTanh {
    fn name(&self) -> &'static str {
        "hand_tanh"
    }

    fn forward(&self, inputs: &[TensorRef<'_, T>]) -> Result<Tensor<T>, String> {
        let x = inputs[0];
        Tensor::from_vec(x.data.iter().map(|v| v.tanh()).collect(), x.shape.clone())
            .map_err(|e| e.to_string())
    }

    fn backward(
        &self,
        inputs: &[TensorRef<'_, T>],
        y: TensorRef<'_, T>,
        grad: &[T],
        input_grads: &mut [Vec<T>],
    ) {
        let x = inputs[0].data;
        for (k, (gx, g)) in input_grads[0].iter_mut().zip(grad).enumerate() {
            let slope = if self.bug { T::one() - x[k] * x[k] } else { T::one() - y.data[k] * y.data[k] };
            *gx += *g * slope;
        }
    }
}

impl<T: Float> Module<T> for HandTanh {
    fn forward<'t>(&self, tape: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        tape.custom(HandTanh { bug: self.bug }, &[x])
    }

    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}
// ANCHOR_END: hand_tanh

/// Playbook 3: gradient checks of the MLP, and of a network with a hand-written op.
fn gradcheck() -> Res<String> {
    let mut out = String::new();
    let digits = digits_splits(0)?;
    let batch = digits.train.select(&(0..8).collect::<Vec<_>>())?;
    let (x, labels) = (batch.x.clone(), batch.labels()?);
    // ANCHOR: gradcheck
    // The capstone's MLP: the loss on 8 digits with respect to each of its 2,410 parameters.
    let mut params = Params::<f64>::new();
    let mlp = digits_mlp(&mut params, Activation::Relu)?;
    let mlp_report = GradCheck::new().check_params(&params, |tape, p| {
        Loss::CrossEntropy.eval(mlp.forward(tape, p, tape.constant(&x)), tape.constant(&batch.y), &labels)
    })?;

    // The same shape of network around the hand-written tanh: right, then with the slip.
    let mut hand_reports = Vec::new();
    for bug in [false, true] {
        let mut params = Params::<f64>::new();
        let mut rng = seeded_rng(0);
        let net = Sequential::new()
            .with(Linear::new(&mut params, "fc1", 64, 32, Init::XavierNormal, &mut rng)?)
            .with(HandTanh { bug })
            .with(Linear::new(&mut params, "fc2", 32, 10, Init::XavierNormal, &mut rng)?);
        hand_reports.push(GradCheck::new().check_params(&params, |tape, p| {
            Loss::CrossEntropy.eval(net.forward(tape, p, tape.constant(&x)), tape.constant(&batch.y), &labels)
        })?);
    }
    // ANCHOR_END: gradcheck
    write!(out, "MLP 64-32-10 (relu), cross-entropy on 8 digits:\n{mlp_report}")?;
    for (report, bug) in hand_reports.iter().zip([false, true]) {
        write!(out, "\n64-32-10 with hand_tanh{}:\n{report}", if bug { " (bug: 1 - x^2)" } else { "" })?;
        if !report.passed() {
            let mut by_input: Vec<(String, usize)> = Vec::new();
            for m in report.failures() {
                match by_input.iter_mut().find(|(name, _)| *name == m.input) {
                    Some((_, n)) => *n += 1,
                    None => by_input.push((m.input.clone(), 1)),
                }
            }
            let counts: Vec<String> = by_input.iter().map(|(name, n)| format!("{name} {n}")).collect();
            writeln!(out, "failures by input: {}", counts.join(", "))?;
        }
    }
    Ok(out)
}

/// Playbook 4: a learning rate that is too high, what it looks like, what the doctor says, and
/// the fix.
fn learning_rate() -> Res<(String, String)> {
    let (mut out, mut diverged) = (String::new(), String::new());
    let digits = digits_splits(0)?;
    // ANCHOR: too_high
    // The capstone's MLP and optimizer at four rates, 10 epochs each.
    writeln!(out, "MLP 64-32-10 (relu), adam, 10 epochs of mini-batches:")?;
    writeln!(
        out,
        "{:>6}  {:>16}  {:>8}  dead ReLUs (the doctor's check_mlp)",
        "lr", "worst batch loss", "val acc"
    )?;
    for lr in [1.0, 0.1, 0.01, 0.001] {
        let mut params = Params::<f64>::new();
        let mlp = digits_mlp(&mut params, Activation::Relu)?;
        let mut adam = Adam::new(AdamConfig { lr, ..AdamConfig::default() })?;
        let r = fit(
            &mlp,
            &mut params,
            &mut adam,
            Loss::CrossEntropy,
            &digits.train,
            Some(&digits.val),
            &cfg(10, 0),
        )?;
        let worst = r.log.steps.iter().map(|s| s.loss).fold(f64::NEG_INFINITY, f64::max);
        let acc = r.log.epochs.last().map_or(f64::NAN, |e| e.metrics["val_accuracy"]);
        let dead = doctor::check_mlp(&mlp, &params, &digits.train)?;
        let dead = dead.iter().find(|f| f.code == "dead-relu");
        let dead = dead.map_or("fewer than 10 %".to_string(), |f| format!("[{}] {}", f.severity, f.title));
        writeln!(out, "{lr:>6}  {worst:>16.4}  {acc:>8.4}  {dead}")?;
    }
    // ANCHOR_END: too_high
    // ANCHOR: diverge
    // Full-batch gradient descent, with leaky ReLUs so that no unit can die and hide a divergence.
    for lr in [10.0, 1.0] {
        let mut params = Params::<f64>::new();
        let act = Activation::LeakyRelu(0.1);
        let mlp = digits_mlp(&mut params, act)?;
        let mut sgd = Sgd::new(SgdConfig::lr(lr))?;
        let full = FitConfig { batch_size: digits.train.len(), ..cfg(100, 0) };
        let r =
            fit(&mlp, &mut params, &mut sgd, Loss::CrossEntropy, &digits.train, Some(&digits.val), &full)?;
        let findings =
            doctor::Report::new(doctor::check_run(&mlp, &params, Loss::CrossEntropy, &r, &digits.train)?);
        let acc = r.log.epochs.last().map_or(f64::NAN, |e| e.metrics["val_accuracy"]);
        if !diverged.is_empty() {
            writeln!(diverged)?;
        }
        writeln!(diverged, "leaky-relu MLP, full-batch sgd, lr {lr}: {} steps, {}", r.steps, r.stop.code())?;
        let losses: Vec<String> = r.log.steps.iter().take(4).map(|s| format!("{:.4}", s.loss)).collect();
        writeln!(
            diverged,
            "  first losses {}; last train loss {:.4}, val accuracy {acc:.4}",
            losses.join(", "),
            r.final_train_loss().unwrap_or(f64::NAN)
        )?;
        write!(diverged, "{findings}")?;
    }
    // ANCHOR_END: diverge
    Ok((out, diverged))
}

// ---------------------------------------------------------------------------------------------
// Checkpoint
// ---------------------------------------------------------------------------------------------

/// The checkpoint: three optimizers through the one pipeline, on breast cancer.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let data = cancer_splits(0)?;
    let mut optimizers: Vec<Box<dyn Optimizer<f64>>> = vec![
        Box::new(Sgd::new(SgdConfig::lr(0.1))?),
        Box::new(Momentum::new(MomentumConfig { lr: 0.05, ..MomentumConfig::default() })?),
        Box::new(Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() })?),
    ];
    for opt in &mut optimizers {
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "logreg", 30)?;
        let plan = Plan { loss: Loss::BceWithLogits, cfg: cfg(60, 0), monitor_every: 0 };
        let run = train_and_check(&model, None, &mut params, opt.as_mut(), &data, &plan)?;
        let m = &run.test.metrics;
        writeln!(
            out,
            "{:<8} lr {:<5} test loss {:.4}  accuracy {:.4}  ECE {:.4}",
            opt.kind(),
            opt.lr(),
            run.test.loss,
            m["accuracy"],
            m["ece"]
        )?;
    }
    // ANCHOR_END: checkpoint
    Ok(out)
}

/// Everything the chapter prints and draws: named text sections, SVG figures, and the run
/// report's files.
pub struct Chapter {
    /// `(file name, text)`, in print order.
    pub texts: Vec<(&'static str, String)>,
    /// `(file name, svg)`.
    pub figures: Vec<(&'static str, String)>,
    /// `(file name inside report/, contents)`: the run report, as `RunReport::write` wrote it.
    pub report: Vec<(String, String)>,
}

impl Chapter {
    /// The text section written to `name`.
    pub fn text(&self, name: &str) -> &str {
        self.texts.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str()).unwrap_or("")
    }
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    let (monitor, outcomes, logreg_run, cancer) = pipeline(&mut figures)?;
    let report = report(&logreg_run, &cancer)?;
    let (rates, diverged) = learning_rate()?;
    let texts = vec![
        ("monitor.txt", monitor),
        ("pipeline.txt", outcomes),
        ("initial_loss.txt", initial_loss()?),
        ("overfit.txt", overfit()?),
        ("gradcheck.txt", gradcheck()?),
        ("learning_rate.txt", rates),
        ("diverge.txt", diverged),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures, report })
}

fn main() -> Res<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/generated/ch06").into());
    std::fs::create_dir_all(format!("{dir}/report"))?;
    let ch = chapter()?;
    for (name, text) in &ch.texts {
        println!("== {name}\n{text}");
        std::fs::write(format!("{dir}/{name}"), text)?;
    }
    for (name, svg) in &ch.figures {
        std::fs::write(format!("{dir}/{name}"), svg)?;
    }
    for (name, contents) in &ch.report {
        std::fs::write(format!("{dir}/report/{name}"), contents)?;
    }
    println!(
        "wrote {} text files, {} figures and a run report ({} files, in report/) to {dir}",
        ch.texts.len(),
        ch.figures.len(),
        ch.report.len()
    );
    Ok(())
}

//! Book, chapter 8 (case study): exploding gradients on unscaled regression.
//!
//! ```sh
//! cargo run --release --example ch08_exploding            # writes book/src/generated/ch08/
//! cargo run --release --example ch08_exploding -- DIR     # or into DIR
//! ```
//!
//! A linear regression on the bundled diabetes data in raw units (age in years, blood pressure
//! in mm Hg, serum measurements up to ~240): full-batch gradient descent on half-MSE diverges to
//! NaN at one learning rate, is stable but stuck at a ten times smaller one, and converges once
//! the features are standardized with a `StandardScaler` fitted on the training split. Shows the
//! fit loop's guards and their stop messages, `doctor`'s feature-scale and `2/L` findings, the
//! doctor's run checks, and an LR sweep that finds the same edge. `tests/book_ch08.rs` checks
//! that the committed output is up to date.

use std::error::Error;
use std::fmt::Write as _;

use downhill::nn::LinearRegression;
use downhill::optim::{Sgd, SgdConfig};
use downhill::prelude::Params;
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, diabetes_raw};
use downhill::train::doctor::{DataContext, Report, check_data, check_run, symmetric_eigenvalues};
use downhill::train::fit::{FitConfig, FitResult, Loss, fit};
use downhill::train::plot::{LineChart, Series};
use downhill::train::stop::Guards;
use downhill::train::sweep::{SweepConfig, dataset_loss, lr_sweep};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

/// Full-batch gradient-descent steps of every run in the chapter.
const STEPS: u64 = 500;

// ANCHOR: split
/// The raw diabetes data, split 80/20 with a fixed seed: (train, test).
pub fn data() -> Res<(Dataset, Dataset)> {
    let all = diabetes_raw()?; // 442 rows, 10 features in their natural units
    let (train, _, test) = all.split(&SplitOptions { val: 0.0, test: 0.2, seed: 0, stratify: false })?;
    Ok((train, test))
}
// ANCHOR_END: split

// ANCHOR: train
/// Full-batch gradient descent on half-MSE for `steps` steps (one step per epoch), with `guards`.
pub fn gd(
    data: &Dataset,
    lr: f64,
    steps: u64,
    guards: Guards,
) -> Res<(LinearRegression, Params<f64>, FitResult)> {
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "lin", data.n_features())?; // w = 0, b = 0
    let mut opt = Sgd::new(SgdConfig::lr(lr))?;
    let cfg = FitConfig { epochs: steps, batch_size: usize::MAX, guards, ..FitConfig::default() };
    let result = fit(&model, &mut params, &mut opt, Loss::HalfMse, data, None, &cfg)?;
    Ok((model, params, result))
}
// ANCHOR_END: train

// ANCHOR: curvature
/// The largest and smallest curvature of half-MSE for a linear model on `data`: the extreme
/// eigenvalues of the Hessian `[1, x]ᵀ[1, x] / n`, which does not depend on the weights.
pub fn curvature(data: &Dataset) -> (f64, f64) {
    let (n, p) = (data.len(), data.n_features());
    let q = p + 1; // the bias is a feature that is always 1
    let mut h = vec![0.0; q * q];
    for row in data.x.data().chunks_exact(p) {
        let z: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
        for a in 0..q {
            for b in 0..q {
                h[a * q + b] += z[a] * z[b] / n as f64;
            }
        }
    }
    let ev = symmetric_eigenvalues(&h, q); // ascending
    (ev[q - 1], ev[0])
}
// ANCHOR_END: curvature

/// The exact least-squares fit `[b, w₁, ..., w_p]` from the normal equations
/// `[1, x]ᵀ[1, x]·θ = [1, x]ᵀy`, solved by Gaussian elimination with partial pivoting.
pub fn least_squares(data: &Dataset) -> Vec<f64> {
    let p = data.n_features();
    let q = p + 1;
    let mut a = vec![0.0; q * (q + 1)]; // the augmented matrix [H | g]
    for (row, &y) in data.x.data().chunks_exact(p).zip(data.y.data()) {
        let z: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
        for i in 0..q {
            for j in 0..q {
                a[i * (q + 1) + j] += z[i] * z[j];
            }
            a[i * (q + 1) + q] += z[i] * y;
        }
    }
    for c in 0..q {
        let piv = (c..q).max_by(|&i, &j| a[i * (q + 1) + c].abs().total_cmp(&a[j * (q + 1) + c].abs()));
        let piv = piv.unwrap_or(c);
        for k in 0..=q {
            a.swap(c * (q + 1) + k, piv * (q + 1) + k);
        }
        for i in c + 1..q {
            let f = a[i * (q + 1) + c] / a[c * (q + 1) + c];
            for k in c..=q {
                a[i * (q + 1) + k] -= f * a[c * (q + 1) + k];
            }
        }
    }
    let mut theta = vec![0.0; q];
    for i in (0..q).rev() {
        let s: f64 = (i + 1..q).map(|k| a[i * (q + 1) + k] * theta[k]).sum();
        theta[i] = (a[i * (q + 1) + q] - s) / a[i * (q + 1) + i];
    }
    theta
}

/// Half-MSE of the linear model `[b, w...]` on `data`.
fn half_mse(theta: &[f64], data: &Dataset) -> f64 {
    let p = data.n_features();
    let rows = data.x.data().chunks_exact(p).zip(data.y.data());
    let sum: f64 = rows
        .map(|(r, y)| (theta[0] + r.iter().zip(&theta[1..]).map(|(x, w)| x * w).sum::<f64>() - y).powi(2))
        .sum();
    0.5 * sum / data.len() as f64
}

/// The checkpoint: the standardized fit, taken back to raw units, against the exact solution.
fn checkpoint(train: &Dataset, test: &Dataset) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let scaler = StandardScaler::fit(&train.x)?;
    let train_z = Dataset { x: scaler.transform(&train.x)?, ..train.clone() };
    let (l, _) = curvature(&train_z);
    let (model, params, result) = gd(&train_z, 1.0 / l, 10_000, Guards::default())?;
    let w_z = params.get(model.linear().weight()).data().to_vec();
    let b_z = model.linear().bias().map_or(0.0, |id| params.get(id).data()[0]);
    // w·(x − mean)/std + b  =  (w/std)·x + (b − Σ w·mean/std): the same model in raw units.
    let w: Vec<f64> = w_z.iter().zip(&scaler.std).map(|(w, s)| w / s).collect();
    let b = b_z - w.iter().zip(&scaler.mean).map(|(w, m)| w * m).sum::<f64>();
    let exact = least_squares(train); // [b, w...] from the normal equations on the raw features
    // ANCHOR_END: checkpoint
    let ours: Vec<f64> = std::iter::once(b).chain(w.iter().copied()).collect();
    writeln!(out, "standardized GD at lr 1/L = {:.4}: {} steps, {}", 1.0 / l, result.steps, short(&result))?;
    writeln!(out, "{:>11}  {:>12}  {:>12}", "raw units", "GD + scaler", "exact")?;
    let names = std::iter::once("intercept").chain(train.features.iter().map(String::as_str));
    for ((name, a), e) in names.zip(&ours).zip(&exact) {
        writeln!(out, "{name:>11}  {a:>12.4}  {e:>12.4}")?;
    }
    // Compared in standardized units, where every coefficient is on the same scale.
    let in_z = |t: &[f64]| -> Vec<f64> { t[1..].iter().zip(&scaler.std).map(|(w, s)| w * s).collect() };
    let diff = in_z(&ours).iter().zip(in_z(&exact)).map(|(a, e)| (a - e).abs()).fold(0.0, f64::max);
    writeln!(out, "largest weight difference in standardized units: {diff:.2e}")?;
    let gap = half_mse(&ours, train) - half_mse(&exact, train);
    writeln!(
        out,
        "training half-MSE: GD {:.6}, exact {:.6} (they differ by {:.0e})",
        half_mse(&ours, train),
        half_mse(&exact, train),
        gap.abs()
    )?;
    let rmse = |t: &Dataset, th: &[f64]| (2.0 * half_mse(th, t)).sqrt();
    writeln!(out, "test RMSE: GD + scaler {:.4}, exact {:.4}", rmse(test, &ours), rmse(test, &exact))?;
    Ok(out)
}

fn column(d: &Dataset, j: usize) -> Vec<f64> {
    d.x.data().iter().skip(j).step_by(d.n_features()).copied().collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt())
}

/// Short form of a stop reason: the sentence before the diagnosis.
fn short(r: &FitResult) -> String {
    r.stop.to_string().split("; ").next().unwrap_or_default().to_string()
}

/// Section 1: what the features look like, and what doctor says before any training.
fn scales(train: &Dataset) -> Res<String> {
    let mut out = String::new();
    writeln!(
        out,
        "diabetes (raw units), training split: {} rows, {} features",
        train.len(),
        train.n_features()
    )?;
    writeln!(out, "{:>8}  {:>9}  {:>9}  {:>9}  {:>9}", "feature", "mean", "std", "min", "max")?;
    for (j, name) in train.features.iter().enumerate() {
        let c = column(train, j);
        let (m, s) = mean_std(&c);
        let (lo, hi) = c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        writeln!(out, "{name:>8}  {m:>9.3}  {s:>9.3}  {lo:>9.3}  {hi:>9.3}")?;
    }
    let (m, s) = mean_std(train.y.data());
    writeln!(out, "{:>8}  {m:>9.3}  {s:>9.3}", train.target)?;
    Ok(out)
}

fn doctor_data(train: &Dataset) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: doctor
    let ctx = DataContext { loss: Some("half_mse".into()), ..DataContext::default() };
    let report = Report::new(check_data(train, &ctx));
    // ANCHOR_END: doctor
    writeln!(
        out,
        "doctor: diabetes training split: {} rows, {} features, target {:?} (regression)",
        train.len(),
        train.n_features(),
        train.target
    )?;
    write!(out, "{report}")?;
    Ok(out)
}

/// One run of the chapter: its name, the data it saw, and what it left.
struct Run {
    name: String,
    model: LinearRegression,
    params: Params<f64>,
    result: FitResult,
}

fn run_line(out: &mut String, r: &Run, test: &Dataset) -> Res<()> {
    let last = r.result.log.steps.last();
    let test_loss = dataset_loss(&r.model, &r.params, Loss::HalfMse, test)?;
    writeln!(out, "{}", r.name)?;
    writeln!(
        out,
        "  steps {:>3}, stop: {}\n  last step: loss {:.4e}, |grad| {:.4e}; test half-MSE {:.4e}",
        r.result.steps,
        short(&r.result),
        last.map_or(f64::NAN, |s| s.loss),
        last.map_or(f64::NAN, |s| s.grad_norm),
        test_loss
    )?;
    let bad =
        r.params.iter().map(|(_, _, t)| t.data().iter().filter(|v| !v.is_finite()).count()).sum::<usize>();
    let steps = &r.result.log.steps;
    if steps.len() > 250 && bad == 0 {
        let at: Vec<String> = [0, 5, 50, 499].iter().map(|&i| format!("{:.1}", steps[i].loss)).collect();
        writeln!(out, "  loss at steps 0, 5, 50, 499: {}", at.join(", "))?;
        let (a, z) = (steps[steps.len() - 250].loss, steps[steps.len() - 1].loss);
        writeln!(out, "  the loss fell {:.2} % over the last 250 steps", 100.0 * (a - z) / a)?;
    }
    if bad > 0 {
        writeln!(out, "  {bad} of the 11 parameters are NaN or infinite")?;
    }
    Ok(())
}

/// Runs everything.
pub fn chapter() -> Res<Chapter> {
    let (train, test) = data()?;
    let mut figures = Vec::new();
    let scales_txt = scales(&train)?;
    let doctor_txt = doctor_data(&train)?;

    // The bound and the two raw rates.
    let mut curv = String::new();
    let (l_raw, mu_raw) = curvature(&train);
    let bound = 2.0 / l_raw;
    writeln!(curv, "raw features: largest curvature L = {l_raw:.4e}, smallest {mu_raw:.4e}")?;
    writeln!(curv, "  stable for lr < 2/L = {bound:.4e}; condition number L/mu = {:.4e}", l_raw / mu_raw)?;

    // ANCHOR: raw_runs
    let (hi, lo) = (1e-4, 1e-5); // above 2/L, and ten times smaller (below it)
    let stopped = gd(&train, hi, STEPS, Guards::default())?;
    let no_jump = gd(&train, hi, STEPS, Guards { max_jump: None, ..Guards::default() })?;
    let stuck = gd(&train, lo, STEPS, Guards::default())?;
    // ANCHOR_END: raw_runs

    // ANCHOR: standardize
    let scaler = StandardScaler::fit(&train.x)?; // statistics of the training split only
    let train_z = Dataset { x: scaler.transform(&train.x)?, ..train.clone() };
    let test_z = Dataset { x: scaler.transform(&test.x)?, ..test.clone() };
    let (l_z, mu_z) = curvature(&train_z);
    let fixed = gd(&train_z, 0.1, STEPS, Guards::default())?;
    // ANCHOR_END: standardize
    writeln!(curv, "standardized: largest curvature L = {l_z:.4e}, smallest {mu_z:.4e}")?;
    writeln!(curv, "  stable for lr < 2/L = {:.4e}; condition number L/mu = {:.4e}", 2.0 / l_z, l_z / mu_z)?;

    let runs = [
        Run { name: format!("raw, lr {hi:e}"), model: stopped.0, params: stopped.1, result: stopped.2 },
        Run {
            name: format!("raw, lr {hi:e}, jump guard off"),
            model: no_jump.0,
            params: no_jump.1,
            result: no_jump.2,
        },
        Run { name: format!("raw, lr {lo:e}"), model: stuck.0, params: stuck.1, result: stuck.2 },
        Run { name: "standardized, lr 0.1".into(), model: fixed.0, params: fixed.1, result: fixed.2 },
    ];
    let mut runs_txt = String::new();
    let best = half_mse(&least_squares(&train), &train);
    writeln!(runs_txt, "least-squares optimum (normal equations): training half-MSE {best:.4e}")?;
    for (r, t) in runs.iter().zip([&test, &test, &test, &test_z]) {
        run_line(&mut runs_txt, r, t)?;
    }
    let mut guards_txt = String::new();
    for r in &runs[..2] {
        writeln!(guards_txt, "{}:\n  {}", r.name, r.result.stop)?;
    }

    // The doctor's run checks on each run.
    let mut runs_doc = String::new();
    for (r, d) in runs.iter().zip([&train, &train, &train, &train_z]) {
        let report = Report::new(check_run(&r.model, &r.params, Loss::HalfMse, &r.result, d)?);
        writeln!(runs_doc, "== {}", r.name)?;
        write!(runs_doc, "{report}")?;
    }

    // Figures: loss and gradient norm per step.
    // Each curve is drawn until it first passes `cap` (the diverging run goes on to overflow; a log
    // axis over hundreds of decades would flatten the other two).
    let series = |f: &dyn Fn(&downhill::train::log::StepRecord) -> f64, cap: f64| {
        runs[1..]
            .iter()
            .map(|r| {
                let ys: Vec<f64> = r.result.log.steps.iter().map(f).take_while(|v| *v <= cap).collect();
                Series::from_values(r.name.clone(), &ys)
            })
            .collect::<Vec<_>>()
    };
    figures.push((
        "loss.svg",
        LineChart {
            title: "Training loss per step (the diverging run until it passes 1e6)".into(),
            x_label: "step".into(),
            y_label: "training loss (log scale)".into(),
            log_x: false,
            log_y: true,
            series: series(&|s| s.loss, 1e6),
        }
        .to_svg()?,
    ));
    figures.push((
        "grad_norm.svg",
        LineChart {
            title: "Gradient norm per step (the diverging run until it passes 1e30)".into(),
            x_label: "step".into(),
            y_label: "|grad| (log scale)".into(),
            log_x: false,
            log_y: true,
            series: series(&|s| s.grad_norm, 1e30),
        }
        .to_svg()?,
    ));

    // The LR sweep on the raw features finds the same edge.
    let mut sweep_txt = String::new();
    // ANCHOR: sweep
    let cfg = SweepConfig {
        lr_min: 1e-7,
        lr_max: 1e-3,
        points: 9,
        steps: 200,
        fit: FitConfig { batch_size: usize::MAX, ..FitConfig::default() },
    };
    let sweep = lr_sweep(
        || {
            let mut p = Params::<f64>::new();
            Ok((LinearRegression::new(&mut p, "lin", 10)?, p))
        },
        |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
        Loss::HalfMse,
        &train,
        &cfg,
    )?;
    // ANCHOR_END: sweep
    writeln!(sweep_txt, "{:>9}  {:>12}  {:>5}  {:>10}  stable", "lr", "final loss", "steps", "stop")?;
    for p in &sweep.points {
        writeln!(
            sweep_txt,
            "{:>9.3e}  {:>12.4e}  {:>5}  {:>10}  {}",
            p.lr,
            p.final_loss,
            p.steps,
            p.stop.code(),
            p.stable
        )?;
    }
    writeln!(
        sweep_txt,
        "largest stable {:.3e}, suggested {:.3e}; doctor's 2/L = {bound:.3e}",
        sweep.largest_stable.unwrap_or(f64::NAN),
        sweep.suggested.unwrap_or(f64::NAN)
    )?;

    let texts = vec![
        ("scales.txt", scales_txt),
        ("doctor.txt", doctor_txt),
        ("curvature.txt", curv),
        ("runs.txt", runs_txt),
        ("guards.txt", guards_txt),
        ("doctor_runs.txt", runs_doc),
        ("sweep.txt", sweep_txt),
        ("checkpoint.txt", checkpoint(&train, &test)?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch08")
}

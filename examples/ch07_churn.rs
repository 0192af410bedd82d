//! Book, chapter 7 (case study): churn.
//!
//! ```sh
//! cargo run --release --example ch07_churn            # writes book/src/generated/ch07/
//! cargo run --release --example ch07_churn -- DIR     # or into DIR
//! ```
//!
//! Logistic regression on the synthetic churn data (`downhill::train::data::churn`: subscribers
//! with 12 features on their natural scales, 8.2 % churners; the variant with 8 correlated
//! interaction features) and the five diagnoses of the case study, each with what `doctor` says:
//! (1) unscaled features blow up the loss (NaN with the log-loss written from its formula), (2)
//! the learning-rate sweep, (3) MSE on 0/1 targets predicts outside [0, 1], (4) clipping inside
//! the log kills the gradient where the logits keep it, (5) correlated features slow plain
//! gradient descent while L-BFGS converges in tens of iterations, to the same weights as
//! Newton's method; and L-BFGS against scikit-learn's fit on the bundled breast-cancer data.
//! The course's full size is 200,000 rows (`cargo run --release --example churn_lbfgs`); this
//! example uses `ROWS` rows to stay fast. `tests/book_ch07.rs` checks the committed output.

use std::error::Error;
use std::fmt::Write as _;

use downhill::nn::{
    Init, L2, Linear, LinearRegression, LogisticRegression, Module, Sequential, Sigmoid, loss,
};
use downhill::optim::{Lbfgs, LbfgsConfig, LineSearch, Optimizer, Sgd, SgdConfig};
use downhill::prelude::{Grads, Params, Tape, Tensor, Var, seeded_rng};
use downhill::train::data::{CHURN_FEATURES, Dataset, StandardScaler, breast_cancer, churn};
use downhill::train::doctor::{DataContext, Report, check_data, check_predictions, check_run};
use downhill::train::fit::{FitConfig, Loss, fit};
use downhill::train::plot::{LineChart, Series};
use downhill::train::stop::{GuardState, Guards, StopReason};
use downhill::train::sweep::{SweepConfig, lr_sweep};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// Rows of churn data the chapter generates (the course's full size is 200,000).
pub const ROWS: usize = 20_000;
/// Seed of the churn generator (the same as `examples/churn_lbfgs.rs`).
pub const SEED: u64 = 7;
/// Plain gradient-descent steps shown on the correlated features.
const GD_STEPS: usize = 300;

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

// ANCHOR: standardize
/// The rows of `d` with every feature standardized (mean 0, standard deviation 1) by a
/// `StandardScaler` fitted on those rows.
fn standardize(d: &Dataset) -> Res<Dataset> {
    let scaler = StandardScaler::fit(&d.x)?;
    Ok(Dataset { x: scaler.transform(&d.x)?, ..d.clone() })
}
// ANCHOR_END: standardize

fn short(r: &StopReason) -> String {
    r.to_string().split("; ").next().unwrap_or_default().to_string()
}

fn doctor(out: &mut String, title: &str, findings: Vec<downhill::train::doctor::Finding>) -> Res<()> {
    writeln!(out, "doctor: {title}")?;
    write!(out, "{}", Report::new(findings))?;
    Ok(())
}

fn full_batch(epochs: u64) -> FitConfig {
    FitConfig { epochs, batch_size: usize::MAX, ..FitConfig::default() }
}

/// Section: the data, raw.
fn data_section(raw: &Dataset) -> Res<String> {
    let mut out = String::new();
    let rate = raw.y.data().iter().sum::<f64>() / raw.len() as f64;
    writeln!(
        out,
        "churn({ROWS}, seed {SEED}): {} rows, {} features, churn rate {rate:.4}",
        raw.len(),
        raw.n_features()
    )?;
    writeln!(out, "{:>26}  {:>9}  {:>9}  {:>9}", "feature", "mean", "std", "max")?;
    let p = raw.n_features();
    for (j, name) in raw.features.iter().enumerate() {
        let c: Vec<f64> = raw.x.data().iter().skip(j).step_by(p).copied().collect();
        let m = c.iter().sum::<f64>() / c.len() as f64;
        let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
        let hi = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        writeln!(out, "{name:>26}  {m:>9.3}  {s:>9.3}  {hi:>9.2}")?;
    }
    Ok(out)
}

// ANCHOR: naive
/// The log-loss typed in from its formula, on probabilities `p = σ(z)`:
/// `−mean(y·ln p + (1 − y)·ln(1 − p))`. No clip, no logits.
pub fn naive_log_loss<'t>(p: Var<'t, f64>, y: Var<'t, f64>) -> Var<'t, f64> {
    -(y * p.log() + (1.0 - y) * (1.0 - p).log()).mean()
}
// ANCHOR_END: naive

/// Diagnosis 1: unscaled features.
fn unscaled(raw: &Dataset) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: doctor_data
    // What `downhill doctor FILE --loss bce_with_logits` runs: check_data, ranked by Report.
    let ctx = DataContext { loss: Some("bce_with_logits".into()), ..DataContext::default() };
    let report = Report::new(check_data(raw, &ctx));
    // ANCHOR_END: doctor_data
    writeln!(out, "doctor: raw churn features, loss bce_with_logits")?;
    write!(out, "{report}")?;

    // ANCHOR: unscaled
    // The stable loss on logits, through the fit loop: full-batch gradient descent at lr 0.1.
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", raw.n_features())?;
    let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
    let run = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, raw, None, &full_batch(50))?;

    // The same model and rate with the log-loss typed in from its formula, in a loop of our own.
    let mut naive_params = Params::<f64>::new();
    let naive = LogisticRegression::new(&mut naive_params, "logreg", raw.n_features())?;
    let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
    let (guards, mut state) = (Guards::default(), GuardState::default());
    let mut naive_losses = Vec::new();
    let mut naive_stop = None;
    for step in 0..50 {
        let (value, grads) = {
            let tape = Tape::new();
            let p = naive.forward(&tape, &naive_params, tape.constant(&raw.x)).sigmoid();
            let l = naive_log_loss(p, tape.constant(&raw.y));
            (l.item()?, l.backward()?)
        };
        naive_losses.push(value);
        if let Some(reason) = guards.check(&mut state, step, value, 0.0, true) {
            naive_stop = Some(reason);
            break;
        }
        opt.step(&mut naive_params, &grads)?;
    }
    // ANCHOR_END: unscaled
    let losses: Vec<String> = run.log.steps.iter().map(|s| format!("{:.4}", s.loss)).collect();
    writeln!(out, "\nbce_with_logits, lr 0.1, raw: losses {}", losses.join(", "))?;
    writeln!(out, "  stopped: {}", run.stop)?;
    let losses: Vec<String> = naive_losses.iter().map(|l| format!("{l:.4}")).collect();
    writeln!(out, "log-loss from its formula, lr 0.1, raw: losses {}", losses.join(", "))?;
    if let Some(r) = &naive_stop {
        writeln!(out, "  stopped: {}", short(r))?;
    }
    // Why: the logits after the first step.
    let z = naive.predict(&naive_params, &raw.x)?;
    let (lo, hi) =
        z.data().iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let exact01 = z.data().iter().filter(|&&v| {
        let p = downhill::tensor::ops::unary::sigmoid(v);
        p == 0.0 || p == 1.0
    });
    writeln!(
        out,
        "  after one step the logits run from {lo:.4e} to {hi:.4e}; sigma is exactly 0 or 1 for {} of {} rows",
        exact01.count(),
        raw.len()
    )?;
    writeln!(out)?;
    doctor(&mut out, "the bce_with_logits run", check_run(&model, &params, Loss::BceWithLogits, &run, raw)?)?;
    Ok(out)
}

/// Diagnosis 2: the learning-rate sweep on the standardized features.
fn sweep(z: &Dataset, figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    let ctx =
        DataContext { loss: Some("bce_with_logits".into()), standardized: true, ..DataContext::default() };
    doctor(&mut out, "standardized churn features", check_data(z, &ctx))?;
    // ANCHOR: sweep
    let cfg = SweepConfig { lr_min: 1e-2, lr_max: 1e3, points: 11, steps: 40, fit: full_batch(1) };
    let p = z.n_features();
    let s = lr_sweep(
        || {
            let mut params = Params::<f64>::new();
            Ok((LogisticRegression::new(&mut params, "logreg", p)?, params))
        },
        |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
        Loss::BceWithLogits,
        z,
        &cfg,
    )?;
    // ANCHOR_END: sweep
    writeln!(
        out,
        "\nsweep: {} steps per rate from the same zero start, initial loss {:.6}",
        cfg.steps, s.initial_loss
    )?;
    writeln!(out, "{:>9}  {:>10}  {:>5}  {:>10}  stable", "lr", "final loss", "steps", "stop")?;
    for pt in &s.points {
        writeln!(
            out,
            "{:>9.3e}  {:>10.6}  {:>5}  {:>10}  {}",
            pt.lr,
            pt.final_loss,
            pt.steps,
            pt.stop.code(),
            pt.stable
        )?;
    }
    let f = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.3e}"));
    writeln!(
        out,
        "largest stable {}, suggested {}, lowest loss at {}",
        f(s.largest_stable),
        f(s.suggested),
        f(s.best_loss_lr)
    )?;
    figures.push(("sweep.svg", s.to_svg()?));
    Ok(out)
}

// ANCHOR: lbfgs
/// L-BFGS with the strong-Wolfe line search on a full-batch `objective`, run until the largest
/// gradient component is below 1e-9; returns the number of iterations.
fn lbfgs_fit<F>(params: &mut Params<f64>, objective: F) -> Res<u64>
where
    F: FnMut(&Params<f64>) -> downhill::prelude::Result<(f64, Grads<f64>)>,
{
    let mut opt = Lbfgs::new(LbfgsConfig {
        line_search: LineSearch::StrongWolfe,
        max_iter: 1000,
        tolerance_grad: 1e-9,
        tolerance_change: 1e-15,
        ..Default::default()
    })?;
    opt.step(params, objective)?;
    Ok(opt.iterations())
}
// ANCHOR_END: lbfgs

/// Diagnosis 3: MSE against log-loss on 0/1 targets.
fn mse_vs_logloss(z: &Dataset) -> Res<String> {
    let mut out = String::new();
    let ctx = DataContext { loss: Some("mse".into()), standardized: true, ..DataContext::default() };
    let mismatch: Vec<_> =
        check_data(z, &ctx).into_iter().filter(|f| f.code == "loss-task-mismatch").collect();
    doctor(&mut out, "the data, with --loss mse (the new finding only)", mismatch)?;
    // ANCHOR: mse
    let p = z.n_features();
    let (x, y) = (&z.x, &z.y);
    // A linear regression on the 0/1 target with MSE, and a logistic regression with the
    // log-loss on logits, both fitted to their optimum by L-BFGS.
    let mut lin_params = Params::<f64>::new();
    let lin = LinearRegression::new(&mut lin_params, "lin", p)?;
    lbfgs_fit(&mut lin_params, |q| {
        let tape = Tape::new();
        let l = loss::mse_loss(lin.forward(&tape, q, tape.constant(x)), tape.constant(y));
        Ok((l.item()?, l.backward()?))
    })?;
    let mut log_params = Params::<f64>::new();
    let logreg = LogisticRegression::new(&mut log_params, "logreg", p)?;
    lbfgs_fit(&mut log_params, |q| {
        let tape = Tape::new();
        let l = loss::bce_with_logits_loss(logreg.forward(&tape, q, tape.constant(x)), tape.constant(y));
        Ok((l.item()?, l.backward()?))
    })?;
    let mse_pred = lin.predict(&lin_params, x)?; // values, read as probabilities
    let tape = Tape::new();
    let prob = logreg.predict_proba(&tape, &log_params, tape.constant(x)).value()?;
    // ANCHOR_END: mse
    for (name, pred) in [("MSE (linear regression)", &mse_pred), ("log-loss (logistic regression)", &prob)] {
        let d = pred.data();
        let (lo, hi) = d.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let below = d.iter().filter(|&&v| v < 0.0).count();
        let above = d.iter().filter(|&&v| v > 1.0).count();
        writeln!(out, "{name}: predictions from {lo:.4} to {hi:.4}; {below} below 0, {above} above 1")?;
    }
    // How the two rank the churners: the share of true churners among the 1,000 highest scores.
    for (name, pred) in [("MSE", &mse_pred), ("log-loss", &prob)] {
        let mut idx: Vec<usize> = (0..z.len()).collect();
        idx.sort_by(|&a, &b| pred.data()[b].total_cmp(&pred.data()[a]).then(a.cmp(&b)));
        let hits = idx[..1000].iter().filter(|&&i| y.data()[i] == 1.0).count();
        writeln!(out, "{name}: {hits} churners among the 1000 highest scores")?;
    }
    writeln!(out)?;
    doctor(&mut out, "the MSE model's predictions", check_predictions(&lin, &lin_params, z, Loss::Mse)?)?;
    doctor(
        &mut out,
        "the logistic model's predictions",
        check_predictions(&logreg, &log_params, z, Loss::BceWithLogits)?,
    )?;
    Ok(out)
}

/// Diagnosis 4: clipping inside the log.
fn clipping(raw: &Dataset) -> Res<String> {
    let mut out = String::new();
    writeln!(
        out,
        "{:>2}  {:>5}  {:>10}  {:>18}  {:>18}",
        "y", "logit", "formula", "bce (clip 1e-7)", "bce_with_logits"
    )?;
    writeln!(
        out,
        "{:>2}  {:>5}  {:>10}  {:>8}  {:>8}  {:>8}  {:>8}",
        "", "z", "loss", "loss", "d/dz", "loss", "d/dz"
    )?;
    for (y, z) in [(1.0, 2.0), (0.0, 2.0), (0.0, 20.0), (0.0, 40.0), (1.0, 40.0), (1.0, -40.0)] {
        // ANCHOR: clip
        let mut params = Params::<f64>::new();
        let zid = params.insert("z", Tensor::from_vec(vec![z], [1, 1])?)?;
        let target = Tensor::from_vec(vec![y], [1, 1])?;
        let tape = Tape::new();
        let (logit, t) = (tape.param(&params, zid), tape.constant(&target));
        let formula = naive_log_loss(logit.sigmoid(), t).item()?;
        let clipped = loss::bce_loss(logit.sigmoid(), t); // clamps p to [1e-7, 1 − 1e-7]
        let stable = loss::bce_with_logits_loss(logit, t); // softplus(z) − y·z
        let grad = |l: Var<'_, f64>| -> Res<f64> { Ok(l.backward()?.try_get(zid)?.data()[0]) };
        let (clip_l, clip_g, stable_l, stable_g) =
            (clipped.item()?, grad(clipped)?, stable.item()?, grad(stable)?);
        // ANCHOR_END: clip
        writeln!(
            out,
            "{y:>2}  {z:>5}  {formula:>10.4}  {clip_l:>8.4}  {clip_g:>8.4}  {stable_l:>8.4}  {stable_g:>8.4}"
        )?;
    }

    // ANCHOR: clip_run
    // A model that outputs probabilities (a sigmoid last), trained on the clipped BCE, raw features.
    let mut params = Params::<f64>::new();
    let net = Sequential::new()
        .with(Linear::new(&mut params, "fc", raw.n_features(), 1, Init::Zeros, &mut seeded_rng(0))?)
        .with(Sigmoid);
    let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
    let run = fit(&net, &mut params, &mut opt, Loss::Bce, raw, None, &full_batch(20))?;
    // ANCHOR_END: clip_run
    let losses: Vec<String> = run.log.steps.iter().take(6).map(|s| format!("{:.4}", s.loss)).collect();
    let grads: Vec<String> = run.log.steps.iter().take(6).map(|s| format!("{:.3e}", s.grad_norm)).collect();
    writeln!(
        out,
        "\nsigmoid + bce (clipped), lr 0.1, raw features, {} steps: {}",
        run.steps,
        short(&run.stop)
    )?;
    writeln!(out, "  first losses     {}", losses.join(", "))?;
    writeln!(out, "  gradient norms   {}", grads.join(", "))?;
    let last = run.log.steps.last().map_or(f64::NAN, |s| s.loss);
    writeln!(out, "  loss at the last step {last:.4}")?;
    writeln!(out)?;
    doctor(&mut out, "that run", check_run(&net, &params, Loss::Bce, &run, raw)?)?;
    Ok(out)
}

/// The optimum of the mean log-loss of a logistic regression on `[1, x]`, by Newton's method:
/// `θ ← θ − H⁻¹g` with `g = Zᵀ(σ − y)/n` and `H = Zᵀ diag(σ(1 − σ)) Z / n`. Returns `[b, w...]`.
pub fn newton(d: &Dataset, iters: usize) -> Vec<f64> {
    let (n, p) = (d.len(), d.n_features());
    let q = p + 1;
    let mut theta = vec![0.0; q];
    for _ in 0..iters {
        let mut a = vec![0.0; q * (q + 1)]; // [H | g]
        for (row, &y) in d.x.data().chunks_exact(p).zip(d.y.data()) {
            let zr: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
            let s =
                downhill::tensor::ops::unary::sigmoid(zr.iter().zip(&theta).map(|(a, b)| a * b).sum::<f64>());
            let wgt = s * (1.0 - s);
            for i in 0..q {
                for j in 0..q {
                    a[i * (q + 1) + j] += wgt * zr[i] * zr[j] / n as f64;
                }
                a[i * (q + 1) + q] += (s - y) * zr[i] / n as f64;
            }
        }
        let step = solve(a, q);
        theta.iter_mut().zip(&step).for_each(|(t, s)| *t -= s);
    }
    theta
}

/// Solves the `q × q` system in the augmented row-major matrix `[A | b]` (partial pivoting).
fn solve(mut a: Vec<f64>, q: usize) -> Vec<f64> {
    let w = q + 1;
    for c in 0..q {
        let piv = (c..q).max_by(|&i, &j| a[i * w + c].abs().total_cmp(&a[j * w + c].abs())).unwrap_or(c);
        for k in 0..w {
            a.swap(c * w + k, piv * w + k);
        }
        for i in c + 1..q {
            let f = a[i * w + c] / a[c * w + c];
            for k in c..w {
                a[i * w + k] -= f * a[c * w + k];
            }
        }
    }
    let mut x = vec![0.0; q];
    for i in (0..q).rev() {
        let s: f64 = (i + 1..q).map(|k| a[i * w + k] * x[k]).sum();
        x[i] = (a[i * w + q] - s) / a[i * w + i];
    }
    x
}

/// `[b, w...]` of a logistic regression's parameters.
fn coefs(model: &LogisticRegression, params: &Params<f64>) -> Vec<f64> {
    let b = model.linear().bias().map_or(0.0, |id| params.get(id).data()[0]);
    std::iter::once(b).chain(params.get(model.linear().weight()).data().iter().copied()).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Mean log-loss of `[b, w...]` on `d`, in plain f64.
fn log_loss(theta: &[f64], d: &Dataset) -> f64 {
    let p = d.n_features();
    let rows = d.x.data().chunks_exact(p).zip(d.y.data());
    let sum: f64 = rows
        .map(|(r, &y)| {
            let z = theta[0] + r.iter().zip(&theta[1..]).map(|(a, b)| a * b).sum::<f64>();
            z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z
        })
        .sum();
    sum / d.len() as f64
}

/// Largest |component| of the gradient of the mean log-loss at `[b, w...]`, in plain f64.
fn grad_max(theta: &[f64], d: &Dataset) -> f64 {
    let p = d.n_features();
    let mut g = vec![0.0; p + 1];
    for (row, &y) in d.x.data().chunks_exact(p).zip(d.y.data()) {
        let z = theta[0] + row.iter().zip(&theta[1..]).map(|(a, b)| a * b).sum::<f64>();
        let r = downhill::tensor::ops::unary::sigmoid(z) - y;
        g[0] += r / d.len() as f64;
        for (gj, x) in g[1..].iter_mut().zip(row) {
            *gj += r * x / d.len() as f64;
        }
    }
    g.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// One dataset's race: the optimum, and the loss after every L-BFGS iteration and GD step.
struct Race {
    exact: Vec<f64>,
    best: f64,
    lbfgs_loss: Vec<f64>,
    lbfgs_coefs: Vec<f64>,
    gd_loss: Vec<f64>,
    gd_coefs: Vec<f64>,
}

fn race(d: &Dataset, lbfgs_iters: usize) -> Res<Race> {
    let exact = newton(d, 12);
    let best = log_loss(&exact, d);
    // ANCHOR: race
    let (x, y) = (&d.x, &d.y);
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", d.n_features())?;
    let objective = |q: &Params<f64>| -> downhill::prelude::Result<(f64, Grads<f64>)> {
        let tape = Tape::new();
        let l = loss::bce_with_logits_loss(model.forward(&tape, q, tape.constant(x)), tape.constant(y));
        Ok((l.item()?, l.backward()?))
    };
    let start = params.clone();
    // L-BFGS, one iteration per call (its history carries over), recording the loss.
    let mut lbfgs =
        Lbfgs::new(LbfgsConfig { line_search: LineSearch::StrongWolfe, max_iter: 1, ..Default::default() })?;
    let mut lbfgs_loss = vec![objective(&params)?.0];
    while lbfgs_loss.len() <= lbfgs_iters {
        lbfgs.step(&mut params, objective)?;
        lbfgs_loss.push(objective(&params)?.0);
    }
    // Plain gradient descent at lr 1.0 from the same start.
    let mut gd_params = start;
    let mut gd = Sgd::new(SgdConfig::lr(1.0))?;
    let mut gd_loss = Vec::new();
    for _ in 0..=GD_STEPS {
        let (l, g) = objective(&gd_params)?;
        gd_loss.push(l);
        gd.step(&mut gd_params, &g)?;
    }
    // ANCHOR_END: race
    let (lbfgs_coefs, gd_coefs) = (coefs(&model, &params), coefs(&model, &gd_params));
    Ok(Race { exact, best, lbfgs_loss, lbfgs_coefs, gd_loss, gd_coefs })
}

/// Diagnosis 5: correlated features; L-BFGS against plain gradient descent; the weights.
fn correlated(z: &Dataset, figures: &mut Vec<(&'static str, String)>) -> Res<(String, String)> {
    let mut out = String::new();
    let mut weights = String::new();
    // ANCHOR: wide
    let wide = standardize(&churn(ROWS, SEED, true)?)?; // the 12 features + 8 derived from them
    // ANCHOR_END: wide
    let ctx =
        DataContext { loss: Some("bce_with_logits".into()), standardized: true, ..DataContext::default() };
    let findings: Vec<_> = check_data(&wide, &ctx)
        .into_iter()
        .filter(|f| matches!(f.code, "correlated-features" | "condition-number"))
        .collect();
    doctor(
        &mut out,
        "churn with the 8 interaction features, standardized (the new findings only)",
        findings,
    )?;
    let narrow = race(z, 40)?;
    let broad = race(&wide, 60)?;
    writeln!(out)?;
    for (name, r, d) in [("12 features", &narrow, z), ("20 features", &broad, &wide)] {
        writeln!(
            out,
            "{name}: optimum (Newton's method, 12 iterations) mean log-loss {:.9}, max |gradient| {:.1e}",
            r.best,
            grad_max(&r.exact, d)
        )?;
    }
    let within = |ls: &[f64], best: f64, tol: f64| ls.iter().position(|l| l - best < tol);
    let show = |v: Option<usize>, cap: usize| v.map_or(format!("> {cap}"), |k| k.to_string());
    writeln!(
        out,
        "\n{:>38}  {:>6}  {:>6}  {:>6}  {:>6}",
        "iterations to within", "1e-2", "1e-4", "1e-5", "1e-6"
    )?;
    for (name, r) in [("12 features", &narrow), ("20 features", &broad)] {
        for (opt, ls) in [("L-BFGS", &r.lbfgs_loss), ("gradient descent, lr 1.0", &r.gd_loss)] {
            let c: Vec<String> =
                [1e-2, 1e-4, 1e-5, 1e-6].iter().map(|&t| show(within(ls, r.best, t), ls.len() - 1)).collect();
            writeln!(
                out,
                "{:>38}  {:>6}  {:>6}  {:>6}  {:>6}",
                format!("{name}, {opt}"),
                c[0],
                c[1],
                c[2],
                c[3]
            )?;
        }
    }
    for (name, r) in [("12 features", &narrow), ("20 features", &broad)] {
        writeln!(
            out,
            "{name}: after {GD_STEPS} steps gradient descent is {:.2e} above the optimum, L-BFGS after {} iterations {:.2e}",
            r.gd_loss[GD_STEPS] - r.best,
            r.lbfgs_loss.len() - 1,
            r.lbfgs_loss[r.lbfgs_loss.len() - 1] - r.best
        )?;
    }

    // The weights against Newton's.
    writeln!(weights, "largest |weight difference| from Newton's optimum (standardized units)")?;
    for (name, r) in [("12 features", &narrow), ("20 features", &broad)] {
        writeln!(
            weights,
            "  {name}: L-BFGS {:.2e}, gradient descent {:.2e}",
            max_diff(&r.lbfgs_coefs, &r.exact),
            max_diff(&r.gd_coefs, &r.exact)
        )?;
    }
    writeln!(weights, "20 features, two of the near-duplicate pairs:")?;
    writeln!(weights, "{:>24}  {:>10}  {:>10}  {:>10}", "", "Newton", "L-BFGS", "GD")?;
    let col = |name: &str| wide.features.iter().position(|f| f == name).map_or(0, |j| j + 1);
    for (a, b) in [("account_age_days", "account_age_months"), ("usage_hours_30d", "usage_minutes_30d")] {
        let (ja, jb) = (col(a), col(b));
        // Each row picks (i, j) from [b, w...]: one weight (i = j) or the sum of the pair.
        for (label, i, j) in [(a, ja, ja), (b, jb, jb), ("sum", ja, jb)] {
            let f = |t: &[f64]| if i == j { t[i] } else { t[i] + t[j] };
            let r = &broad;
            writeln!(
                weights,
                "{label:>24}  {:>10.4}  {:>10.4}  {:>10.4}",
                f(&r.exact),
                f(&r.lbfgs_coefs),
                f(&r.gd_coefs)
            )?;
        }
    }
    let logits = |t: &[f64]| -> Vec<f64> {
        let p = wide.n_features();
        wide.x
            .data()
            .chunks_exact(p)
            .map(|r| t[0] + r.iter().zip(&t[1..]).map(|(a, b)| a * b).sum::<f64>())
            .collect()
    };
    let (ln, ll) = (logits(&broad.exact), logits(&broad.lbfgs_coefs));
    writeln!(
        weights,
        "largest |logit difference| over the {ROWS} rows, L-BFGS vs Newton: {:.2e}",
        max_diff(&ll, &ln)
    )?;

    let gap = |ls: &[f64], best: f64| ls.iter().map(|l| (l - best).max(1e-12)).collect::<Vec<_>>();
    figures.push((
        "race.svg",
        LineChart {
            title: "Loss above the optimum, 12 and 20 (correlated) features".into(),
            x_label: "iteration (L-BFGS) or step (gradient descent)".into(),
            y_label: "loss - optimum (log scale)".into(),
            log_x: false,
            log_y: true,
            series: vec![
                Series::from_values("L-BFGS, 20 features", &gap(&broad.lbfgs_loss, broad.best)),
                Series::from_values("gradient descent, 20 features", &gap(&broad.gd_loss, broad.best)),
                Series::from_values("gradient descent, 12 features", &gap(&narrow.gd_loss, narrow.best)),
            ],
        }
        .to_svg()?,
    ));
    Ok((out, weights))
}

/// Reads `"key": [numbers]` or `"key": number` from the part of `json` after `after`.
fn json_numbers(json: &str, after: &str, key: &str) -> Vec<f64> {
    let tail = json.find(after).map_or("", |i| &json[i..]);
    let Some(k) = tail.find(&format!("\"{key}\":")) else { return Vec::new() };
    let rest = tail[k + key.len() + 3..].trim_start();
    let end = if rest.starts_with('[') {
        rest.find(']').map_or(0, |e| e + 1)
    } else {
        rest.find([',', '\n', '}']).unwrap_or(0)
    };
    rest[..end]
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The weights against scikit-learn's, on the bundled breast-cancer data (the committed fixture).
fn sklearn(weights: &mut String) -> Res<()> {
    // ANCHOR: sklearn
    // scikit-learn's LogisticRegression(C=1.0, tol=1e-12) on the same data, from the fixture that
    // crates/optim/tests/fixtures/make_sklearn_logreg.py wrote (scikit-learn is not needed here).
    let fixture = include_str!("../crates/optim/tests/fixtures/sklearn_logreg.json");
    let cancer = standardize(&breast_cancer()?)?; // mean and population std, as the script does
    let n = cancer.len() as f64;
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", cancer.n_features())?;
    let l2 = L2::new(1.0 / (1.0 * n)); // scikit-learn's C = 1 on a mean loss: λ = 1/(C·n)
    let iters = lbfgs_fit(&mut params, |q| {
        let tape = Tape::new();
        let pred = model.forward(&tape, q, tape.constant(&cancer.x));
        let l = loss::bce_with_logits_loss(pred, tape.constant(&cancer.y)) + l2.penalty(&tape, q);
        Ok((l.item()?, l.backward()?))
    })?;
    // ANCHOR_END: sklearn
    let sk_b = json_numbers(fixture, "\"tight\"", "intercept");
    let sk_w = json_numbers(fixture, "\"tight\"", "coef");
    let sk: Vec<f64> = sk_b.iter().chain(&sk_w).copied().collect();
    let ours = coefs(&model, &params);
    writeln!(
        weights,
        "\nbreast cancer, 30 standardized features, L2 with C = 1 ({} weights + intercept)",
        sk_w.len()
    )?;
    writeln!(weights, "  L-BFGS: {iters} iterations")?;
    writeln!(weights, "  largest |weight difference| from scikit-learn's fit: {:.2e}", max_diff(&ours, &sk))?;
    let worst = ours
        .iter()
        .zip(&sk)
        .enumerate()
        .max_by(|a, b| (a.1.0 - a.1.1).abs().total_cmp(&(b.1.0 - b.1.1).abs()));
    if let Some((i, (o, s))) = worst {
        let name = if i == 0 { "intercept".to_string() } else { cancer.features[i - 1].clone() };
        writeln!(weights, "  (at {name}: ours {o:.6}, scikit-learn {s:.6})")?;
    }
    Ok(())
}

/// The checkpoint: the fitted weights against the generator's coefficients.
fn checkpoint(z: &Dataset) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", z.n_features())?;
    let iters = lbfgs_fit(&mut params, |q| {
        let tape = Tape::new();
        let l = loss::bce_with_logits_loss(model.forward(&tape, q, tape.constant(&z.x)), tape.constant(&z.y));
        Ok((l.item()?, l.backward()?))
    })?;
    let w = params.get(model.linear().weight()).data().to_vec();
    // ANCHOR_END: checkpoint
    writeln!(out, "churn({ROWS}, seed {SEED}), 12 standardized features: L-BFGS {iters} iterations")?;
    writeln!(out, "{:>26}  {:>9}  {:>9}  {:>6}", "feature", "fitted", "generator", "ratio")?;
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| CHURN_FEATURES[b].1.abs().total_cmp(&CHURN_FEATURES[a].1.abs()).then(a.cmp(&b)));
    for j in order {
        let (name, truth) = CHURN_FEATURES[j];
        writeln!(out, "{name:>26}  {:>9.4}  {truth:>9.2}  {:>6.3}", w[j], w[j] / truth)?;
    }
    let same_sign = w.iter().zip(CHURN_FEATURES).all(|(a, (_, t))| a.signum() == t.signum());
    writeln!(out, "every sign matches the generator: {same_sign}")?;
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    // ANCHOR: data
    let raw = churn(ROWS, SEED, false)?; // 12 features on their natural scales
    let z = standardize(&raw)?; // StandardScaler: mean 0, std 1 per feature
    // ANCHOR_END: data
    let (race, mut weights) = correlated(&z, &mut figures)?;
    sklearn(&mut weights)?;
    let texts = vec![
        ("data.txt", data_section(&raw)?),
        ("unscaled.txt", unscaled(&raw)?),
        ("sweep.txt", sweep(&z, &mut figures)?),
        ("mse.txt", mse_vs_logloss(&z)?),
        ("clipping.txt", clipping(&raw)?),
        ("correlated.txt", race),
        ("weights.txt", weights),
        ("checkpoint.txt", checkpoint(&z)?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch07")
}

//! Book, chapter 4: conditioning, scaling, regularization.
//!
//! ```sh
//! cargo run --release --example ch04_conditioning            # writes book/src/generated/ch04/
//! cargo run --release --example ch04_conditioning -- DIR     # or into DIR
//! ```
//!
//! Gradient descent on bowls of chosen condition number κ (steps to a tolerance against the
//! theory's (κ − 1)/(κ + 1) contraction, and the zig-zag); the raw diabetes regression against
//! the standardized one (doctor's findings, the guard that stops the raw run, loss curves, the
//! residual plot); an L2 sweep that shrinks the weights and leaves the bias alone; global-norm
//! clipping on Rosenbrock from a steep start; the saddle `x² − y²` and the flat `x⁴ + y⁴`.
//! Everything it prints is also written, section by section, as text files next to the SVG
//! figures; `tests/book_ch04.rs` checks that the committed copies are up to date.

use std::error::Error;
use std::fmt::Write as _;

use downhill::nn::loss::half_mse_loss;
use downhill::nn::{L2, LinearRegression};
use downhill::optim::{Clip, Optimizer, Sgd, SgdConfig};
use downhill::prelude::{Params, Tape, Tensor};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, diabetes_raw};
use downhill::train::doctor::{DataContext, Report, check_data, symmetric_eigenvalues};
use downhill::train::fit::{FitConfig, FitResult, Loss, fit};
use downhill::train::plot::{ContourChart, LineChart, Series, residual_svg};
use downhill::train::progress::ProgressMode;
use downhill::train::report::evaluate;
use downhill::train::stop::{GuardState, Guards, StopReason};
use downhill::train::surfaces::Surface;

type Res<T> = std::result::Result<T, Box<dyn Error>>;

// ANCHOR: run
/// What one run of gradient descent leaves behind, one entry per step.
#[derive(Debug, Default)]
pub struct Run {
    /// The point before each step.
    pub points: Vec<Vec<f64>>,
    /// f at that point.
    pub loss: Vec<f64>,
    /// ‖∇f‖ at that point, before any clipping.
    pub grad_norm: Vec<f64>,
    /// Why a guard stopped the run, if one did.
    pub stop: Option<StopReason>,
}

/// Gradient descent with rate `lr` from `start` on `surface`, clipping the gradient with `clip`,
/// for at most `steps` steps, or until `done(point, f)` says the run has arrived.
pub fn descend(
    surface: Surface,
    start: &[f64],
    lr: f64,
    clip: Clip,
    steps: usize,
    done: impl Fn(&[f64], f64) -> bool,
) -> Res<Run> {
    let mut params = Params::new();
    let v = params.insert("v", Tensor::vector(start))?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?.with_clip(clip)?;
    let (guards, mut guard_state) = (Guards::default(), GuardState::default());
    let mut run = Run::default();
    let mut tape = Tape::new();
    for step in 0..=steps {
        let f = surface.eval(tape.param(&params, v));
        let loss = f.item()?;
        run.points.push(params.get(v).data().to_vec());
        run.loss.push(loss);
        if let Some(reason) = guards.check(&mut guard_state, step as u64, loss, 0.0, true) {
            run.stop = Some(reason);
            break;
        }
        if step == steps || done(params.get(v).data(), loss) {
            break;
        }
        let grads = f.backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?; // clips a copy of the gradient, then v ← v − lr·g
        run.grad_norm.push(opt.last_grad_norm().unwrap_or(f64::NAN)); // the norm before clipping
    }
    Ok(run)
}
// ANCHOR_END: run

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

type Figures = Vec<(&'static str, String)>;

/// κ, ρ, the predicted steps, and the measured steps at the best rate and at 1/L.
type KappaRow = (f64, f64, f64, usize, usize);

fn norm(p: &[f64]) -> f64 {
    p.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn point(p: &[f64]) -> String {
    let xs: Vec<String> = p.iter().map(|x| format!("{x:.6}")).collect();
    format!("({})", xs.join(", "))
}

/// Section 1: steps to shrink the distance to the minimum a millionfold, against κ.
fn kappa(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: kappa
    let start = [1.0, 1.0];
    let tol = 1e-6;
    let arrived = |p: &[f64], _f: f64| norm(p) <= tol * norm(&start);
    let mut rows = Vec::new();
    for kappa in [1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 300.0, 1000.0] {
        let surface = Surface::Conditioned { kappa };
        // Curvatures μ = 1 and L = κ. The best fixed rate 2/(L + μ) shrinks both directions by
        // ρ = (κ − 1)/(κ + 1) per step; the common choice 1/L shrinks the flat one by 1 − 1/κ.
        let best = descend(surface, &start, 2.0 / (kappa + 1.0), Clip::None, 100_000, arrived)?;
        let one_over_l = descend(surface, &start, 1.0 / kappa, Clip::None, 100_000, arrived)?;
        let rho: f64 = (kappa - 1.0) / (kappa + 1.0);
        let theory = if rho == 0.0 { 1.0 } else { (tol.ln() / rho.ln()).ceil() };
        rows.push((kappa, rho, theory, best.loss.len() - 1, one_over_l.loss.len() - 1));
    }
    // ANCHOR_END: kappa
    writeln!(out, "(x^2 + kappa y^2)/2 from (1, 1): steps until |theta| <= 1e-6 |theta_0|")?;
    writeln!(
        out,
        "{:>6}  {:>9}  {:>14}  {:>14}  {:>11}  {:>9}",
        "kappa", "rho", "theory ln/ln", "lr 2/(L+mu)", "lr 1/L", "ratio"
    )?;
    for &(k, rho, theory, best, one) in &rows {
        writeln!(
            out,
            "{k:>6}  {rho:>9.6}  {theory:>14}  {best:>14}  {one:>11}  {:>9.2}",
            one as f64 / best as f64
        )?;
    }
    let pts = |f: &dyn Fn(&KappaRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter().filter(|r| r.0 > 1.0).map(|r| (r.0, f(r))).collect()
    };
    let chart = LineChart {
        title: "Steps to shrink the error 10^6 times against the condition number".into(),
        x_label: "condition number kappa (log scale)".into(),
        y_label: "steps (log scale)".into(),
        log_x: true,
        log_y: true,
        series: vec![
            Series::new("theory: ln(1e-6) / ln((k-1)/(k+1))", pts(&|r| r.2)),
            Series::new("measured, lr 2/(L+mu)", pts(&|r| r.3 as f64)),
            Series::new("measured, lr 1/L", pts(&|r| r.4 as f64)),
        ],
    };
    figures.push(("kappa_steps.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 2: the zig-zag on a bowl with κ = 10.
fn zigzag(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let kappa = 10.0;
    let surface = Surface::Conditioned { kappa };
    let start = [-8.0, 1.5];
    writeln!(out, "(x^2 + 10 y^2)/2 from (-8, 1.5), 30 steps; L = 10, mu = 1, bound 2/L = 0.2")?;
    writeln!(
        out,
        "{:>7}  {:>10}  {:>10}  {:>24}  {:>10}",
        "lr", "x factor", "y factor", "point after", "f after"
    )?;
    let mut paths = Vec::new();
    for lr in [0.1, 2.0 / 11.0, 0.19] {
        let run = descend(surface, &start, lr, Clip::None, 30, |_, _| false)?;
        let p = run.points.last().cloned().unwrap_or_default();
        let f = run.loss.last().copied().unwrap_or(f64::NAN);
        writeln!(
            out,
            "{lr:>7.4}  {:>10.4}  {:>10.4}  {:>24}  {f:>10.3e}",
            1.0 - lr,
            1.0 - lr * kappa,
            point(&p)
        )?;
        let name = if lr == 0.1 { "lr 0.1 = 1/L".to_string() } else { format!("lr {lr:.4}") };
        paths.push(Series::new(name, run.points.iter().take(16).map(|p| (p[0], p[1])).collect()));
    }
    let f = |x: f64, y: f64| 0.5 * (x * x + kappa * y * y);
    let contour = ContourChart {
        title: "(x^2 + 10 y^2)/2: the first 15 steps from (-8, 1.5)".into(),
        f: &f,
        x: (-9.0, 2.0),
        y: (-2.0, 2.0),
        levels: 14,
        paths,
    };
    figures.push(("zigzag.svg", contour.to_svg()?));
    Ok(out)
}

/// Full-batch gradient descent on half-MSE for `steps` steps at rate `lr`, with an optional L2.
fn gd(
    train: &Dataset,
    lr: f64,
    steps: u64,
    l2: Option<L2>,
) -> Res<(LinearRegression, Params<f64>, FitResult)> {
    let mut params = Params::new();
    let model = LinearRegression::new(&mut params, "lin", train.n_features())?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?;
    let cfg = FitConfig {
        epochs: steps,
        batch_size: usize::MAX, // every row in every step: plain gradient descent
        l2,
        progress: ProgressMode::Never,
        ..FitConfig::default()
    };
    let result = fit(&model, &mut params, &mut opt, Loss::HalfMse, train, None, &cfg)?;
    Ok((model, params, result))
}

fn step_losses(r: &FitResult) -> Vec<f64> {
    r.log.steps.iter().map(|s| s.loss).collect()
}

/// The diabetes data, split 80/20 (seed 0), and the same split standardized with a scaler fitted
/// on the training rows only.
fn diabetes() -> Res<(Dataset, Dataset, Dataset, Dataset)> {
    // ANCHOR: standardize
    let data = diabetes_raw()?;
    let (train, _, test) = data.split(&SplitOptions { test: 0.2, seed: 0, ..SplitOptions::default() })?;
    let scaler = StandardScaler::fit(&train.x)?; // statistics of the training rows only
    let train_z = Dataset { x: scaler.transform(&train.x)?, ..train.clone() };
    let test_z = Dataset { x: scaler.transform(&test.x)?, ..test.clone() };
    // ANCHOR_END: standardize
    Ok((train, test, train_z, test_z))
}

/// The largest and the smallest curvature of half-MSE on [1, x]: the extreme eigenvalues of
/// [1, x]ᵀ[1, x]/n (of xᵀx/n, the weights' block, without `bias`).
fn curvatures_of(d: &Dataset, bias: bool) -> (f64, f64) {
    let (n, p) = (d.len(), d.n_features());
    let q = p + usize::from(bias);
    let mut h = vec![0.0; q * q];
    for row in d.x.data().chunks_exact(p) {
        let one = if bias { Some(1.0) } else { None };
        let z: Vec<f64> = one.into_iter().chain(row.iter().copied()).collect();
        for a in 0..q {
            for b in 0..q {
                h[a * q + b] += z[a] * z[b] / n as f64;
            }
        }
    }
    let ev = symmetric_eigenvalues(&h, q);
    (ev[q - 1], ev[0])
}

fn curvatures(d: &Dataset) -> (f64, f64) {
    curvatures_of(d, true)
}

/// Section 3: what doctor says about the raw diabetes features, and about the standardized ones.
fn doctor() -> Res<String> {
    let mut out = String::new();
    let (train, _, train_z, _) = diabetes()?;
    // ANCHOR: doctor
    let ctx = DataContext { loss: Some("half_mse".into()), ..DataContext::default() };
    let raw = Report::new(check_data(&train, &ctx));
    // ANCHOR_END: doctor
    for code in ["feature-scale", "max-stable-lr"] {
        if let Some(f) = raw.find(code) {
            writeln!(out, "raw, {code}: {}", f.title)?;
            writeln!(out, "  {}", f.detail)?;
        }
    }
    let scaler = StandardScaler::fit(&train.x)?;
    writeln!(out, "training rows: feature means and standard deviations")?;
    for (j, name) in train.features.iter().enumerate() {
        writeln!(out, "  {name:>4}  mean {:>8.3}  std {:>7.3}", scaler.mean[j], scaler.std[j])?;
    }
    let z = Report::new(check_data(&train_z, &ctx));
    let found: Vec<&str> =
        ["feature-scale", "max-stable-lr"].into_iter().filter(|c| z.find(c).is_some()).collect();
    writeln!(out, "standardized: feature-scale or max-stable-lr findings: {found:?}")?;
    for (name, d) in [("raw", &train), ("standardized", &train_z)] {
        let (l, mu) = curvatures(d);
        writeln!(
            out,
            "{name:>12}: curvatures of half-MSE on [1, x] from {mu:.3e} to {l:.3e}: kappa = {:.3e}, 2/L = {:.3e}",
            l / mu,
            2.0 / l
        )?;
    }
    Ok(out)
}

// ANCHOR: lstsq
/// Gradient descent on the half-MSE of `ŷ = x·w` (no bias: the columns and the target are
/// centred), from `w = 0`, recording `w` before every step until `done(w)` or `steps` steps.
fn descend_lstsq(
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    lr: f64,
    steps: usize,
    done: impl Fn(&[f64]) -> bool,
) -> Res<Vec<Vec<f64>>> {
    let mut params = Params::new();
    let w = params.insert("w", Tensor::zeros([x.dims()[1], 1]))?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?;
    let mut tape = Tape::new();
    let mut path = Vec::new();
    for _ in 0..=steps {
        path.push(params.get(w).data().to_vec());
        if done(params.get(w).data()) {
            break;
        }
        let pred = tape.constant(x).matmul(tape.param(&params, w));
        let grads = half_mse_loss(pred, tape.constant(y)).backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
    }
    Ok(path)
}
// ANCHOR_END: lstsq

/// Section 4: two features of the diabetes data, raw (centred) and standardized: the paths.
fn two_features(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let (train, _, _, _) = diabetes()?;
    let scaler = StandardScaler::fit(&train.x)?;
    let (n, p) = (train.len(), train.n_features());
    let y_mean = train.y.data().iter().sum::<f64>() / n as f64;
    let y: Vec<f64> = train.y.data().iter().map(|v| v - y_mean).collect();
    let y = Tensor::from_vec(y, [n, 1])?;
    writeln!(
        out,
        "half-MSE of y - mean(y) ~ w_sex * sex + w_s1 * s1 (columns centred), gradient descent at lr 1/L from w = 0"
    )?;
    writeln!(
        out,
        "{:>13}  {:>9}  {:>9}  {:>9}  {:>9}  {:>22}  {:>12}",
        "features", "L", "mu", "kappa", "lr", "optimum (w_sex, w_s1)", "steps to 1e-3"
    )?;
    for standardized in [false, true] {
        let cols = [1usize, 4]; // sex, s1
        let mut x = Vec::with_capacity(2 * n);
        for row in train.x.data().chunks_exact(p) {
            for &j in &cols {
                let c = row[j] - scaler.mean[j];
                x.push(if standardized { c / scaler.std[j] } else { c });
            }
        }
        // The Hessian G = xᵀx/n, the optimum w* = G⁻¹ xᵀy/n (2 × 2, solved by hand).
        let (mut g, mut c) = ([0.0; 4], [0.0; 2]);
        for (r, yi) in x.chunks_exact(2).zip(y.data()) {
            for a in 0..2 {
                c[a] += r[a] * yi / n as f64;
                for b in 0..2 {
                    g[2 * a + b] += r[a] * r[b] / n as f64;
                }
            }
        }
        let det = g[0] * g[3] - g[1] * g[2];
        let opt = [(g[3] * c[0] - g[1] * c[1]) / det, (g[0] * c[1] - g[2] * c[0]) / det];
        let ev = symmetric_eigenvalues(&g, 2);
        let (mu, l) = (ev[0], ev[1]);
        let lr = 1.0 / l;
        let x = Tensor::from_vec(x, [n, 2])?;
        let d0 = norm(&opt);
        let near = |w: &[f64]| norm(&[w[0] - opt[0], w[1] - opt[1]]) <= 1e-3 * d0;
        let path = descend_lstsq(&x, &y, lr, 100_000, near)?;
        let name = if standardized { "standardized" } else { "raw" };
        writeln!(
            out,
            "{name:>13}  {l:>9.3e}  {mu:>9.3e}  {:>9.1}  {lr:>9.3e}  {:>22}  {:>12}",
            l / mu,
            point(&opt),
            path.len() - 1
        )?;
        let f = move |a: f64, b: f64| {
            0.5 * (g[0] * a * a + 2.0 * g[1] * a * b + g[3] * b * b) - c[0] * a - c[1] * b
        };
        // Step 0, step 1, then every 25th of the first 4000 steps (the raw path is a slow crawl).
        let shown: Vec<usize> = (0..=4000).filter(|&k| k <= 1 || k % 25 == 0).collect();
        let pts: Vec<(f64, f64)> = shown.iter().filter_map(|&k| path.get(k)).map(|w| (w[0], w[1])).collect();
        let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().chain([(opt[0], opt[1])]).unzip();
        let span = |v: &[f64]| {
            let (lo, hi) =
                v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            let pad = 0.15 * (hi - lo).max(1e-9);
            (lo - pad, hi + pad)
        };
        let contour = ContourChart {
            title: format!("{name} (kappa {:.0}): w_sex across, w_s1 up; lr 1/L from 0", l / mu),
            f: &f,
            x: span(&xs),
            y: span(&ys),
            levels: 14,
            paths: vec![
                Series::new(format!("lr {lr:.3e}"), pts),
                Series::new("optimum", vec![(opt[0], opt[1])]),
            ],
        };
        let file = if standardized { "two_standardized.svg" } else { "two_raw.svg" };
        figures.push((file, contour.to_svg()?));
    }
    Ok(out)
}

/// Section 5: gradient descent on raw against standardized features.
fn raw_vs_standardized(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let (train, test, train_z, test_z) = diabetes()?;
    let steps = 500;
    // ANCHOR: raw_vs_z
    let (_, _, raw_fast) = gd(&train, 0.01, steps, None)?; // a rate that suits standardized data
    let (_, _, raw_slow) = gd(&train, 2.5e-5, steps, None)?; // just under the raw bound 2/L
    let (model, params, z) = gd(&train_z, 0.1, steps, None)?;
    // ANCHOR_END: raw_vs_z
    let reason = raw_fast.stop.to_string();
    writeln!(out, "raw, lr 0.01: stopped ({})", raw_fast.stop.code())?;
    writeln!(out, "  {reason}")?;
    for (name, r) in [("raw, lr 2.5e-5", &raw_slow), ("standardized, lr 0.1", &z)] {
        let l = step_losses(r);
        writeln!(
            out,
            "{name:>21}: half-MSE at step 0 {:.1}, step 10 {:.1}, step 100 {:.1}, step {} {:.1}",
            l[0],
            l[10],
            l[100],
            steps,
            r.final_train_loss().unwrap_or(f64::NAN)
        )?;
    }
    // ANCHOR: residuals
    let eval = evaluate(&model, &params, Loss::Mse, &test_z)?; // predictions and targets of the test rows
    let title = "Diabetes test rows: residual against prediction";
    let svg = residual_svg(&eval.outputs, &eval.targets, title)?;
    // ANCHOR_END: residuals
    let fmt = |k: &str| eval.metrics.get(k).map_or("?".to_string(), |v| format!("{v:.4}"));
    writeln!(
        out,
        "standardized model on the {} test rows: rmse {}, r2 {}",
        test.len(),
        fmt("rmse"),
        fmt("r2")
    )?;
    let chart = LineChart {
        title: "Diabetes, full-batch gradient descent: raw against standardized features".into(),
        x_label: "step".into(),
        y_label: "training half-MSE (log scale)".into(),
        log_x: false,
        log_y: true,
        series: vec![
            Series::from_values("raw, lr 2.5e-5", &step_losses(&raw_slow)),
            Series::from_values("standardized, lr 0.1", &step_losses(&z)),
        ],
    };
    figures.push(("raw_vs_standardized.svg", chart.to_svg()?));
    figures.push(("residuals.svg", svg));
    Ok(out)
}

/// Section 5: an L2 sweep on the standardized diabetes data.
fn l2(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let (_, _, train_z, test_z) = diabetes()?;
    let steps = 3000;
    let (l_w, mu_w) = curvatures_of(&train_z, false); // curvatures of the weights' block
    let y_mean = train_z.y.data().iter().sum::<f64>() / train_z.len() as f64;
    writeln!(out, "standardized diabetes, half-MSE + (lambda/2)|w|^2, {steps} steps at lr 1/(L + lambda)")?;
    writeln!(out, "mean of the training targets: {y_mean:.6}")?;
    writeln!(
        out,
        "{:>7}  {:>9}  {:>12}  {:>10}  {:>10}  {:>9}",
        "lambda", "|w|", "bias", "train mse", "test mse", "kappa_w"
    )?;
    let mut paths: Vec<Vec<(f64, f64)>> = vec![Vec::new(); train_z.n_features()];
    for lambda in [0.0, 0.01, 0.1, 1.0, 10.0, 100.0] {
        // ANCHOR: l2
        let lr = 1.0 / (l_w + lambda).max(1.0); // 1/L of the penalized loss (the bias's curvature is 1)
        let (model, params, _) = gd(&train_z, lr, steps, Some(L2::new(lambda)))?; // biases excluded
        let w = params.get(model.linear().weight()).data().to_vec();
        let b = model.linear().bias().map_or(f64::NAN, |id| params.get(id).data()[0]);
        // ANCHOR_END: l2
        let train_mse = evaluate(&model, &params, Loss::Mse, &train_z)?.loss;
        let test_mse = evaluate(&model, &params, Loss::Mse, &test_z)?.loss;
        let kappa_w = (l_w + lambda) / (mu_w + lambda);
        writeln!(
            out,
            "{lambda:>7}  {:>9.4}  {b:>12.6}  {train_mse:>10.2}  {test_mse:>10.2}  {kappa_w:>9.2}",
            norm(&w)
        )?;
        if lambda > 0.0 {
            for (j, &wj) in w.iter().enumerate() {
                paths[j].push((lambda, wj));
            }
        }
    }
    // ANCHOR: l2_bias
    let with_bias = L2::new(10.0).include_biases(); // the mistake: the bias is penalized too
    let (model, params, _) = gd(&train_z, 1.0 / (l_w + 10.0), steps, Some(with_bias))?;
    // ANCHOR_END: l2_bias
    let b = model.linear().bias().map_or(f64::NAN, |id| params.get(id).data()[0]);
    let train_mse = evaluate(&model, &params, Loss::Mse, &train_z)?.loss;
    writeln!(out, "lambda 10 with the bias penalized too: bias {b:.6}, train mse {train_mse:.2}")?;
    let series =
        paths.into_iter().zip(&train_z.features).map(|(p, name)| Series::new(name.clone(), p)).collect();
    let chart = LineChart {
        title: "Diabetes weights against the L2 strength (the bias stays at the target mean)".into(),
        x_label: "lambda (log scale)".into(),
        y_label: "weight".into(),
        log_x: true,
        log_y: false,
        series,
    };
    figures.push(("l2_path.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 6: global-norm clipping on Rosenbrock from a steep start.
fn clipping(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: clip
    let start = [-2.0, -2.0];
    let lr = 1e-3;
    let plain = descend(Surface::Rosenbrock, &start, lr, Clip::None, 5000, |_, _| false)?;
    let clipped = descend(Surface::Rosenbrock, &start, lr, Clip::GlobalNorm(100.0), 5000, |_, _| false)?;
    // ANCHOR_END: clip
    writeln!(out, "rosenbrock from (-2, -2), lr 0.001")?;
    writeln!(out, "no clipping:")?;
    for (k, (p, g)) in plain.points.iter().zip(&plain.grad_norm).enumerate().take(4) {
        writeln!(out, "  step {k}: point {:>26}, |grad| {g:.4e}", point(p))?;
    }
    if let Some(reason) = &plain.stop {
        writeln!(out, "  stopped: {}", reason.to_string().split(';').next().unwrap_or(""))?;
    }
    let n_clipped = clipped.grad_norm.iter().filter(|&&g| g > 100.0).count();
    writeln!(out, "clip global norm at 100 (every step at most lr x 100 = 0.1 long):")?;
    for (k, (p, g)) in clipped.points.iter().zip(&clipped.grad_norm).enumerate().take(4) {
        writeln!(out, "  step {k}: point {:>26}, |grad| before clipping {g:.4e}", point(p))?;
    }
    let last = clipped.points.last().cloned().unwrap_or_default();
    writeln!(
        out,
        "  after {} steps: point {}, f {:.3e}; {n_clipped} steps were clipped",
        clipped.grad_norm.len(),
        point(&last),
        clipped.loss.last().copied().unwrap_or(f64::NAN)
    )?;
    // Every step of the first 100, then every 50th (the SVG stays small).
    let shown = clipped
        .points
        .iter()
        .enumerate()
        .filter(|(k, _)| *k <= 100 || k % 50 == 0)
        .map(|(_, p)| (p[0], p[1]));
    let shown = shown.collect();
    let f = |x: f64, y: f64| ((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)).ln_1p();
    let contour = ContourChart {
        title: "ln(1 + rosenbrock): clipped gradient descent from (-2, -2)".into(),
        f: &f,
        x: (-2.5, 2.0),
        y: (-2.5, 4.5),
        levels: 14,
        paths: vec![Series::new("clipped at 100", shown)],
    };
    figures.push(("clip_path.svg", contour.to_svg()?));
    let chart = LineChart {
        title: "Rosenbrock, lr 0.001: gradient norm before clipping, first 100 steps".into(),
        x_label: "step".into(),
        y_label: "|grad| (log scale)".into(),
        log_x: false,
        log_y: true,
        series: vec![
            Series::from_values("no clipping (stopped)", &plain.grad_norm),
            Series::from_values("clipped at 100", &clipped.grad_norm[..100]),
            Series::new("max_norm 100", vec![(0.0, 100.0), (100.0, 100.0)]),
        ],
    };
    figures.push(("clip_norms.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 7: the saddle x² − y², from points near it.
fn saddle(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let lr = 0.1;
    writeln!(out, "x^2 - y^2 from (1, y0), lr 0.1: x shrinks 0.8x per step, y grows 1.2x")?;
    writeln!(
        out,
        "{:>7}  {:>15}  {:>16}  {:>15}  {:>11}",
        "y0", "steps to f < -1", "theory ln/ln 1.2", "smallest |grad|", "at step"
    )?;
    let mut series = Vec::new();
    for y0 in [1e-4, 1e-8, 1e-12, 0.0] {
        // ANCHOR: saddle
        let run = descend(Surface::Saddle, &[1.0, y0], lr, Clip::None, 160, |_, f| f < -1.0)?;
        // ANCHOR_END: saddle
        let escaped = run.loss.last().is_some_and(|&f| f < -1.0);
        let steps = if escaped { format!("{}", run.loss.len() - 1) } else { "never (160)".to_string() };
        let theory = if y0 > 0.0 { format!("{:.1}", (1.0 / y0).ln() / 1.2f64.ln()) } else { "-".to_string() };
        let (at, g) = run
            .grad_norm
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::NAN));
        writeln!(out, "{y0:>7.0e}  {steps:>15}  {theory:>16}  {g:>15.3e}  {at:>11}")?;
        let name = if y0 == 0.0 { "y0 = 0".to_string() } else { format!("y0 = {y0:.0e}") };
        series.push(Series::from_values(name, &run.grad_norm));
    }
    let chart = LineChart {
        title: "x^2 - y^2 from (1, y0): gradient norm at each step".into(),
        x_label: "step".into(),
        y_label: "|grad| (log scale)".into(),
        log_x: false,
        log_y: true,
        series,
    };
    figures.push(("saddle_norms.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 8: the flat minimum of x⁴ + y⁴ against a quadratic bowl.
fn flat(figures: &mut Figures) -> Res<String> {
    let mut out = String::new();
    let (lr, steps) = (0.1, 10_000);
    // ANCHOR: flat
    let start = [1.0, 0.5];
    let near = |p: &[f64], _f: f64| norm(p) < 1e-12;
    let quartic = descend(Surface::Flat, &start, lr, Clip::None, steps, near)?;
    let bowl = descend(Surface::Conditioned { kappa: 1.0 }, &start, lr, Clip::None, steps, near)?;
    // ANCHOR_END: flat
    writeln!(out, "x^4 + y^4 from (1, 0.5), lr 0.1")?;
    writeln!(out, "{:>6}  {:>11}  {:>11}  {:>11}  {:>11}", "step", "x", "theory x", "|grad|", "f")?;
    for k in [0, 1, 10, 100, 1000, 10_000] {
        // dx/dk = −4·lr·x³ solves to 1/x² = 1/x0² + 8·lr·k.
        let theory = 1.0 / (1.0 + 8.0 * lr * k as f64).sqrt();
        let p = &quartic.points[k];
        let g = 4.0 * norm(&[p[0].powi(3), p[1].powi(3)]);
        writeln!(out, "{k:>6}  {:>11.4e}  {theory:>11.4e}  {g:>11.4e}  {:>11.4e}", p[0], quartic.loss[k])?;
    }
    writeln!(
        out,
        "(x^2 + y^2)/2 from the same start and rate: distance < 1e-12 after {} steps",
        bowl.loss.len() - 1
    )?;
    let dist = |r: &Run| -> Vec<(f64, f64)> {
        r.points.iter().enumerate().skip(1).map(|(k, p)| (k as f64, norm(p))).collect()
    };
    let chart = LineChart {
        title: "Distance to the minimum: flat quartic against quadratic bowl, lr 0.1".into(),
        x_label: "step (log scale)".into(),
        y_label: "distance to the minimum (log scale)".into(),
        log_x: true,
        log_y: true,
        series: vec![Series::new("x^4 + y^4", dist(&quartic)), Series::new("(x^2 + y^2)/2", dist(&bowl))],
    };
    figures.push(("flat.svg", chart.to_svg()?));
    Ok(out)
}

/// The checkpoint: another split, standardized on its training rows, with an L2 penalty.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let data = diabetes_raw()?;
    let (train, _, test) = data.split(&SplitOptions { test: 0.25, seed: 3, ..SplitOptions::default() })?;
    let scaler = StandardScaler::fit(&train.x)?;
    let train_z = Dataset { x: scaler.transform(&train.x)?, ..train.clone() };
    let test_z = Dataset { x: scaler.transform(&test.x)?, ..test.clone() };
    let (model, params, run) = gd(&train_z, 0.1, 2000, Some(L2::new(1.0)))?;
    let w = params.get(model.linear().weight()).data().to_vec();
    let b = model.linear().bias().map_or(f64::NAN, |id| params.get(id).data()[0]);
    let y_mean = train.y.data().iter().sum::<f64>() / train.len() as f64;
    let rmse = evaluate(&model, &params, Loss::Mse, &test_z)?.loss.sqrt();
    // ANCHOR_END: checkpoint
    writeln!(out, "seed 3, {} training rows, {} test rows", train.len(), test.len())?;
    writeln!(out, "stop: {}", run.stop)?;
    writeln!(out, "bias {b:.6}, training target mean {y_mean:.6}")?;
    writeln!(out, "|w| = {:.6}", norm(&w))?;
    writeln!(out, "test rmse {rmse:.4}")?;
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    let texts = vec![
        ("kappa.txt", kappa(&mut figures)?),
        ("zigzag.txt", zigzag(&mut figures)?),
        ("doctor.txt", doctor()?),
        ("two_features.txt", two_features(&mut figures)?),
        ("raw_vs_standardized.txt", raw_vs_standardized(&mut figures)?),
        ("l2.txt", l2(&mut figures)?),
        ("clipping.txt", clipping(&mut figures)?),
        ("saddle.txt", saddle(&mut figures)?),
        ("flat.txt", flat(&mut figures)?),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch04")
}

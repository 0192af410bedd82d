//! Book, chapter 5: momentum and adaptive optimizers.
//!
//! ```sh
//! cargo run --release --example ch05_optimizers            # writes book/src/generated/ch05/
//! cargo run --release --example ch05_optimizers -- DIR     # or into DIR
//! ```
//!
//! The defaults of every first-order optimizer in `downhill::optim`, read from their `Default`
//! configs and set beside PyTorch's and optax's; momentum's two forms and their equivalence up to
//! a learning-rate factor; Nesterov's lookahead form against the optimizer; Adam's bias
//! correction over its first steps; decoupled weight decay (AdamW) against L2 in the gradient;
//! optimizer paths on a stretched bowl and on Rosenbrock; and a fair benchmark on breast cancer
//! (each optimizer's learning rate tuned on its own seed, then five fresh seeds at two budgets).
//! Everything it prints is also written, section by section, as text (or markdown) files next
//! to the SVG figures; `tests/book_ch05.rs` checks that the committed copies are up to date.

use std::error::Error;
use std::fmt::Write as _;

use downhill::nn::{Init, LogisticRegression};
use downhill::optim::{
    AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Momentum, MomentumConfig, MomentumForm, Nesterov,
    NesterovConfig, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig, WeightDecay,
};
use downhill::prelude::{Params, Tape, Tensor, seeded_rng};
use downhill::train::compare::{Budget, CompareConfig, Comparison, Contender, compare};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, breast_cancer};
use downhill::train::fit::{FitConfig, Loss, fit};
use downhill::train::plot::{LineChart, Series};
use downhill::train::report::{surface_contours_svg, surface_path};
use downhill::train::surfaces::Surface;

type Res<T> = std::result::Result<T, Box<dyn Error>>;

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

/// A number as the tables show it: `{:?}` (shortest round trip), with 0 as `0`.
fn num(x: f64) -> String {
    if x == 0.0 { "0".to_string() } else { format!("{x:?}") }
}

fn decay(w: WeightDecay) -> String {
    match w {
        WeightDecay::None => "0".to_string(),
        WeightDecay::L2(l) => format!("{} (L2)", num(l)),
        WeightDecay::Decoupled(l) => format!("{} (decoupled)", num(l)),
    }
}

// ANCHOR: reference
/// PyTorch's (`torch.optim`, 2.x) and optax's defaults as their documentation states them:
/// `(optimizer, setting, PyTorch, optax)`. Sources are listed in the chapter.
const REFERENCE: &[(&str, &str, &str, &str)] = &[
    ("Sgd", "lr", "0.001", "required"),
    ("Sgd", "weight_decay", "0 (L2)", "none (add_decayed_weights)"),
    ("Momentum", "lr", "0.001", "required"),
    ("Momentum", "beta", "0 (momentum=0: set it)", "None (set it)"),
    ("Momentum", "form", "classical (dampening=0)", "classical (trace)"),
    ("Nesterov", "lr", "0.001", "required"),
    ("Nesterov", "beta", "none (momentum > 0 required)", "None (set it)"),
    ("Adagrad", "lr", "0.01", "required"),
    ("Adagrad", "eps", "1e-10", "1e-7"),
    ("Adagrad", "initial_accumulator_value", "0", "0.1"),
    ("RmsProp", "lr", "0.01", "required"),
    ("RmsProp", "alpha", "0.99", "decay=0.9"),
    ("RmsProp", "eps", "1e-8 (outside the root)", "1e-8 (inside the root)"),
    ("RmsProp", "momentum", "0", "None"),
    ("RmsProp", "centered", "false", "false"),
    ("Adam", "lr", "0.001", "required"),
    ("Adam", "beta1", "0.9", "b1=0.9"),
    ("Adam", "beta2", "0.999", "b2=0.999"),
    ("Adam", "eps", "1e-8", "1e-8"),
    ("Adam", "weight_decay", "0 (L2)", "none (add_decayed_weights)"),
    ("AdamW", "lr", "0.001", "required"),
    ("AdamW", "beta1", "0.9", "b1=0.9"),
    ("AdamW", "beta2", "0.999", "b2=0.999"),
    ("AdamW", "eps", "1e-8", "1e-8"),
    ("AdamW", "weight_decay", "0.01 (decoupled)", "1e-4 (decoupled)"),
];
// ANCHOR_END: reference

// ANCHOR: ours
/// downhill's defaults, read from each config's `Default`.
fn downhill_defaults() -> Vec<(&'static str, &'static str, String)> {
    let (sgd, mom, nes) = (SgdConfig::default(), MomentumConfig::default(), NesterovConfig::default());
    let (ada, rms) = (AdagradConfig::default(), RmsPropConfig::default());
    let (adam, adamw) = (AdamConfig::default(), AdamWConfig::default());
    vec![
        ("Sgd", "lr", num(sgd.lr)),
        ("Sgd", "weight_decay", decay(sgd.weight_decay)),
        ("Momentum", "lr", num(mom.lr)),
        ("Momentum", "beta", num(mom.beta)),
        ("Momentum", "form", format!("{:?}", mom.form)),
        ("Nesterov", "lr", num(nes.lr)),
        ("Nesterov", "beta", num(nes.beta)),
        ("Adagrad", "lr", num(ada.lr)),
        ("Adagrad", "eps", num(ada.eps)),
        ("Adagrad", "initial_accumulator_value", num(ada.initial_accumulator_value)),
        ("RmsProp", "lr", num(rms.lr)),
        ("RmsProp", "alpha", num(rms.alpha)),
        ("RmsProp", "eps", num(rms.eps)),
        ("RmsProp", "momentum", num(rms.momentum)),
        ("RmsProp", "centered", rms.centered.to_string()),
        ("Adam", "lr", num(adam.lr)),
        ("Adam", "beta1", num(adam.beta1)),
        ("Adam", "beta2", num(adam.beta2)),
        ("Adam", "eps", num(adam.eps)),
        ("Adam", "weight_decay", decay(adam.weight_decay)),
        ("AdamW", "lr", num(adamw.lr)),
        ("AdamW", "beta1", num(adamw.beta1)),
        ("AdamW", "beta2", num(adamw.beta2)),
        ("AdamW", "eps", num(adamw.eps)),
        ("AdamW", "weight_decay", decay(WeightDecay::Decoupled(adamw.weight_decay))),
    ]
}
// ANCHOR_END: ours

/// The first word of a cell, lower-cased: what "same as PyTorch" compares.
fn head(s: &str) -> String {
    s.split_whitespace().next().unwrap_or("").to_lowercase()
}

/// Section 1: the defaults table (markdown).
fn defaults() -> Res<String> {
    let mut out = String::new();
    writeln!(out, "| optimizer | setting | downhill (from `Default`) | PyTorch | optax | same as PyTorch |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    let ours = downhill_defaults();
    for (opt, setting, value) in &ours {
        let Some((_, _, torch, optax)) = REFERENCE.iter().find(|r| r.0 == *opt && r.1 == *setting) else {
            return Err(format!("no PyTorch/optax reference for {opt}.{setting}").into());
        };
        let same = if head(value) == head(torch) { "yes" } else { "**no**" };
        writeln!(out, "| `{opt}` | `{setting}` | {value} | {torch} | {optax} | {same} |")?;
    }
    if ours.len() != REFERENCE.len() {
        return Err("REFERENCE has rows downhill_defaults does not".into());
    }
    Ok(out)
}

// ANCHOR: helpers
/// Runs `opt` on a 2-D surface and returns the start and the point after each step
/// (`downhill::train::report::surface_path`: gradients from the tape, as in chapter 1).
fn path(
    surface: Surface,
    opt: &mut dyn Optimizer<f64>,
    start: [f64; 2],
    steps: usize,
) -> Res<Vec<(f64, f64)>> {
    Ok(surface_path(surface, opt, start, steps)?)
}

/// f at a point.
fn value(surface: Surface, p: (f64, f64)) -> Res<f64> {
    let tape = Tape::new();
    Ok(surface.eval(tape.constant(&Tensor::vector(&[p.0, p.1]))).item()?)
}

/// ∇f at a point, from the tape.
fn gradient(surface: Surface, p: &[f64]) -> Res<Vec<f64>> {
    let mut params = Params::new();
    let v = params.insert("v", Tensor::vector(p))?;
    let tape = Tape::new();
    let grads = surface.eval(tape.param(&params, v)).backward()?;
    Ok(grads.try_get(v)?.data().to_vec())
}
// ANCHOR_END: helpers

fn max_gap(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p.0 - q.0).abs().max((p.1 - q.1).abs())).fold(0.0, f64::max)
}

fn dist(p: (f64, f64), m: (f64, f64)) -> f64 {
    ((p.0 - m.0).powi(2) + (p.1 - m.1).powi(2)).sqrt()
}

/// Section 2: momentum as an average (EMA) and as a sum (classical).
fn momentum_forms() -> Res<String> {
    let mut out = String::new();
    let start = [-3.0, 1.0];
    // ANCHOR: momentum_forms
    let (lr, beta) = (0.1, 0.9);
    // v ← βv + (1 − β)g, θ ← θ − lr·v: v is an average of gradients.
    let mut ema = Momentum::new(MomentumConfig { lr, beta, form: MomentumForm::Ema, ..Default::default() })?;
    // v ← βv + g, θ ← θ − lr'·v with lr' = lr·(1 − β): v is a sum, 1/(1 − β) times larger.
    let scaled = lr * (1.0 - beta);
    let mut classical = Momentum::new(MomentumConfig {
        lr: scaled,
        beta,
        form: MomentumForm::Classical,
        ..Default::default()
    })?;
    let a = path(Surface::Bowl, &mut ema, start, 200)?;
    let b = path(Surface::Bowl, &mut classical, start, 200)?;
    // ANCHOR_END: momentum_forms
    writeln!(out, "bowl (x - 1)^2 + 5(y + 2)^2 from (-3, 1), beta = {beta}")?;
    writeln!(out, "{:>4}  {:>24}  {:>24}", "step", "EMA form, lr 0.1", "classical form, lr 0.01")?;
    for k in 0..=5 {
        let (p, q) = (a[k], b[k]);
        writeln!(out, "{k:>4}  ({:>10.6}, {:>10.6})  ({:>10.6}, {:>10.6})", p.0, p.1, q.0, q.1)?;
    }
    writeln!(out, "largest coordinate gap over 200 steps: {:.1e}", max_gap(&a, &b))?;
    writeln!(out)?;
    writeln!(out, "distance to the minimum (1, -2) after 200 steps:")?;
    let mut runs: Vec<(&str, Box<dyn Optimizer<f64>>)> = vec![
        ("gradient descent, lr 0.1", Box::new(Sgd::new(SgdConfig::lr(0.1))?)),
        (
            "EMA form, lr 0.1",
            Box::new(Momentum::new(MomentumConfig {
                form: MomentumForm::Ema,
                lr,
                beta,
                ..Default::default()
            })?),
        ),
        (
            "classical form, lr 0.01",
            Box::new(Momentum::new(MomentumConfig { lr: 0.01, beta, ..Default::default() })?),
        ),
        (
            "classical form, lr 0.1",
            Box::new(Momentum::new(MomentumConfig { lr: 0.1, beta, ..Default::default() })?),
        ),
    ];
    for (name, opt) in runs.iter_mut() {
        let p = path(Surface::Bowl, opt.as_mut(), start, 200)?;
        let last = p.last().copied().unwrap_or((f64::NAN, f64::NAN));
        writeln!(out, "  {name:<26} {:.3e}", dist(last, (1.0, -2.0)))?;
    }
    Ok(out)
}

/// Section 3: Nesterov's lookahead form, written by hand, against the optimizer.
fn nesterov() -> Res<String> {
    let mut out = String::new();
    let surface = Surface::Bowl;
    let (lr, beta) = (0.02, 0.9);
    // ANCHOR: lookahead
    // Sutskever's form: the gradient is taken at the lookahead point θ + βv.
    let (mut theta, mut v) = (vec![-3.0, 1.0], vec![0.0, 0.0]);
    let mut lookahead = Vec::new();
    for _ in 0..100 {
        let ahead: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t + beta * v).collect();
        let g = gradient(surface, &ahead)?;
        for i in 0..2 {
            v[i] = beta * v[i] - lr * g[i];
            theta[i] += v[i];
        }
        // The optimizer's parameters are the lookahead points φ = θ + βv.
        lookahead.push((theta[0] + beta * v[0], theta[1] + beta * v[1]));
    }
    let mut opt = Nesterov::new(NesterovConfig { lr, beta, ..Default::default() })?;
    let phi = path(surface, &mut opt, [-3.0, 1.0], 100)?;
    // ANCHOR_END: lookahead
    writeln!(out, "bowl from (-3, 1), lr {lr}, beta {beta}, 100 steps")?;
    writeln!(out, "{:>4}  {:>24}  {:>24}", "step", "theta + beta v (by hand)", "Nesterov optimizer")?;
    for k in [0usize, 1, 2, 3, 99] {
        let (p, q) = (lookahead[k], phi[k + 1]);
        writeln!(out, "{:>4}  ({:>10.6}, {:>10.6})  ({:>10.6}, {:>10.6})", k + 1, p.0, p.1, q.0, q.1)?;
    }
    writeln!(out, "largest coordinate gap over 100 steps: {:.1e}", max_gap(&lookahead, &phi[1..]))?;
    Ok(out)
}

// ANCHOR: adam_by_hand
/// One Adam step for one coordinate, by hand (lr 0.1, the default betas and eps): updates the
/// moments `m`, `v` with the gradient `g` of step `t` (from 1) and returns m̂, v̂, the step, and
/// the step without the bias correction.
fn adam_by_hand(m: &mut f64, v: &mut f64, g: f64, t: i32) -> (f64, f64, f64, f64) {
    let (lr, b1, b2, eps) = (0.1, 0.9, 0.999, 1e-8);
    *m = b1 * *m + (1.0 - b1) * g;
    *v = b2 * *v + (1.0 - b2) * g * g;
    let m_hat = *m / (1.0 - b1.powi(t)); // bias correction
    let v_hat = *v / (1.0 - b2.powi(t));
    let step = lr * m_hat / (v_hat.sqrt() + eps);
    let uncorrected = lr * *m / (v.sqrt() + eps);
    (m_hat, v_hat, step, uncorrected)
}
// ANCHOR_END: adam_by_hand

/// Section 4: Adam's moments and bias correction over the first steps, by hand and from the
/// optimizer's own state.
fn adam_bias() -> Res<String> {
    let mut out = String::new();
    let surface = Surface::Bowl;
    let mut params = Params::new();
    let xy = params.insert("xy", Tensor::vector(&[-3.0, 1.0]))?;
    let mut opt = Adam::new(AdamConfig { lr: 0.1, ..Default::default() })?;
    writeln!(out, "Adam, lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8, on the bowl from (-3, 1)")?;
    writeln!(
        out,
        "{:>2} {:>2}  {:>10} {:>10} {:>10} {:>10} {:>10}  {:>9} {:>9} {:>9}",
        "t", "", "g", "m", "v", "m_hat", "v_hat", "step", "no corr.", "Adam"
    )?;
    let mut worst_state: f64 = 0.0;
    let mut worst_step: f64 = 0.0;
    let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
    for t in 1..=5 {
        let before = params.get(xy).data().to_vec();
        let g = gradient(surface, &before)?;
        let mut rows = Vec::new();
        for i in 0..2 {
            let (m_hat, v_hat, step, uncorrected) = adam_by_hand(&mut m[i], &mut v[i], g[i], t);
            rows.push((g[i], m[i], v[i], m_hat, v_hat, step, uncorrected));
        }
        let tape = Tape::new();
        let grads = surface.eval(tape.param(&params, xy)).backward()?;
        drop(tape);
        opt.step(&mut params, &grads)?;
        let after = params.get(xy).data().to_vec();
        let state = opt.state(&params)?;
        let (sm, sv) = (state.get("exp_avg/xy"), state.get("exp_avg_sq/xy"));
        for (i, (g, m_, v_, mh, vh, step, raw)) in rows.into_iter().enumerate() {
            let moved = before[i] - after[i];
            worst_step = worst_step.max((moved - step).abs());
            if let (Some(sm), Some(sv)) = (sm, sv) {
                worst_state = worst_state.max((sm.data()[i] - m_).abs()).max((sv.data()[i] - v_).abs());
            }
            let coord = if i == 0 { "x" } else { "y" };
            writeln!(
                out,
                "{t:>2} {coord:>2}  {g:>10.4} {m_:>10.4} {v_:>10.4} {mh:>10.4} {vh:>10.4}  {step:>9.5} {raw:>9.5} {moved:>9.5}"
            )?;
        }
    }
    writeln!(out, "moments by hand vs Adam's exp_avg / exp_avg_sq: largest gap {worst_state:.1e}")?;
    writeln!(out, "step by hand vs Adam's move:                    largest gap {worst_step:.1e}")?;
    Ok(out)
}

// ANCHOR: decay_run
/// `steps` updates of `opt` on f(u, w) = 5(u − 2)²: the loss does not use w, so the only force on
/// w is the weight decay. Returns (u, w) after every step; both start at 1.
fn decay_run(opt: &mut dyn Optimizer<f64>, steps: usize) -> Res<Vec<(f64, f64)>> {
    let mut params = Params::new();
    let u = params.insert("u", Tensor::vector(&[1.0]))?;
    let w = params.insert("w", Tensor::vector(&[1.0]))?;
    let (mut tape, mut after) = (Tape::new(), Vec::new());
    for _ in 0..steps {
        let fit_u = (tape.param(&params, u) - 2.0).square().sum() * 5.0;
        let loss = fit_u + (tape.param(&params, w) * 0.0).sum(); // w is on the tape, with gradient 0
        let grads = loss.backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
        after.push((params.get(u).data()[0], params.get(w).data()[0]));
    }
    Ok(after)
}
// ANCHOR_END: decay_run

/// Section 5: decoupled decay (AdamW) against L2 in the gradient.
fn adamw() -> Res<String> {
    let mut out = String::new();
    let lr = 0.01;
    writeln!(out, "f(u, w) = 5(u - 2)^2, u and w start at 1, lr {lr}; w gets no gradient from f")?;
    writeln!(
        out,
        "{:<30} {:>7}  {:>9} {:>9}  {:>9} {:>9}",
        "optimizer", "lambda", "u @50", "w @50", "u @300", "w @300"
    )?;
    for lambda in [0.1, 0.001] {
        // ANCHOR: decay_variants
        let adam_l2 = AdamConfig { lr, weight_decay: WeightDecay::L2(lambda), ..Default::default() };
        let adamw = AdamWConfig { lr, weight_decay: lambda, ..Default::default() };
        let sgd_l2 = SgdConfig { lr, weight_decay: WeightDecay::L2(lambda) };
        let sgd_dec = SgdConfig { lr, weight_decay: WeightDecay::Decoupled(lambda) };
        // ANCHOR_END: decay_variants
        let mut rows: Vec<(&str, Box<dyn Optimizer<f64>>)> = vec![
            ("Adam + L2 in the gradient", Box::new(Adam::new(adam_l2)?)),
            ("AdamW (decoupled)", Box::new(AdamW::new(adamw)?)),
            ("SGD + L2 in the gradient", Box::new(Sgd::new(sgd_l2)?)),
            ("SGD + decoupled", Box::new(Sgd::new(sgd_dec)?)),
        ];
        let mut sgd_ends = Vec::new();
        for (name, opt) in rows.iter_mut() {
            let after = decay_run(opt.as_mut(), 300)?;
            let ((u50, w50), (u300, w300)) = (after[49], after[299]);
            writeln!(out, "{name:<30} {lambda:>7}  {u50:>9.5} {w50:>9.5}  {u300:>9.5} {w300:>9.5}")?;
            if name.starts_with("SGD") {
                sgd_ends.push((u300, w300));
            }
        }
        writeln!(
            out,
            "{:<30} {lambda:>7}  {:>9} {:>9.5}  {:>9} {:>9.5}",
            "(1 - lr lambda)^steps",
            "",
            (1.0 - lr * lambda).powi(50),
            "",
            (1.0 - lr * lambda).powi(300)
        )?;
        if let [a, b] = sgd_ends[..] {
            writeln!(
                out,
                "SGD: L2 and decoupled differ by {:.1e} after 300 steps",
                (a.0 - b.0).abs().max((a.1 - b.1).abs())
            )?;
        }
        let penalized = 10.0 * 2.0 / (10.0 + lambda);
        writeln!(out, "minimizer of f + lambda/2 (u^2 + w^2): u = {penalized:.5}, w = 0")?;
        writeln!(out)?;
    }
    Ok(out.trim_end().to_string() + "\n")
}

/// Keeps the first 200 points of a path and every 20th after them (a figure does not need every
/// one of 2000 markers; these paths are smooth by then).
fn thin(p: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let keep = |k: usize| k < 200 || k.is_multiple_of(20) || k + 1 == p.len();
    p.iter().enumerate().filter(|(k, _)| keep(*k)).map(|(_, q)| *q).collect()
}

/// One optimizer in a race on a surface.
struct Racer {
    name: &'static str,
    opt: Box<dyn Optimizer<f64>>,
}

fn racer(name: &'static str, opt: impl Optimizer<f64> + 'static) -> Racer {
    Racer { name, opt: Box::new(opt) }
}

/// Runs every racer on `surface` from `start` and tabulates where each ends and when it first got
/// below `target`; returns the table and the paths.
fn race(
    surface: Surface,
    start: [f64; 2],
    steps: usize,
    target: f64,
    racers: &mut [Racer],
) -> Res<(String, Vec<Series>)> {
    let mut out = String::new();
    let m = surface.minimum().map_or((0.0, 0.0), |m| (m[0], m[1]));
    writeln!(out, "{} from ({}, {}), {steps} steps", surface.name(), start[0], start[1])?;
    let reach = format!("steps to f<{target:e}");
    writeln!(out, "{:<28} {:>11} {:>13} {reach:>16}", "optimizer", "f at end", "dist to min")?;
    let mut paths = Vec::new();
    for r in racers.iter_mut() {
        let p = path(surface, r.opt.as_mut(), start, steps)?;
        let mut first = "not reached".to_string();
        for (k, q) in p.iter().enumerate() {
            if value(surface, *q)? < target {
                first = k.to_string();
                break;
            }
        }
        let last = p[p.len() - 1];
        writeln!(
            out,
            "{:<28} {:>11.3e} {:>13.3e} {first:>16}",
            r.name,
            value(surface, last)?,
            dist(last, m)
        )?;
        paths.push(Series::new(r.name, thin(&p)));
    }
    Ok((out, paths))
}

/// Section 6: paths on a stretched bowl and on Rosenbrock.
fn paths(figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: race
    // Curvatures 1 and 50: plain GD is stable below lr = 2/50 = 0.04.
    let stretched = Surface::Conditioned { kappa: 50.0 };
    let lr = 0.025;
    let mut racers = [
        racer("GD, lr 0.025", Sgd::new(SgdConfig::lr(lr))?),
        racer(
            "momentum 0.9, lr 0.025",
            Momentum::new(MomentumConfig { lr, beta: 0.9, ..Default::default() })?,
        ),
        racer(
            "Nesterov 0.9, lr 0.025",
            Nesterov::new(NesterovConfig { lr, beta: 0.9, ..Default::default() })?,
        ),
        racer("RMSProp, lr 0.03", RmsProp::new(RmsPropConfig { lr: 0.03, ..Default::default() })?),
        racer("Adam, lr 0.3", Adam::new(AdamConfig { lr: 0.3, ..Default::default() })?),
    ];
    let (table, series) = race(stretched, [-9.0, 1.0], 150, 1e-6, &mut racers)?;
    // ANCHOR_END: race
    out.push_str(&table);
    let title = "(x^2 + 50 y^2) / 2: 150 steps from (-9, 1)";
    figures.push((
        "stretched_paths.svg",
        surface_contours_svg(stretched, &series, (-10.0, 6.0), (-1.6, 1.6), title)?,
    ));
    // ANCHOR: nesterov_bound
    // At lr 0.035, lr·L = 1.75. Heavy ball needs lr·L < 2(1 + β) = 3.8,
    // Nesterov needs lr·L < 2(1 + β)/(1 + 2β) = 1.357 (β = 0.9).
    let mut heavy = Momentum::new(MomentumConfig { lr: 0.035, beta: 0.9, ..Default::default() })?;
    let mut nag = Nesterov::new(NesterovConfig { lr: 0.035, beta: 0.9, ..Default::default() })?;
    let heavy_path = path(stretched, &mut heavy, [-9.0, 1.0], 150)?;
    let nag_path = path(stretched, &mut nag, [-9.0, 1.0], 150)?;
    // ANCHOR_END: nesterov_bound
    for (name, p) in [("momentum 0.9, lr 0.035", &heavy_path), ("Nesterov 0.9, lr 0.035", &nag_path)] {
        writeln!(out, "{name}: f after 150 steps {:.3e}", value(stretched, p[p.len() - 1])?)?;
    }

    out.push('\n');
    let mut racers = [
        racer("GD, lr 0.001", Sgd::new(SgdConfig::lr(0.001))?),
        racer(
            "momentum 0.9, lr 0.001",
            Momentum::new(MomentumConfig { lr: 0.001, beta: 0.9, ..Default::default() })?,
        ),
        racer(
            "Nesterov 0.9, lr 0.001",
            Nesterov::new(NesterovConfig { lr: 0.001, beta: 0.9, ..Default::default() })?,
        ),
        racer("RMSProp, lr 0.01", RmsProp::new(RmsPropConfig { lr: 0.01, ..Default::default() })?),
        racer("Adam, lr 0.05", Adam::new(AdamConfig { lr: 0.05, ..Default::default() })?),
    ];
    let (table, series) = race(Surface::Rosenbrock, [-1.5, 2.0], 2000, 1e-6, &mut racers)?;
    out.push_str(&table);
    let title = "Rosenbrock (1 - x)^2 + 100 (y - x^2)^2: 2000 steps from (-1.5, 2)";
    let svg = surface_contours_svg(Surface::Rosenbrock, &series, (-2.0, 3.5), (-1.0, 3.0), title)?;
    figures.push(("rosenbrock_paths.svg", svg));
    Ok(out)
}

// ANCHOR: benchmark_setup
/// Breast cancer: a stratified 80/20 train/validation split, standardized with the training
/// split's means and deviations.
fn cancer() -> Res<(Dataset, Dataset)> {
    let d = breast_cancer()?;
    let (tr, va, _) = d.split(&SplitOptions { val: 0.2, test: 0.0, seed: 0, stratify: true })?;
    let s = StandardScaler::fit(&tr.x)?;
    let scale = |d: Dataset| -> Res<Dataset> { Ok(Dataset { x: s.transform(&d.x)?, ..d }) };
    Ok((scale(tr)?, scale(va)?))
}

/// The model: logistic regression with N(0, 0.5²) initial weights drawn from the seed, so
/// the seed changes the start as well as the batch order.
fn model(seed: u64) -> downhill::train::Result<(LogisticRegression, Params<f64>)> {
    let mut p = Params::new();
    let m = LogisticRegression::with_init(
        &mut p,
        "logreg",
        30,
        Init::Normal { std: 0.5 },
        &mut seeded_rng(seed),
    )?;
    Ok((m, p))
}

/// The contenders, each with the other settings at their defaults.
const KINDS: [&str; 6] = ["SGD", "momentum", "Nesterov", "RMSProp", "Adam", "AdamW"];

fn make(kind: &str, lr: f64) -> downhill::train::Result<Box<dyn Optimizer<f64>>> {
    Ok(match kind {
        "SGD" => Box::new(Sgd::new(SgdConfig::lr(lr))?),
        "momentum" => Box::new(Momentum::new(MomentumConfig { lr, ..Default::default() })?),
        "Nesterov" => Box::new(Nesterov::new(NesterovConfig { lr, ..Default::default() })?),
        "RMSProp" => Box::new(RmsProp::new(RmsPropConfig { lr, ..Default::default() })?),
        "Adam" => Box::new(Adam::new(AdamConfig { lr, ..Default::default() })?),
        _ => Box::new(AdamW::new(AdamWConfig { lr, ..Default::default() })?),
    })
}

fn contender(kind: &'static str, lr: f64) -> Contender<'static, f64> {
    Contender { name: format!("{kind}, lr {}", num(lr)), make: Box::new(move || make(kind, lr)) }
}

/// Learning rates tried for every optimizer, a factor of about 3 apart.
const GRID: [f64; 9] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];
/// The two benchmark budgets in updates, with the tag naming their output files.
const BUDGETS: [(u64, &str); 2] = [(30, "short"), (300, "long")];
/// The seeds of the tuning runs (none of them an evaluation seed).
const TUNING_SEEDS: [u64; 3] = [100, 101, 102];
/// The evaluation seeds.
const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];
// ANCHOR_END: benchmark_setup

fn run_compare(
    contenders: &mut [Contender<'static, f64>],
    seeds: &[u64],
    updates: u64,
    target: Option<f64>,
    data: &(Dataset, Dataset),
) -> Res<Comparison> {
    // ANCHOR: compare
    let cfg = CompareConfig {
        seeds: seeds.to_vec(),
        budget: Budget::Updates(updates),
        fit: FitConfig { batch_size: 32, ..FitConfig::default() },
        target_loss: target,
        pilot_steps: 1,
    };
    let c = compare(model, contenders, Loss::BceWithLogits, &data.0, Some(&data.1), &cfg)?;
    // ANCHOR_END: compare
    Ok(c)
}

/// Tunes every optimizer's learning rate on the tuning seeds (lowest mean validation loss at
/// the budget; a rate that diverged on any seed is out); returns the markdown table of the sweep, the chosen rates and one curve per optimizer.
fn tune(updates: u64, data: &(Dataset, Dataset)) -> Res<(String, Vec<f64>, Vec<Series>)> {
    let mut md = String::new();
    write!(md, "| optimizer |")?;
    for lr in GRID {
        write!(md, " lr {} |", num(lr))?;
    }
    writeln!(md, "\n|---|{}", "---:|".repeat(GRID.len()))?;
    let (mut chosen, mut curves) = (Vec::new(), Vec::new());
    for kind in KINDS {
        let mut contenders: Vec<_> = GRID.iter().map(|&lr| contender(kind, lr)).collect();
        let c = run_compare(&mut contenders, &TUNING_SEEDS, updates, None, data)?;
        let val: Vec<Option<f64>> = c
            .summaries
            .iter()
            .map(|s| if s.diverged > 0 { None } else { s.val_loss.map(|v| v.mean) })
            .collect();
        let best = (0..GRID.len())
            .filter(|&i| val[i].is_some())
            .min_by(|&a, &b| val[a].unwrap_or(f64::INFINITY).total_cmp(&val[b].unwrap_or(f64::INFINITY)))
            .ok_or_else(|| format!("{kind}: every rate diverged"))?;
        write!(md, "| {kind} |")?;
        for (i, v) in val.iter().enumerate() {
            match v {
                Some(v) if i == best => write!(md, " **{v:.4}** |")?,
                Some(v) => write!(md, " {v:.4} |")?,
                None => write!(md, " diverged |")?,
            }
        }
        writeln!(md)?;
        chosen.push(GRID[best]);
        let pts = GRID.iter().zip(&val).map(|(&lr, v)| (lr, v.unwrap_or(f64::NAN))).collect();
        curves.push(Series::new(kind, pts));
    }
    Ok((md, chosen, curves))
}

/// Section 7: the fair benchmark at two budgets.
fn benchmark(figures: &mut Vec<(&'static str, String)>) -> Res<Vec<(&'static str, String)>> {
    let data = cancer()?;
    let mut texts = Vec::new();
    let mut setup = String::new();
    writeln!(
        setup,
        "breast cancer: {} training rows, {} validation rows, {} features",
        data.0.len(),
        data.1.len(),
        data.0.n_features()
    )?;
    writeln!(
        setup,
        "batch 32 ({} updates per epoch); budgets: {} and {} updates",
        data.0.len().div_ceil(32),
        BUDGETS[0].0,
        BUDGETS[1].0
    )?;
    writeln!(setup, "learning rates tried: {}", GRID.map(num).join(", "))?;
    writeln!(setup, "tuning seeds {TUNING_SEEDS:?}; evaluation seeds {SEEDS:?}")?;
    texts.push(("benchmark_setup.txt", setup));
    for (updates, tag) in BUDGETS {
        let (md, chosen, curves) = tune(updates, &data)?;
        let mut contenders: Vec<_> = KINDS.iter().zip(&chosen).map(|(&k, &lr)| contender(k, lr)).collect();
        let c = run_compare(&mut contenders, &SEEDS, updates, Some(0.08), &data)?;
        let (tune_name, bench_name) = if tag == "short" {
            ("tuning_short.md", "benchmark_short.md")
        } else {
            ("tuning_long.md", "benchmark_long.md")
        };
        texts.push((tune_name, md));
        texts.push((bench_name, c.to_markdown()));
        if tag == "long" {
            let chart = LineChart {
                title: format!(
                    "Mean validation loss after {updates} updates (tuning seeds) against learning rate"
                ),
                x_label: "learning rate (log scale)".into(),
                y_label: "validation loss (log scale)".into(),
                log_x: true,
                log_y: true,
                series: curves,
            };
            figures.push(("tuning_long.svg", chart.to_svg()?));
            figures.push(("benchmark_curves.svg", curves_chart(&chosen, updates, &data)?));
        }
    }
    Ok(texts)
}

/// Mean training loss (over the evaluation seeds) at every epoch end, per optimizer.
fn curves_chart(chosen: &[f64], updates: u64, data: &(Dataset, Dataset)) -> Res<String> {
    let mut series = Vec::new();
    for (&kind, &lr) in KINDS.iter().zip(chosen) {
        let mut sum: Vec<(f64, f64)> = Vec::new();
        for &seed in &SEEDS {
            let (m, mut p) = model(seed)?;
            let mut opt = make(kind, lr)?;
            let cfg = FitConfig {
                epochs: updates.div_ceil(15),
                max_steps: Some(updates),
                seed,
                batch_size: 32,
                ..FitConfig::default()
            };
            let r = fit(&m, &mut p, opt.as_mut(), Loss::BceWithLogits, &data.0, Some(&data.1), &cfg)?;
            for (i, e) in r.log.epochs.iter().enumerate() {
                if i == sum.len() {
                    sum.push((e.steps as f64, 0.0));
                }
                sum[i].1 += e.train_loss / SEEDS.len() as f64;
            }
        }
        series.push(Series::new(format!("{kind}, lr {}", num(lr)), sum));
    }
    let chart = LineChart {
        title: format!("Breast cancer: mean training loss over {} seeds, tuned rates", SEEDS.len()),
        x_label: "updates".into(),
        y_label: "training loss (log scale)".into(),
        log_x: false,
        log_y: true,
        series,
    };
    Ok(chart.to_svg()?)
}

/// The checkpoint: momentum tuned to the condition number.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let mut rng = seeded_rng(5);
    let start = Tensor::<f64>::rand_uniform([2], -5.0, 5.0, &mut rng)?;
    let start = [start.data()[0], start.data()[1]];
    let kappa: f64 = 25.0; // curvatures 1 and 25
    let surface = Surface::Conditioned { kappa };
    // Polyak's heavy ball for curvatures in [mu, L]: lr = 4/(√L + √mu)², β = ((√κ − 1)/(√κ + 1))².
    let heavy_lr = 4.0 / (kappa.sqrt() + 1.0).powi(2);
    let heavy_beta = ((kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0)).powi(2);
    let mut runs: Vec<(String, Box<dyn Optimizer<f64>>)> = vec![
        ("gradient descent, lr 1/L".into(), Box::new(Sgd::new(SgdConfig::lr(1.0 / kappa))?)),
        (
            "momentum 0.9, lr 1/L".into(),
            Box::new(Momentum::new(MomentumConfig { lr: 1.0 / kappa, beta: 0.9, ..Default::default() })?),
        ),
        (
            "Nesterov 0.9, lr 1/L".into(),
            Box::new(Nesterov::new(NesterovConfig { lr: 1.0 / kappa, beta: 0.9, ..Default::default() })?),
        ),
        (
            format!("heavy ball, lr {heavy_lr:.4}, beta {heavy_beta:.4}"),
            Box::new(Momentum::new(MomentumConfig { lr: heavy_lr, beta: heavy_beta, ..Default::default() })?),
        ),
    ];
    writeln!(out, "seed 5, start ({:.6}, {:.6}), surface {}", start[0], start[1], surface.name())?;
    for (name, opt) in runs.iter_mut() {
        let p = path(surface, opt.as_mut(), start, 2000)?;
        let mut first = None;
        for (k, q) in p.iter().enumerate() {
            let g = gradient(surface, &[q.0, q.1])?;
            if (g[0] * g[0] + g[1] * g[1]).sqrt() < 1e-8 {
                first = Some(k);
                break;
            }
        }
        let first = first.map_or("not within 2000".to_string(), |k| k.to_string());
        writeln!(out, "{name:<40} |grad| < 1e-8 after {first} steps")?;
    }
    // ANCHOR_END: checkpoint
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    let mut texts = vec![
        ("defaults.md", defaults()?),
        ("momentum_forms.txt", momentum_forms()?),
        ("nesterov.txt", nesterov()?),
        ("adam_bias.txt", adam_bias()?),
        ("adamw.txt", adamw()?),
        ("paths.txt", paths(&mut figures)?),
    ];
    texts.extend(benchmark(&mut figures)?);
    texts.push(("checkpoint.txt", checkpoint()?));
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch05")
}

//! Book, chapter 1: loss surfaces and the first gradient-descent loop.
//!
//! ```sh
//! cargo run --release --example ch01_loss_surfaces            # writes book/src/generated/ch01/
//! cargo run --release --example ch01_loss_surfaces -- DIR     # or into DIR
//! ```
//!
//! Plain gradient descent (`downhill::optim::Sgd`, gradients from the tape) on the 1-D parabola
//! `(x − 3)²` and the 2-D bowl `(x − 1)² + 5(y + 2)²`, at learning rates below, at and above the
//! stability bound `2/L`; the loss, gradient-norm and step-norm histories; the divergence guards
//! (a NaN/infinite loss, a 10× jump); and a seeded run that lands on the known minimum (1, −2).
//! Everything it prints is also written, section by section, as text files next to the SVG
//! figures; `tests/book_ch01.rs` checks that the committed copies are up to date.

use std::error::Error;
use std::fmt::Write as _;

use downhill::optim::{Optimizer, Sgd, SgdConfig};
use downhill::prelude::{Params, Tape, Tensor, seeded_rng};
use downhill::train::plot::{ContourChart, LineChart, Series};
use downhill::train::stop::{GuardState, Guards, StopReason};
use downhill::train::surfaces::Surface;

type Res<T> = std::result::Result<T, Box<dyn Error>>;

// ANCHOR: history
/// What one run of gradient descent leaves behind, one entry per step.
#[derive(Debug, Default)]
pub struct History {
    /// The point before each step.
    pub points: Vec<Vec<f64>>,
    /// f at that point.
    pub loss: Vec<f64>,
    /// ‖∇f‖ at that point.
    pub grad_norm: Vec<f64>,
    /// ‖θ_new − θ_old‖ of each step taken.
    pub step_norm: Vec<f64>,
    /// Why the run ended early, if a guard fired.
    pub stop: Option<StopReason>,
}
// ANCHOR_END: history

// ANCHOR: descend
/// Runs at most `steps` steps of gradient descent with learning rate `lr` from `start`.
pub fn descend(surface: Surface, start: &[f64], lr: f64, steps: usize, guards: &Guards) -> Res<History> {
    let mut params = Params::new();
    let v = params.insert("v", Tensor::vector(start))?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?;
    let mut guard_state = GuardState::default();
    let mut h = History::default();
    let mut tape = Tape::new();
    for step in 0..steps {
        // Forward: record f(v) on the tape. Backward: the gradient of f with respect to v.
        let f = surface.eval(tape.param(&params, v));
        let loss = f.item()?;
        h.points.push(params.get(v).data().to_vec());
        h.loss.push(loss);
        // Stop on a NaN or infinite loss, or on a loss 10x the previous one.
        if let Some(reason) = guards.check(&mut guard_state, step as u64, loss, 0.0, true) {
            h.stop = Some(reason);
            break;
        }
        let grads = f.backward()?;
        h.grad_norm.push(grads.global_norm());
        tape.clear(); // release the tape's view of the parameters before updating them
        let before = params.get(v).clone();
        opt.step(&mut params, &grads)?; // v ← v − lr·∇f(v)
        let moved = params.get(v).data().iter().zip(before.data()).map(|(a, b)| (a - b) * (a - b));
        h.step_norm.push(moved.sum::<f64>().sqrt());
    }
    Ok(h)
}
// ANCHOR_END: descend

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

fn point(p: &[f64]) -> String {
    let xs: Vec<String> = p.iter().map(|x| format!("{x:.6}")).collect();
    format!("({})", xs.join(", "))
}

fn ending(h: &History) -> String {
    match &h.stop {
        Some(reason) => format!("stopped: {}", reason.code()),
        None => "ran all steps".to_string(),
    }
}

/// Section 1: the tape's gradient against the one derived by hand, at one point of each surface.
fn gradients() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: tape_vs_hand
    let mut params = Params::new();
    let v = params.insert("v", Tensor::vector(&[0.0, 0.0]))?;
    let tape = Tape::new();
    let f = Surface::Bowl.eval(tape.param(&params, v));
    let grads = f.backward()?;
    let from_tape = grads.try_get(v)?.data().to_vec();
    // By hand: ∂f/∂x = 2(x − 1), ∂f/∂y = 10(y + 2); at (0, 0) that is (−2, 20).
    let (x, y) = (0.0, 0.0);
    let by_hand = vec![2.0 * (x - 1.0), 10.0 * (y + 2.0)];
    // ANCHOR_END: tape_vs_hand
    writeln!(out, "bowl at (0, 0): f = {}", f.item()?)?;
    writeln!(out, "gradient from the tape: {from_tape:?}")?;
    writeln!(out, "gradient by hand:       {by_hand:?}")?;
    writeln!(out, "equal: {}", from_tape == by_hand)?;
    Ok(out)
}

/// Section 2: the parabola at four learning rates.
fn parabola(figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    writeln!(out, "(x - 3)^2 from x = 0, 30 steps; L = f'' = 2, so the bound is 2/L = 1.0")?;
    writeln!(out, "{:>5}  {:>12}  {:>12}  {:>10}", "lr", "x after", "f after", "|x - 3|")?;
    let guards = Guards::default();
    let mut series = Vec::new();
    for lr in [0.1, 0.5, 1.0, 1.1] {
        let h = descend(Surface::Parabola, &[0.0], lr, 31, &guards)?;
        let x = h.points.last().map_or(f64::NAN, |p| p[0]);
        let f = *h.loss.last().unwrap_or(&f64::NAN);
        let note = match lr {
            0.5 => "one step: lr = 1/L",
            1.0 => "bounces between 0 and 6 forever",
            1.1 => "grows 1.2x per step: diverging",
            _ => "shrinks 0.8x per step",
        };
        writeln!(out, "{lr:>5.2}  {x:>12.6}  {f:>12.6}  {:>10.3e}  {note}", (x - 3.0).abs())?;
        if lr != 0.5 {
            let pts = h.points.iter().zip(&h.loss).take(7).map(|(p, &f)| (p[0], f)).collect();
            series.push(Series::new(format!("lr {lr}"), pts));
        }
    }
    // The curve itself, then the iterates (x_k, f(x_k)) joined in order.
    let curve =
        (0..=100).map(|i| -7.0 + 20.0 * i as f64 / 100.0).map(|x| (x, (x - 3.0) * (x - 3.0))).collect();
    series.insert(0, Series::new("f(x) = (x - 3)^2", curve));
    let chart = LineChart {
        title: "Gradient descent on (x - 3)^2 from x = 0 (first 7 iterates)".into(),
        x_label: "x".into(),
        y_label: "f(x)".into(),
        log_x: false,
        log_y: false,
        series,
    };
    figures.push(("parabola.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 3: the bowl at rates below and near its bound 2/L = 0.2, with every history.
fn bowl(figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    let start = [-3.0, 1.0];
    writeln!(out, "(x - 1)^2 + 5(y + 2)^2 from (-3, 1), 40 steps; L = 10, so the bound is 2/L = 0.2")?;
    writeln!(
        out,
        "{:>5}  {:>24}  {:>12}  {:>10}  {:>10}",
        "lr", "point after", "f after", "|grad|", "next step"
    )?;
    let guards = Guards::default();
    let (mut paths, mut losses) = (Vec::new(), Vec::new());
    let (mut norms, mut ratio) = (Vec::new(), f64::NAN);
    for lr in [0.1, 0.15, 0.19] {
        let h = descend(Surface::Bowl, &start, lr, 41, &guards)?;
        let (p, f) = (h.points.last().cloned().unwrap_or_default(), *h.loss.last().unwrap_or(&f64::NAN));
        let (g, s) =
            (h.grad_norm.last().copied().unwrap_or(f64::NAN), h.step_norm.last().copied().unwrap_or(0.0));
        writeln!(out, "{lr:>5.2}  {:>24}  {f:>12.3e}  {g:>10.3e}  {s:>10.3e}", point(&p))?;
        paths.push(Series::new(format!("lr {lr}"), h.points.iter().map(|p| (p[0], p[1])).collect()));
        losses.push(Series::from_values(format!("lr {lr}"), &h.loss));
        if lr == 0.1 {
            norms.push(Series::from_values("gradient norm, lr 0.1", &h.grad_norm));
            norms.push(Series::from_values("step norm, lr 0.1", &h.step_norm));
            ratio = h.step_norm[0] / h.grad_norm[0];
        }
    }
    let h = descend(Surface::Bowl, &start, 1.0, 41, &guards)?;
    writeln!(out, "{:>5.2}  {:>24}  {}", 1.0, point(h.points.last().map_or(&[][..], |p| p)), ending(&h))?;
    losses.push(Series::from_values("lr 1.0 (stopped)", &h.loss));
    writeln!(out, "lr 0.1: step norm / gradient norm at step 0 = {ratio:.6} (plain GD moves lr x |grad|)")?;

    let f = |x: f64, y: f64| (x - 1.0) * (x - 1.0) + 5.0 * (y + 2.0) * (y + 2.0);
    let contour = ContourChart {
        title: "(x - 1)^2 + 5(y + 2)^2: paths of gradient descent from (-3, 1)".into(),
        f: &f,
        x: (-4.0, 3.0),
        y: (-5.0, 1.5),
        levels: 12,
        paths,
    };
    figures.push(("bowl_paths.svg", contour.to_svg()?));
    let loss_chart = LineChart {
        title: "Loss history on the bowl".into(),
        x_label: "step".into(),
        y_label: "loss (log scale)".into(),
        log_x: false,
        log_y: true,
        series: losses,
    };
    figures.push(("bowl_loss.svg", loss_chart.to_svg()?));
    let norm_chart = LineChart {
        title: "Gradient norm and step norm on the bowl, lr 0.1".into(),
        x_label: "step".into(),
        y_label: "norm (log scale)".into(),
        log_x: false,
        log_y: true,
        series: norms,
    };
    figures.push(("bowl_norms.svg", norm_chart.to_svg()?));
    Ok(out)
}

/// Section 4: what the guards catch, and what they need help with.
fn guards() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: guards
    let start = [-3.0, 1.0];
    // The default guards: a NaN or infinite loss, or a loss 10x the previous one.
    let jump = descend(Surface::Bowl, &start, 1.0, 1000, &Guards::default())?;
    // Without the jump rule only the non-finite rule is left: it fires once f overflows.
    let no_jump = Guards { max_jump: None, ..Guards::default() };
    let overflow = descend(Surface::Bowl, &start, 1.0, 1000, &no_jump)?;
    // ANCHOR_END: guards
    for (name, h) in [("default guards", &jump), ("no jump rule  ", &overflow)] {
        let reason = h.stop.as_ref().map_or("none".to_string(), |r| r.to_string());
        let reason = reason.split(';').next().unwrap_or("").to_string();
        writeln!(out, "lr 1.0, {name}: steps taken {}; {reason}", h.step_norm.len())?;
    }
    let slow = descend(Surface::Parabola, &[0.0], 1.1, 201, &Guards::default())?;
    let last = slow.loss.last().copied().unwrap_or(f64::NAN);
    writeln!(
        out,
        "parabola, lr 1.1: {}; loss after {} steps {last:.3e}",
        ending(&slow),
        slow.loss.len() - 1
    )?;
    Ok(out)
}

/// The checkpoint: a seeded start, gradient descent until the gradient is tiny.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let mut rng = seeded_rng(7);
    let start = Tensor::<f64>::rand_uniform([2], -5.0, 5.0, &mut rng)?;
    let h = descend(Surface::Bowl, start.data(), 0.1, 1000, &Guards::default())?;
    let steps = h.grad_norm.iter().position(|&g| g < 1e-8).unwrap_or(h.grad_norm.len());
    // ANCHOR_END: checkpoint
    writeln!(out, "seed 7, start {}", point(start.data()))?;
    writeln!(out, "lr 0.1: |grad| < 1e-8 after {steps} steps")?;
    writeln!(out, "point {}, f = {:.3e}", point(&h.points[steps]), h.loss[steps])?;
    writeln!(
        out,
        "known minimum (1, -2): {}",
        Surface::Bowl.minimum().is_some_and(|m| point(&m) == point(&h.points[steps]))
    )?;
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    let texts = vec![
        ("gradients.txt", gradients()?),
        ("parabola.txt", parabola(&mut figures)?),
        ("bowl.txt", bowl(&mut figures)?),
        ("guards.txt", guards()?),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch01")
}

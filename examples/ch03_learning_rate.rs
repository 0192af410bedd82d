//! Book, chapter 3: learning rate, batch size, stopping.
//!
//! ```sh
//! cargo run --release --example ch03_learning_rate            # writes book/src/generated/ch03/
//! cargo run --release --example ch03_learning_rate -- DIR     # or into DIR
//! ```
//!
//! On the standardized diabetes data (linear regression, half-MSE): full-batch gradient descent,
//! SGD and mini-batches compared by examples seen and by updates; learning-rate sweeps for three
//! batch sizes against the bound 2/L; constant, step, exponential, cosine and warmup schedules;
//! then a small network that overfits, stopped early with the best epoch restored; every run in
//! one tuning log. Everything it prints is also written, section by section, as text files next
//! to the SVG figures; `tests/book_ch03.rs` checks that the committed copies are up to date.
//! Wall-clock times are printed to standard output only (they differ run to run).

use std::error::Error;
use std::fmt::Write as _;
use std::time::Instant;

use downhill::nn::{Activation, Init, LinearRegression, Mlp};
use downhill::optim::schedule::{Constant, Cosine, Exponential, Join, LinearWarmup, Schedule, StepDecay};
use downhill::optim::{Sgd, SgdConfig};
use downhill::prelude::{Params, seeded_rng};
use downhill::train::data::{Dataset, SplitOptions, StandardScaler, diabetes_raw};
use downhill::train::doctor::symmetric_eigenvalues;
use downhill::train::fit::{FitConfig, FitResult, Loss, Trainer, fit};
use downhill::train::plot::{LineChart, Series};
use downhill::train::progress::ProgressMode;
use downhill::train::stop::{EarlyStopping, StopReason};
use downhill::train::sweep::{SweepConfig, SweepResult, dataset_loss, lr_sweep};
use downhill::train::tuning::{TuningLog, TuningRow};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// `usize::MAX` rows per batch: every batch is the whole training split.
const FULL: usize = usize::MAX;

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

/// The three splits, standardized with statistics of the training split only.
pub struct Data {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows (choosing rates, schedules, when to stop).
    pub val: Dataset,
    /// Test rows (looked at once, at the end).
    pub test: Dataset,
}

// ANCHOR: data
/// Diabetes (442 patients, 10 features), split 60/20/20 with seed 0; features and target are
/// standardized with the training split's mean and standard deviation.
pub fn data() -> Res<Data> {
    let raw = diabetes_raw()?;
    let (train, val, test) = raw.split(&SplitOptions { val: 0.2, test: 0.2, seed: 0, stratify: false })?;
    let xs = StandardScaler::fit(&train.x)?;
    let ys = StandardScaler::fit(&train.y)?;
    let scale =
        |d: Dataset| -> Res<Dataset> { Ok(Dataset { x: xs.transform(&d.x)?, y: ys.transform(&d.y)?, ..d }) };
    Ok(Data { train: scale(train)?, val: scale(val)?, test: scale(test)? })
}

/// Linear regression with zero weights, one weight per feature of `d`.
fn linear(d: &Dataset) -> downhill::train::Result<(LinearRegression, Params<f64>)> {
    let mut params = Params::new();
    let model = LinearRegression::new(&mut params, "lin", d.n_features())?;
    Ok((model, params))
}
// ANCHOR_END: data

/// `[1, x]ᵀ[1, x] / n` and `[1, x]ᵀ y / n`: the half-MSE of a linear model is a quadratic
/// with this Hessian.
fn normal_equations(d: &Dataset) -> (Vec<f64>, Vec<f64>, usize) {
    let (n, k) = (d.len(), d.n_features() + 1);
    let (mut a, mut b) = (vec![0.0; k * k], vec![0.0; k]);
    for i in 0..n {
        let mut row = vec![1.0];
        row.extend_from_slice(&d.x.data()[i * (k - 1)..(i + 1) * (k - 1)]);
        let y = d.y.data()[i];
        for p in 0..k {
            b[p] += row[p] * y / n as f64;
            for q in 0..k {
                a[p * k + q] += row[p] * row[q] / n as f64;
            }
        }
    }
    (a, b, k)
}

/// Solves the normal equations (Gaussian elimination with partial pivoting): the weights
/// `[bias, w₁, …]` of the least-squares fit, the minimum of the training loss.
fn least_squares(d: &Dataset) -> Vec<f64> {
    let (mut a, mut b, k) = normal_equations(d);
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs())).unwrap_or(c);
        for j in 0..k {
            a.swap(c * k + j, p * k + j);
        }
        b.swap(c, p);
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut w = vec![0.0; k];
    for c in (0..k).rev() {
        let s: f64 = (c + 1..k).map(|j| a[c * k + j] * w[j]).sum();
        w[c] = (b[c] - s) / a[c * k + c];
    }
    w
}

/// The half-MSE of the linear model with weights `[bias, w₁, …]` on `d`.
fn half_mse(w: &[f64], d: &Dataset) -> f64 {
    let f = d.n_features();
    let sq: f64 = (0..d.len())
        .map(|i| {
            let x = &d.x.data()[i * f..(i + 1) * f];
            let pred = w[0] + x.iter().zip(&w[1..]).map(|(x, w)| x * w).sum::<f64>();
            (pred - d.y.data()[i]).powi(2)
        })
        .sum();
    0.5 * sq / d.len() as f64
}

fn batch_name(b: usize) -> String {
    if b == FULL { "full".to_string() } else { b.to_string() }
}

/// Section 1: the data and the two numbers the chapter measures against.
fn data_section(d: &Data) -> Res<(String, f64, f64)> {
    let mut out = String::new();
    let (a, _, k) = normal_equations(&d.train);
    let curvature = symmetric_eigenvalues(&a, k);
    let (l, mu) = (curvature[k - 1], curvature[0]);
    let best = half_mse(&least_squares(&d.train), &d.train);
    let (model, params) = linear(&d.train)?;
    let start = dataset_loss(&model, &params, Loss::HalfMse, &d.train)?;
    writeln!(
        out,
        "diabetes: {} train / {} val / {} test rows, {} features (standardized on train)",
        d.train.len(),
        d.val.len(),
        d.test.len(),
        d.train.n_features()
    )?;
    writeln!(out, "linear regression, half-MSE; loss at zero weights: {start:.4}")?;
    writeln!(out, "least-squares minimum of the training loss: {best:.6}")?;
    writeln!(out, "curvature: largest L = {l:.4}, smallest {mu:.4} (condition number {:.0})", l / mu)?;
    writeln!(out, "full-batch stability bound 2/L = {:.4}", 2.0 / l)?;
    Ok((out, best, 2.0 / l))
}

// ANCHOR: track
/// The training loss over the whole training split after every update of one run.
#[derive(Debug, Default)]
pub struct Track {
    /// Training examples the optimizer has seen so far (rows summed over the updates).
    pub examples: Vec<u64>,
    /// Updates (optimizer steps) so far.
    pub updates: Vec<u64>,
    /// Half-MSE over the whole training split at that point.
    pub loss: Vec<f64>,
}

/// Plain SGD at rate `lr` on batches of `batch` rows (1 is SGD, `FULL` is full-batch gradient
/// descent) for `epochs` epochs; the run is paused after every update to measure it.
pub fn track(d: &Data, batch: usize, lr: f64, epochs: u64) -> Res<(Track, FitResult)> {
    let (model, mut params) = linear(&d.train)?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?;
    let cfg = FitConfig {
        epochs,
        batch_size: batch,
        seed: 0,
        progress: ProgressMode::Never,
        ..FitConfig::default()
    };
    let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::HalfMse, &d.train, Some(&d.val), &cfg)?;
    let (n, rows) = (d.train.len() as u64, batch.min(d.train.len()) as u64);
    let mut tr = Track::default();
    while !t.is_finished() {
        let c = t.cursor(); // (epoch, batch within it) of the next update
        tr.examples.push(c.epoch * n + c.batch as u64 * rows);
        tr.updates.push(t.step_count());
        tr.loss.push(dataset_loss(&model, t.params(), Loss::HalfMse, &d.train)?);
        t.run_until(t.step_count() + 1)?;
    }
    let c = t.cursor();
    tr.examples.push(c.epoch * n + c.batch as u64 * rows);
    tr.updates.push(t.step_count());
    tr.loss.push(dataset_loss(&model, t.params(), Loss::HalfMse, &d.train)?);
    Ok((tr, t.result()))
}
// ANCHOR_END: track

/// The runs of the batch-size comparison: `(batch, lr)`, 10 epochs each.
const BATCH_RUNS: [(usize, f64); 4] = [(1, 0.02), (16, 0.02), (FULL, 0.02), (FULL, 0.4)];
const BATCH_EPOCHS: u64 = 10;

/// Section 2: full batch, SGD and mini-batch on the same data, by examples seen and by updates.
fn batches(
    d: &Data,
    best: f64,
    figures: &mut Vec<(&'static str, String)>,
    log: &mut TuningLog,
) -> Res<String> {
    let mut out = String::new();
    let target = 1.05 * best;
    writeln!(
        out,
        "{BATCH_EPOCHS} epochs of {} rows each; training loss over the whole split",
        d.train.len()
    )?;
    writeln!(out, "target: within 5% of the minimum, loss <= {target:.6}")?;
    writeln!(
        out,
        "{:>5}  {:>5}  {:>8}  {:>8}  {:>10}  {:>10}  {:>18}  {:>17}",
        "batch",
        "lr",
        "updates",
        "examples",
        "train loss",
        "above min",
        "examples to target",
        "updates to target"
    )?;
    let (mut by_examples, mut by_updates) = (Vec::new(), Vec::new());
    for (batch, lr) in BATCH_RUNS {
        let (tr, r) = track(d, batch, lr, BATCH_EPOCHS)?;
        let last = *tr.loss.last().unwrap_or(&f64::NAN);
        let hit = tr.loss.iter().position(|&l| l <= target);
        let show = |v: Option<u64>| v.map_or("never".to_string(), |v| v.to_string());
        writeln!(
            out,
            "{:>5}  {lr:>5}  {:>8}  {:>8}  {last:>10.6}  {:>10.3e}  {:>18}  {:>17}",
            batch_name(batch),
            r.steps,
            tr.examples.last().unwrap_or(&0),
            last - best,
            show(hit.map(|i| tr.examples[i])),
            show(hit.map(|i| tr.updates[i])),
        )?;
        let name = format!("batch {}, lr {lr}", batch_name(batch));
        let excess = |i: usize| tr.loss[i] - best;
        let xs = |v: &[u64]| v.iter().enumerate().map(|(i, &x)| (x as f64, excess(i))).collect::<Vec<_>>();
        by_examples.push(Series::new(name.clone(), xs(&tr.examples)));
        by_updates.push(Series::new(name.clone(), xs(&tr.updates)));
        // ANCHOR: tuning_row
        log.push(
            TuningRow::new(name)
                .hyper("model", "linear")
                .hyper("batch", batch_name(batch))
                .hyper("lr", lr)
                .hyper("schedule", "constant")
                .metric("updates", r.steps as f64)
                .metric("examples", *tr.examples.last().unwrap_or(&0) as f64)
                .metric("train_loss", last)
                .metric("val_loss", r.final_val_loss().unwrap_or(f64::NAN))
                .stop(r.stop.code()),
        );
        // ANCHOR_END: tuning_row
    }
    for (file, x_label, series) in [
        ("batches_examples.svg", "training examples seen (log scale)", by_examples),
        ("batches_updates.svg", "updates (log scale)", by_updates),
    ] {
        let chart = LineChart {
            title: "Linear regression on diabetes: full batch, mini-batch, SGD".into(),
            x_label: x_label.into(),
            y_label: "training loss above the minimum (log)".into(),
            log_x: true,
            log_y: true,
            series,
        };
        figures.push((file, chart.to_svg()?));
    }
    Ok(out)
}

/// Wall-clock time of the batch comparison's runs, for standard output only: it differs from
/// run to run and machine to machine, so it is never written into the book.
fn timing(d: &Data) -> Res<String> {
    let mut out = String::new();
    writeln!(
        out,
        "wall-clock, {BATCH_EPOCHS} epochs, best of 5 (this machine, this run; not in the book's files):"
    )?;
    for (batch, lr) in BATCH_RUNS {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let (model, mut params) = linear(&d.train)?;
            let mut opt = Sgd::new(SgdConfig::lr(lr))?;
            let cfg = FitConfig {
                epochs: BATCH_EPOCHS,
                batch_size: batch,
                progress: ProgressMode::Never,
                ..FitConfig::default()
            };
            let start = Instant::now();
            fit(&model, &mut params, &mut opt, Loss::HalfMse, &d.train, None, &cfg)?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        let examples = (BATCH_EPOCHS as usize * d.train.len()) as f64;
        writeln!(
            out,
            "  batch {:>4}, lr {lr:<4}: {:>8.3} ms, {:>7.3} µs per example",
            batch_name(batch),
            best * 1e3,
            best * 1e6 / examples
        )?;
    }
    Ok(out)
}

// ANCHOR: sweep
/// A learning-rate sweep: 13 rates from 0.001 to 10 (three per decade), 200 updates each, every
/// run from zero weights with the same batch order.
pub fn sweep(d: &Data, batch: usize) -> Res<SweepResult> {
    let cfg = SweepConfig {
        lr_min: 1e-3,
        lr_max: 10.0,
        points: 13,
        steps: 200,
        fit: FitConfig { batch_size: batch, progress: ProgressMode::Never, ..FitConfig::default() },
    };
    Ok(lr_sweep(|| linear(&d.train), |lr| Ok(Sgd::new(SgdConfig::lr(lr))?), Loss::HalfMse, &d.train, &cfg)?)
}
// ANCHOR_END: sweep

/// Section 3: sweeps for three batch sizes, the rates they name and the bound 2/L.
fn sweeps(d: &Data, bound: f64, figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    let sizes = [FULL, 16, 1];
    let results: Vec<SweepResult> = sizes.iter().map(|&b| sweep(d, b)).collect::<Res<_>>()?;
    writeln!(out, "training loss after 200 updates (initial {:.4}; * = unstable)", results[0].initial_loss)?;
    write!(out, "{:>8}", "lr")?;
    for &b in &sizes {
        write!(out, "  {:>16}", format!("batch {}", batch_name(b)))?;
    }
    writeln!(out)?;
    for i in 0..results[0].points.len() {
        write!(out, "{:>8.4}", results[0].points[i].lr)?;
        for r in &results {
            let p = &r.points[i];
            let v = if p.final_loss.abs() < 1e3 {
                format!("{:.4}", p.final_loss)
            } else if p.final_loss.is_finite() {
                format!("{:.1e}", p.final_loss)
            } else {
                format!("{}", p.final_loss)
            };
            let mark = if p.stable { " " } else { "*" };
            write!(out, "  {:>15}{mark}", v)?;
        }
        writeln!(out)?;
    }
    let name = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.4}"));
    for (label, pick) in [
        ("largest stable", &(|r: &SweepResult| r.largest_stable) as &dyn Fn(&SweepResult) -> Option<f64>),
        ("suggested (1/3)", &|r: &SweepResult| r.suggested),
        ("lowest loss", &|r: &SweepResult| r.best_loss_lr),
    ] {
        write!(out, "{label:>16}")?;
        for r in &results {
            write!(out, "  {:>16}", name(pick(r)))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "full-batch bound 2/L = {bound:.4}")?;
    for (r, &b) in results.iter().zip(&sizes) {
        if let Some(p) = r.points.iter().find(|p| !p.stable) {
            let why = p.stop.to_string();
            let why =
                if p.stop.diverged() { why.split(';').next().unwrap_or("") } else { "loss above the start" };
            writeln!(out, "first unstable rate, batch {:>4}: {:.4} ({why})", batch_name(b), p.lr)?;
        }
    }
    // The chart: one curve per batch size, its largest stable rate as a vertical line of the
    // same colour (a NaN point breaks the line), the initial loss and the bound 2/L.
    let initial = results[0].initial_loss;
    let (lo, hi) = (1e-3, 10.0);
    let ceiling = 2.0 * initial;
    let mut series = Vec::new();
    for (r, &b) in results.iter().zip(&sizes) {
        let mut pts: Vec<(f64, f64)> = r
            .points
            .iter()
            .map(|p| (p.lr, if p.final_loss <= ceiling { p.final_loss } else { f64::NAN }))
            .collect();
        let mut label = format!("batch {}", batch_name(b));
        if let Some(s) = r.largest_stable {
            pts.push((f64::NAN, f64::NAN));
            pts.extend([(s, 0.2), (s, ceiling)]);
            label = format!("{label}; largest stable {s:.3}");
        }
        series.push(Series::new(label, pts));
    }
    series.push(Series::new("loss at the start", vec![(lo, initial), (hi, initial)]));
    series.push(Series::new(format!("2/L = {bound:.3}"), vec![(bound, 0.2), (bound, ceiling)]));
    let chart = LineChart {
        title: "Learning-rate sweep, 200 updates per rate (losses above 1 not drawn)".into(),
        x_label: "learning rate (log scale)".into(),
        y_label: "training loss after 200 updates".into(),
        log_x: true,
        log_y: false,
        series,
    };
    figures.push(("sweep.svg", chart.to_svg()?));
    Ok(out)
}

/// The schedules' settings: batch 16, 20 epochs of 17 updates.
const SCHED_BATCH: usize = 1;
const SCHED_EPOCHS: u64 = 10;
const LR0: f64 = 0.05;

// ANCHOR: schedules
/// Six ways to set the rate of update `step` of a run of `total` updates, all starting from
/// (or warming up to) `lr`, the decaying ones ending near `lr / 100`.
pub fn schedules(lr: f64, total: u64) -> Res<Vec<(&'static str, Box<dyn Schedule>)>> {
    let warmup = total / 20;
    let third = total.div_ceil(3);
    Ok(vec![
        ("constant", Box::new(Constant::new(lr)?)),
        ("constant lr/10", Box::new(Constant::new(lr / 10.0)?)),
        // ×0.1 after each third of the run: lr, lr/10, lr/100.
        ("step", Box::new(StepDecay::with_gamma(lr, third, 0.1)?)),
        // ×γ every update, γ chosen to reach lr/100 at the last update.
        ("exponential", Box::new(Exponential::new(lr, 0.01f64.powf(1.0 / (total - 1) as f64))?)),
        // Half a cosine from lr down to the floor lr/100.
        ("cosine", Box::new(Cosine::with_floor(lr, total - 1, lr / 100.0)?)),
        // 5% of the run rising linearly from 0 to lr, then the cosine over the rest.
        (
            "warmup + cosine",
            Box::new(Join::new(
                vec![
                    Box::new(LinearWarmup::with(lr, warmup, 0.0)?),
                    Box::new(Cosine::with_floor(lr, total - 1 - warmup, lr / 100.0)?),
                ],
                vec![warmup],
            )?),
        ),
    ])
}
// ANCHOR_END: schedules

/// Section 4: the schedules' rates, and what each does to the same mini-batch run.
fn schedule_section(
    d: &Data,
    best: f64,
    figures: &mut Vec<(&'static str, String)>,
    log: &mut TuningLog,
) -> Res<String> {
    let mut out = String::new();
    let per_epoch = d.train.len().div_ceil(SCHED_BATCH) as u64;
    let total = SCHED_EPOCHS * per_epoch;
    writeln!(
        out,
        "batch {SCHED_BATCH}, {SCHED_EPOCHS} epochs x {per_epoch} updates = {total} updates, lr {LR0}"
    )?;
    let third = total.div_ceil(3);
    let at = [0, total / 40, total / 20, third - 1, third, total / 2, 2 * third, total - 1];
    write!(out, "{:>16}", "lr_at(step):")?;
    for s in at {
        write!(out, "  {s:>7}")?;
    }
    writeln!(out)?;
    let mut curves = Vec::new();
    for (name, s) in schedules(LR0, total)? {
        write!(out, "{name:>16}")?;
        for step in at {
            write!(out, "  {:>7.5}", s.lr_at(step))?;
        }
        writeln!(out)?;
        // Every 10th update and both sides of every break is enough to draw the curves.
        let breaks = [third - 1, third, 2 * third - 1, 2 * third, total / 20, total - 1];
        let ks = (0..total).filter(|k| k % 10 == 0 || breaks.contains(k));
        curves.push(Series::new(name, ks.map(|k| (k as f64, s.lr_at(k))).collect()));
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>16}  {:>10}  {:>10}  {:>8}  {:>22}",
        "schedule", "train loss", "above min", "val loss", "train loss, epochs 6-9"
    )?;
    for (name, schedule) in schedules(LR0, total)? {
        // ANCHOR: with_schedule
        let (model, mut params) = linear(&d.train)?;
        // The schedule drives the rate; the optimizer's own lr is then unused.
        let mut opt = Sgd::new(SgdConfig::lr(LR0))?.with_schedule(schedule);
        let cfg = FitConfig {
            epochs: SCHED_EPOCHS,
            batch_size: SCHED_BATCH,
            progress: ProgressMode::Never,
            ..FitConfig::default()
        };
        let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d.train, Some(&d.val), &cfg)?;
        // ANCHOR_END: with_schedule
        let train = r.final_train_loss().unwrap_or(f64::NAN);
        let val = r.final_val_loss().unwrap_or(f64::NAN);
        let tail: Vec<String> =
            r.log.epochs[r.log.epochs.len() - 4..].iter().map(|e| format!("{:.4}", e.train_loss)).collect();
        writeln!(
            out,
            "{name:>16}  {train:>10.6}  {:>10.3e}  {val:>8.4}  {:>22}",
            train - best,
            tail.join(" ")
        )?;
        log.push(
            TuningRow::new(format!("batch {SCHED_BATCH}, {name}"))
                .hyper("model", "linear")
                .hyper("batch", SCHED_BATCH)
                .hyper("lr", if name == "constant lr/10" { LR0 / 10.0 } else { LR0 })
                .hyper("schedule", if name == "constant lr/10" { "constant" } else { name })
                .metric("updates", r.steps as f64)
                .metric("examples", (SCHED_EPOCHS as usize * d.train.len()) as f64)
                .metric("train_loss", train)
                .metric("val_loss", val)
                .stop(r.stop.code()),
        );
    }
    // A schedule is checked when it is built: a floor above the starting rate is an error.
    match Cosine::with_floor(LR0, total, 0.5) {
        Ok(_) => writeln!(out, "\nCosine::with_floor({LR0}, {total}, 0.5) was accepted")?,
        Err(e) => writeln!(out, "\nCosine::with_floor({LR0}, {total}, 0.5): {e}")?,
    }
    let chart = LineChart {
        title: format!("Learning-rate schedules, lr_at(step) over {total} updates"),
        x_label: "update (step)".into(),
        y_label: "learning rate".into(),
        log_x: false,
        log_y: false,
        series: curves,
    };
    figures.push(("schedules.svg", chart.to_svg()?));
    Ok(out)
}

/// The network of the early-stopping section: 10 inputs, 128 ReLU units, 1 output.
const SIZES: [usize; 3] = [10, 128, 1];
const NET_EPOCHS: u64 = 200;

// ANCHOR: early
/// The small network trained with SGD (lr 0.01, batch 16) for at most 200 epochs, stopping early
/// when `early` says so. The same seed gives the same weights and batches every call.
pub fn train_net(d: &Data, early: Option<EarlyStopping>) -> Res<(Mlp, Params<f64>, FitResult)> {
    let mut params = Params::new();
    let net = Mlp::new(&mut params, "mlp", &SIZES, Activation::Relu, Init::HeNormal, &mut seeded_rng(1))?;
    let mut opt = Sgd::new(SgdConfig::lr(0.01))?;
    let cfg = FitConfig {
        epochs: NET_EPOCHS,
        batch_size: 16,
        early_stopping: early,
        progress: ProgressMode::Never,
        ..FitConfig::default()
    };
    let r = fit(&net, &mut params, &mut opt, Loss::HalfMse, &d.train, Some(&d.val), &cfg)?;
    Ok((net, params, r))
}
// ANCHOR_END: early

/// A tuning-log row for a run of the network: the losses are those of the weights it returned.
fn net_row(name: &str, r: &FitResult, n: usize, patience: Option<usize>, train: f64, val: f64) -> TuningRow {
    let mut row = TuningRow::new(name)
        .hyper("model", "mlp 10-128-1")
        .hyper("batch", 16)
        .hyper("lr", 0.01)
        .hyper("schedule", "constant")
        .metric("updates", r.steps as f64)
        .metric("examples", (r.epochs as usize * n) as f64) // runs stop at the end of an epoch
        .metric("train_loss", train)
        .metric("val_loss", val)
        .stop(r.stop.code());
    if let Some(p) = patience {
        row = row.hyper("patience", p);
    }
    row
}

/// Section 5: the network overfits; early stopping with patience, min_delta and restore_best.
fn early_section(d: &Data, figures: &mut Vec<(&'static str, String)>, log: &mut TuningLog) -> Res<String> {
    let mut out = String::new();
    let (_, params, full) = train_net(d, None)?;
    let n_params: usize = params.iter().map(|(_, _, t)| t.data().len()).sum();
    writeln!(out, "MLP {SIZES:?}, {n_params} parameters, {} training rows", d.train.len())?;
    let val: Vec<f64> = full.log.epochs.iter().map(|e| e.val_loss.unwrap_or(f64::NAN)).collect();
    let train: Vec<f64> = full.log.epochs.iter().map(|e| e.train_loss).collect();
    let (best_epoch, best_val) =
        val.iter().enumerate().fold((0, f64::INFINITY), |b, (i, &v)| if v < b.1 { (i, v) } else { b });
    let last = val.len() - 1;
    writeln!(out, "no early stopping, {NET_EPOCHS} epochs: train {:.4}, val {:.4}", train[last], val[last])?;
    writeln!(
        out,
        "lowest val loss {best_val:.4} at epoch {best_epoch} (train {:.4} there)",
        train[best_epoch]
    )?;
    let w = least_squares(&d.train);
    writeln!(out, "(the linear least-squares fit: val loss {:.4})", half_mse(&w, &d.val))?;
    log.push(net_row("MLP, no early stopping", &full, d.train.len(), None, train[last], val[last]));
    writeln!(out)?;
    writeln!(
        out,
        "{:>8}  {:>9}  {:>7}  {:>10}  {:>10}  {:>9}  {:>14}",
        "patience", "min_delta", "restore", "stopped at", "best epoch", "best val", "val after stop"
    )?;
    let mut stops = Vec::new();
    for (patience, min_delta, restore_best) in [
        (5, 0.0, true),
        (10, 0.0, true),
        (20, 0.0, true),
        (40, 0.0, true),
        (20, 0.005, true),
        (20, 0.0, false),
    ] {
        // ANCHOR: patience
        let es = EarlyStopping { patience, min_delta, restore_best };
        let (net, params, r) = train_net(d, Some(es))?;
        // With restore_best the weights are those of the best epoch, not of the last one.
        let val_now = dataset_loss(&net, &params, Loss::HalfMse, &d.val)?;
        // ANCHOR_END: patience
        let stopped = r.epochs - 1;
        let (best_epoch, best_loss) = match r.stop {
            StopReason::EarlyStopping { best_epoch, best_loss } => (best_epoch, best_loss),
            _ => (u64::MAX, f64::NAN),
        };
        writeln!(
            out,
            "{patience:>8}  {min_delta:>9}  {restore_best:>7}  {stopped:>10}  {best_epoch:>10}  {best_loss:>9.4}  {val_now:>14.4}"
        )?;
        if (patience, min_delta, restore_best) == (20, 0.0, true) {
            stops.push((stopped, best_epoch));
        }
        let train_now = dataset_loss(&net, &params, Loss::HalfMse, &d.train)?;
        let name = format!("MLP, patience {patience}, min_delta {min_delta}, restore {restore_best}");
        log.push(net_row(&name, &r, d.train.len(), Some(patience), train_now, val_now));
    }
    // The model chosen on validation is measured once on the test split.
    let es = EarlyStopping { patience: 20, min_delta: 0.0, restore_best: true };
    let (net, params, _) = train_net(d, Some(es.clone()))?;
    let test_loss = dataset_loss(&net, &params, Loss::HalfMse, &d.test)?;
    writeln!(out)?;
    writeln!(
        out,
        "test loss: MLP (patience 20, restored) {test_loss:.4}; linear least squares {:.4}",
        half_mse(&w, &d.test)
    )?;

    // Early stopping needs data it does not train on.
    let (net2, mut p2) = {
        let mut p = Params::<f64>::new();
        (Mlp::new(&mut p, "mlp", &SIZES, Activation::Relu, Init::HeNormal, &mut seeded_rng(1))?, p)
    };
    let mut opt = Sgd::new(SgdConfig::lr(0.01))?;
    // ANCHOR: no_val
    let cfg = FitConfig { early_stopping: Some(es), progress: ProgressMode::Never, ..FitConfig::default() };
    // No validation set passed (None): fit refuses before taking a step.
    let err = fit(&net2, &mut p2, &mut opt, Loss::HalfMse, &d.train, None, &cfg);
    // ANCHOR_END: no_val
    match err {
        Ok(_) => writeln!(out, "early stopping without a validation set ran")?,
        Err(e) => writeln!(out, "early stopping without a validation set: {e}")?,
    }

    let (stopped, best) = stops.first().copied().unwrap_or((0, 0));
    let (lo, hi) = train.iter().chain(&val).fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let chart = LineChart {
        title: "MLP on diabetes: training and validation loss per epoch".into(),
        x_label: "epoch".into(),
        y_label: "half-MSE".into(),
        log_x: false,
        log_y: false,
        series: vec![
            Series::from_values("training loss", &train),
            Series::from_values("validation loss", &val),
            Series::new(format!("best epoch {best} (restored)"), vec![(best as f64, lo), (best as f64, hi)]),
            Series::new(
                format!("patience 20 stops after epoch {stopped}"),
                vec![(stopped as f64, lo), (stopped as f64, hi)],
            ),
        ],
    };
    figures.push(("early_stopping.svg", chart.to_svg()?));
    Ok(out)
}

/// The checkpoint: sweep a batch size the chapter did not use, take the suggested rate, decay it
/// with a cosine schedule, and measure the result.
fn checkpoint(d: &Data, best: f64) -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let batch = 32;
    let s = sweep(d, batch)?;
    let lr = s.suggested.ok_or("no stable rate: sweep lower")?;
    let epochs = 20;
    let total = epochs * d.train.len().div_ceil(batch) as u64;
    let (model, mut params) = linear(&d.train)?;
    let mut opt = Sgd::new(SgdConfig::lr(lr))?.with_schedule(Cosine::with_floor(lr, total - 1, lr / 100.0)?);
    let cfg = FitConfig { epochs, batch_size: batch, progress: ProgressMode::Never, ..FitConfig::default() };
    let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d.train, Some(&d.val), &cfg)?;
    // ANCHOR_END: checkpoint
    let train = r.final_train_loss().unwrap_or(f64::NAN);
    writeln!(
        out,
        "batch {batch}: largest stable {:.4}, suggested {lr:.4}",
        s.largest_stable.unwrap_or(f64::NAN)
    )?;
    writeln!(out, "cosine from {lr:.4} to {:.6} over {total} updates ({} epochs)", lr / 100.0, r.epochs)?;
    writeln!(out, "train loss {train:.6} ({:.3e} above the minimum)", train - best)?;
    writeln!(out, "val loss {:.4}; stop: {}", r.final_val_loss().unwrap_or(f64::NAN), r.stop.code())?;
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let d = data()?;
    let mut figures = Vec::new();
    let mut log = TuningLog::new();
    let (data_text, best, bound) = data_section(&d)?;
    let texts = vec![
        ("data.txt", data_text),
        ("batches.txt", batches(&d, best, &mut figures, &mut log)?),
        ("sweep.txt", sweeps(&d, bound, &mut figures)?),
        ("schedules.txt", schedule_section(&d, best, &mut figures, &mut log)?),
        ("early_stopping.txt", early_section(&d, &mut figures, &mut log)?),
        ("tuning.md", log.to_markdown()),
        ("checkpoint.txt", checkpoint(&d, best)?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch03")?;
    println!("\n{}", timing(&data()?)?);
    Ok(())
}

//! The learning-rate sweep: train briefly at log-spaced rates from the same starting point and
//! find where training stops being stable.
//!
//! Each rate gets a fresh model and optimizer from the caller's closures (so every rate starts
//! from the same initial parameters, with the same batch order) and a short budget of optimizer
//! steps through [`fit`]. The sweep records the whole-split training loss after the budget and
//! whether the run was stable, then names two rates:
//!
//! - **largest stable rate**: the largest swept rate such that it *and every smaller swept rate*
//!   are stable. A rate is stable when [`fit`] did not stop on a divergence guard, the final
//!   training loss is finite, and it is no larger than the loss at the initial parameters
//!   (training made progress rather than bouncing uphill). Requiring every smaller rate to be
//!   stable too keeps one lucky rate above an unstable region from being named.
//! - **suggested rate**: a third of the largest stable rate. At the edge of stability gradient
//!   descent oscillates (for a quadratic the bound is `2/L` and the fastest rate is `1/L`), and a
//!   short sweep overestimates what a long run tolerates; a factor of 3 leaves margin on both
//!   counts. [`SweepResult::best_loss_lr`] also names the stable rate with the lowest final loss,
//!   which is the better choice when the budget of the real run matches the sweep's.
//!
//! ```
//! use downhill_nn::LinearRegression;
//! use downhill_optim::{Sgd, SgdConfig};
//! use downhill_tensor::Params;
//! use downhill_train::data::{Dataset, StandardScaler, diabetes_raw};
//! use downhill_train::fit::{FitConfig, Loss};
//! use downhill_train::sweep::{SweepConfig, lr_sweep};
//!
//! # fn main() -> downhill_train::Result<()> {
//! let raw = diabetes_raw()?;
//! let scaler = StandardScaler::fit(&raw.x)?;
//! let data = Dataset { x: scaler.transform(&raw.x)?, ..raw };
//! let cfg = SweepConfig { lr_min: 1e-3, lr_max: 10.0, points: 9, steps: 30,
//!     fit: FitConfig { batch_size: usize::MAX, ..FitConfig::default() } };
//! let sweep = lr_sweep(
//!     || {
//!         let mut params = Params::<f64>::new();
//!         let model = LinearRegression::new(&mut params, "lin", 10)?;
//!         Ok((model, params))
//!     },
//!     |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
//!     Loss::HalfMse,
//!     &data,
//!     &cfg,
//! )?;
//! let largest = sweep.largest_stable.expect("small rates are stable");
//! assert!(largest >= 0.1 && largest < 10.0);
//! assert_eq!(sweep.suggested, Some(largest / 3.0));
//! # Ok(()) }
//! ```

use downhill_nn::Module;
use downhill_optim::Optimizer;
use downhill_tensor::{Float, Params, Tape};

use crate::data::Dataset;
use crate::fit::{FitConfig, Loss, fit};
use crate::plot::{LineChart, Series};
use crate::stop::StopReason;
use crate::{Error, Result};

/// `n` rates from `lo` to `hi` (both included), evenly spaced on a log scale.
pub fn log_space(lo: f64, hi: f64, n: usize) -> Result<Vec<f64>> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) || n == 0 || (n == 1 && hi != lo) {
        return Err(Error::InvalidArgument {
            op: "log_space",
            message: format!(
                "needs 0 < lo <= hi, both finite, and at least 2 points unless lo == hi; got lo {lo}, hi {hi}, {n} points"
            ),
        });
    }
    if n == 1 {
        return Ok(vec![lo]);
    }
    // Base-10 exponents, so rates on whole decades come out exact (1e-2, 0.1, 1).
    let (a, b) = (lo.log10(), hi.log10());
    Ok((0..n)
        .map(|i| match i {
            0 => lo,
            i if i + 1 == n => hi,
            i => 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64),
        })
        .collect())
}

/// The loss (without any penalty) of `model` on the whole of `data`.
pub fn dataset_loss<T: Float, M: Module<T> + ?Sized>(
    model: &M,
    params: &Params<T>,
    loss: Loss,
    data: &Dataset,
) -> Result<f64> {
    let labels = if matches!(loss, Loss::CrossEntropy) { data.labels()? } else { Vec::new() };
    let tape = Tape::<T>::new();
    let x = tape.constant(&data.x.cast::<T>());
    let y = tape.constant(&data.y.cast::<T>());
    let l = loss.eval(model.forward(&tape, params, x), y, &labels);
    Ok(l.item()?.f64())
}

/// [`SweepResult::to_svg`] draws final losses up to this many times the initial loss.
pub const SWEEP_CHART_CAP: f64 = 100.0;

/// How to sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// The smallest rate (default 1e-4).
    pub lr_min: f64,
    /// The largest rate (default 10).
    pub lr_max: f64,
    /// How many rates, log-spaced from `lr_min` to `lr_max` (default 11: two per decade).
    pub points: usize,
    /// Optimizer steps per rate (default 100).
    pub steps: u64,
    /// Batch size, seed, guards and L2 of every run; its `epochs`, `max_steps` and
    /// `early_stopping` are replaced by the sweep's budget.
    pub fit: FitConfig,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig { lr_min: 1e-4, lr_max: 10.0, points: 11, steps: 100, fit: FitConfig::default() }
    }
}

/// One rate of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// The learning rate.
    pub lr: f64,
    /// Training loss over the whole training split after the run (NaN or ∞ if it blew up).
    pub final_loss: f64,
    /// Steps actually taken (fewer than the budget when a guard stopped the run).
    pub steps: u64,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Whether the run counts as stable (see the module docs for the rule).
    pub stable: bool,
}

/// Every rate's outcome and the rates the sweep names.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
    /// The training loss at the initial parameters (the same for every rate).
    pub initial_loss: f64,
    /// One point per rate, smallest rate first.
    pub points: Vec<SweepPoint>,
    /// The largest rate that is stable along with every smaller swept rate (`None` if the
    /// smallest rate is already unstable: sweep lower).
    pub largest_stable: Option<f64>,
    /// A third of [`SweepResult::largest_stable`].
    pub suggested: Option<f64>,
    /// The stable rate with the lowest final loss (the first on a tie).
    pub best_loss_lr: Option<f64>,
}

impl SweepResult {
    /// Final loss against rate, for [`LineChart`] (log-log). Unstable rates whose loss is not
    /// finite have no point; the chart skips them.
    pub fn series(&self) -> Series {
        Series::new(
            "final training loss",
            self.points.iter().filter(|p| p.final_loss.is_finite()).map(|p| (p.lr, p.final_loss)).collect(),
        )
    }

    /// The sweep as an SVG chart: final loss against rate on log axes, with the initial loss and
    /// the largest stable rate marked. Final losses are drawn only up to [`SWEEP_CHART_CAP`]
    /// times the initial loss, so that one diverged run (a loss of 1e30 is finite) does not
    /// squash the rest into a flat line: runs that diverged (stopped by a divergence guard, a
    /// non-finite loss) or ended above the cap are marked with a cross, at the cap if above it.
    pub fn to_svg(&self) -> Result<String> {
        let (lo, hi) = match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) => (a.lr, b.lr),
            _ => (1.0, 1.0),
        };
        let cap = if self.initial_loss.is_finite() && self.initial_loss > 0.0 {
            SWEEP_CHART_CAP * self.initial_loss
        } else {
            f64::INFINITY
        };
        let shown = |v: f64| v.is_finite() && v <= cap;
        // Above the cap the line breaks (a NaN point), rather than joining its neighbours.
        let line =
            self.points.iter().map(|p| (p.lr, if shown(p.final_loss) { p.final_loss } else { f64::NAN }));
        let mut series = vec![
            Series::new("final training loss", line.collect()),
            Series::new("initial loss", vec![(lo, self.initial_loss), (hi, self.initial_loss)]),
        ];
        let diverged: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.stop.diverged() || !shown(p.final_loss))
            .map(|p| (p.lr, if shown(p.final_loss) { p.final_loss } else { cap.min(f64::MAX) }))
            .collect();
        if !diverged.is_empty() {
            let name = if cap.is_finite() {
                format!("diverged (drawn at {SWEEP_CHART_CAP}x the initial loss if above)")
            } else {
                "diverged".to_string()
            };
            series.push(Series::new(name, diverged).markers());
        }
        if let Some(r) = self.largest_stable {
            let ys: Vec<f64> =
                self.points.iter().map(|p| p.final_loss).filter(|&v| shown(v) && v > 0.0).collect();
            let (ymin, ymax) =
                ys.iter().fold((self.initial_loss, self.initial_loss), |(a, b), &v| (a.min(v), b.max(v)));
            series.push(Series::new(format!("largest stable rate {r:.3e}"), vec![(r, ymin), (r, ymax)]));
        }
        LineChart {
            title: "learning-rate sweep".to_string(),
            x_label: "learning rate".to_string(),
            y_label: "training loss after the budget".to_string(),
            log_x: true,
            log_y: true,
            series,
        }
        .to_svg()
    }

    /// One CSV row per rate: `lr,final_loss,steps,stop,stable` (deterministic text).
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let err =
            |e: csv::Error| Error::InvalidArgument { op: "SweepResult::to_csv", message: e.to_string() };
        w.write_record(["lr", "final_loss", "steps", "stop", "stable"]).map_err(err)?;
        for p in &self.points {
            w.write_record([
                p.lr.to_string(),
                p.final_loss.to_string(),
                p.steps.to_string(),
                p.stop.code().to_string(),
                p.stable.to_string(),
            ])
            .map_err(err)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::InvalidArgument { op: "SweepResult::to_csv", message: e.to_string() })?;
        String::from_utf8(bytes)
            .map_err(|e| Error::InvalidArgument { op: "SweepResult::to_csv", message: e.to_string() })
    }
}

/// Runs the sweep: for each rate, `make_model()` builds the model and its parameters (it must
/// give the same initial parameters every call, e.g. from a fixed seed), `make_opt(lr)` the
/// optimizer, and [`fit`] trains for `cfg.steps` steps.
///
/// Errors from the closures or from [`fit`] (misuse such as a shape mismatch) end the sweep; a
/// diverging run does not, it is a data point.
pub fn lr_sweep<T, M, O>(
    mut make_model: impl FnMut() -> Result<(M, Params<T>)>,
    mut make_opt: impl FnMut(f64) -> Result<O>,
    loss: Loss,
    train: &Dataset,
    cfg: &SweepConfig,
) -> Result<SweepResult>
where
    T: Float,
    M: Module<T>,
    O: Optimizer<T>,
{
    if cfg.steps == 0 {
        return Err(Error::InvalidArgument {
            op: "lr_sweep",
            message: "steps must be at least 1 (typical: 50 to 200)".to_string(),
        });
    }
    let rates = log_space(cfg.lr_min, cfg.lr_max, cfg.points)?;
    let n = train.len().max(1);
    let per_epoch = if cfg.fit.batch_size >= n { 1 } else { n.div_ceil(cfg.fit.batch_size.max(1)) as u64 };
    let fit_cfg = FitConfig {
        epochs: cfg.steps.div_ceil(per_epoch),
        max_steps: Some(cfg.steps),
        early_stopping: None,
        ..cfg.fit.clone()
    };
    let (model, params) = make_model()?;
    let initial_loss = dataset_loss(&model, &params, loss, train)?;
    let mut points = Vec::with_capacity(rates.len());
    for lr in rates {
        let (model, mut params) = make_model()?;
        let mut opt = make_opt(lr)?;
        let r = fit(&model, &mut params, &mut opt, loss, train, None, &fit_cfg)?;
        let final_loss = if r.stop.diverged() {
            // The guard may have stopped on a finite jump: report what the parameters give now.
            dataset_loss(&model, &params, loss, train).unwrap_or(f64::NAN)
        } else {
            dataset_loss(&model, &params, loss, train)?
        };
        let stable = !r.stop.diverged() && final_loss.is_finite() && final_loss <= initial_loss;
        points.push(SweepPoint { lr, final_loss, steps: r.steps, stop: r.stop, stable });
    }
    let largest_stable = points.iter().take_while(|p| p.stable).last().map(|p| p.lr);
    let best_loss_lr = points
        .iter()
        .filter(|p| p.stable)
        .fold(None::<&SweepPoint>, |best, p| match best {
            Some(b) if b.final_loss <= p.final_loss => Some(b),
            _ => Some(p),
        })
        .map(|p| p.lr);
    Ok(SweepResult {
        initial_loss,
        points,
        largest_stable,
        suggested: largest_stable.map(|r| r / 3.0),
        best_loss_lr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use downhill_nn::LinearRegression;
    use downhill_optim::{Sgd, SgdConfig};

    /// y = 2·x on x with variance `s²`: full-batch GD on half-MSE is stable for lr < 2/s² (the
    /// bias direction has curvature 1, smaller than s² for s > 1).
    fn line(s: f64) -> Dataset {
        let xs: Vec<f64> = (0..20).map(|i| s * (i as f64 - 9.5) / 5.766_281_297_335_398).collect();
        let ys = xs.iter().map(|x| 2.0 * x).collect();
        Dataset::new(vec!["x".into()], "y", xs, ys).unwrap()
    }

    fn sweep(d: &Dataset, cfg: &SweepConfig) -> SweepResult {
        lr_sweep(
            || {
                let mut p = Params::<f64>::new();
                let m = LinearRegression::new(&mut p, "lin", 1)?;
                Ok((m, p))
            },
            |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
            Loss::HalfMse,
            d,
            cfg,
        )
        .unwrap()
    }

    #[test]
    fn log_space_hits_both_ends() {
        let r = log_space(1e-3, 1.0, 4).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!((r[0], r[3]), (1e-3, 1.0));
        assert_eq!((r[1], r[2]), (1e-2, 1e-1));
        assert_eq!(log_space(0.5, 0.5, 1).unwrap(), vec![0.5]);
        for (lo, hi, n) in [(0.0, 1.0, 3), (1.0, 0.1, 3), (1e-3, 1.0, 1), (1e-3, f64::NAN, 3), (1e-3, 1.0, 0)]
        {
            assert!(log_space(lo, hi, n).is_err(), "{lo} {hi} {n}");
        }
    }

    #[test]
    fn names_the_stability_edge_of_gradient_descent() {
        // x has variance 4 (std 2): curvature 4, so GD diverges above lr 0.5.
        let d = line(2.0);
        let cfg = SweepConfig {
            lr_min: 0.01,
            lr_max: 10.0,
            points: 13,
            steps: 40,
            fit: FitConfig { batch_size: usize::MAX, ..FitConfig::default() },
        };
        let s = sweep(&d, &cfg);
        assert_eq!(s.points.len(), 13);
        let edge = s.largest_stable.unwrap();
        assert!(edge < 0.5 && edge > 0.5 / 10f64.powf(0.25) / 1.01, "largest stable {edge}");
        assert_eq!(s.suggested, Some(edge / 3.0));
        // Every rate above the edge is unstable here; every one up to it learned something.
        for p in &s.points {
            assert_eq!(p.stable, p.lr <= edge, "{p:?}");
            if p.stable {
                assert!(p.final_loss < s.initial_loss);
            }
        }
        let best = s.best_loss_lr.unwrap();
        assert!(best <= edge && best > 0.1, "best {best}");
        // Deterministic.
        assert_eq!(s, sweep(&d, &cfg));
        // Chart and table.
        assert!(s.series().points.iter().all(|&(_, y)| y.is_finite()));
        assert!(s.to_svg().unwrap().contains("<svg"));
        let csv = s.to_csv().unwrap();
        assert!(csv.starts_with("lr,final_loss,steps,stop,stable\n0.01,"), "{csv}");
        assert_eq!(csv.lines().count(), 14);
        // Smaller curvature moves the edge up.
        let wide = sweep(&line(0.5), &cfg);
        assert!(wide.largest_stable.unwrap() > edge);
    }

    #[test]
    fn too_high_everywhere_names_no_rate() {
        let cfg = SweepConfig {
            lr_min: 5.0,
            lr_max: 50.0,
            points: 3,
            steps: 20,
            fit: FitConfig { batch_size: usize::MAX, ..FitConfig::default() },
        };
        let s = sweep(&line(2.0), &cfg);
        assert!(s.points.iter().all(|p| !p.stable));
        assert_eq!((s.largest_stable, s.suggested, s.best_loss_lr), (None, None, None));
        let bad = SweepConfig { steps: 0, ..cfg };
        assert!(
            lr_sweep(
                || {
                    let mut p = Params::<f64>::new();
                    Ok((LinearRegression::new(&mut p, "lin", 1)?, p))
                },
                |lr| Ok(Sgd::new(SgdConfig::lr(lr))?),
                Loss::HalfMse,
                &line(1.0),
                &bad,
            )
            .is_err()
        );
    }

    /// The numbers of an SVG's text labels (ticks and legend), e.g. to find the top of an axis.
    fn label_numbers(svg: &str) -> Vec<f64> {
        svg.split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .filter_map(|t| t.trim().parse::<f64>().ok())
            .collect()
    }

    #[test]
    fn the_chart_caps_a_huge_diverged_loss_and_marks_it() {
        let point = |lr: f64, final_loss: f64, stop: StopReason| SweepPoint {
            lr,
            final_loss,
            steps: 10,
            stable: !stop.diverged() && final_loss <= 1.0,
            stop,
        };
        let jump = StopReason::LossJump { step: 3, from: 2.0, to: 1e30 };
        let s = SweepResult {
            initial_loss: 1.0,
            points: vec![
                point(1e-3, 0.9, StopReason::MaxSteps),
                point(1e-2, 0.5, StopReason::MaxSteps),
                point(1e-1, 0.3, StopReason::MaxSteps),
                point(1.0, 1e30, jump),
                point(10.0, f64::NAN, StopReason::NonFinite { step: 1, loss: f64::NAN }),
            ],
            largest_stable: Some(1e-1),
            suggested: Some(1e-1 / 3.0),
            best_loss_lr: Some(1e-1),
        };
        let svg = s.to_svg().unwrap();
        assert!(
            svg.contains("diverged (drawn at 100x the initial loss if above)"),
            "the diverged runs are marked"
        );
        let top = label_numbers(&svg).into_iter().fold(0.0, f64::max);
        assert!(top > 1.0 && top <= 200.0, "the y axis stops near the cap, not at 1e30: top label {top}");
    }
}

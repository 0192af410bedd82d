//! A fair optimizer comparison: several optimizers × several seeds, each run with the same
//! budget, reported as mean and spread.
//!
//! Fair means: for a given seed every optimizer starts from the same initial parameters (the
//! caller's `make_model(seed)`) and sees the same batches in the same order (the run's
//! [`FitConfig::seed`] is set to the seed), and every run gets the same budget:
//!
//! - [`Budget::Updates`] (the default choice, deterministic): exactly that many optimizer
//!   steps, unless a divergence guard stops the run earlier.
//! - [`Budget::WallClock`] (**not deterministic**): each optimizer first runs a timed pilot of
//!   [`CompareConfig::pilot_steps`] steps; the budget divided by its time per step gives its
//!   step count, and the real run takes that many steps. Faster updates get more of them.
//!   Timings vary from run to run and machine to machine, so results do too; the markdown says
//!   so in its first line.
//!
//! Per optimizer the summary gives the mean, sample standard deviation (n − 1; 0 for one seed),
//! min and max of the final training loss and of the final validation loss (each measured over
//! the whole split after the budget, without penalty), over the runs whose loss is finite; the
//! number of diverged runs (a divergence guard fired, or the final training loss is not finite
//! or above the initial one: the rule of the [learning-rate sweep](crate::sweep)); and the steps to reach [`CompareConfig::target_loss`]: the first
//! epoch end at which the whole-split training loss is at or below the target, as a step count
//! (so its resolution is one epoch; use full-batch training for per-step resolution).

use std::time::{Duration, Instant};

use downhill_nn::Module;
use downhill_optim::Optimizer;
use downhill_tensor::{Float, Params};

use crate::data::Dataset;
use crate::fit::{FitConfig, Loss, fit};
use crate::sweep::dataset_loss;
use crate::tuning::{cell, csv_text, short};
use crate::{Error, Result};

/// How much each run may do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// This many optimizer steps (deterministic).
    Updates(u64),
    /// This much time per run, converted to steps by a timed pilot (non-deterministic).
    WallClock(Duration),
}

/// A named optimizer factory: `make()` is called once per run (and once more per seed for the
/// pilot of a wall-clock budget).
pub struct Contender<'a, T: Float> {
    /// The name in the tables.
    pub name: String,
    /// Builds a fresh optimizer.
    pub make: Box<dyn FnMut() -> Result<Box<dyn Optimizer<T>>> + 'a>,
}

impl<'a, T: Float> Contender<'a, T> {
    /// A contender from a closure returning any optimizer.
    pub fn new<O: Optimizer<T> + 'static>(
        name: impl Into<String>,
        mut make: impl FnMut() -> Result<O> + 'a,
    ) -> Self {
        Contender {
            name: name.into(),
            make: Box::new(move || make().map(|o| Box::new(o) as Box<dyn Optimizer<T>>)),
        }
    }
}

/// How to compare.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareConfig {
    /// The seeds: each seeds the initial parameters (through `make_model`) and the batch order.
    pub seeds: Vec<u64>,
    /// The budget of every run.
    pub budget: Budget,
    /// Batch size, guards and L2 of every run; `epochs`, `max_steps`, `seed` and
    /// `early_stopping` are set by the comparison.
    pub fit: FitConfig,
    /// A training loss to reach (for "steps to target"); `None` to skip.
    pub target_loss: Option<f64>,
    /// Steps of the timed pilot for a wall-clock budget (default 20).
    pub pilot_steps: u64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            seeds: vec![0, 1, 2],
            budget: Budget::Updates(500),
            fit: FitConfig::default(),
            target_loss: None,
            pilot_steps: 20,
        }
    }
}

/// One run: an optimizer with a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The contender's name.
    pub optimizer: String,
    /// The seed.
    pub seed: u64,
    /// Steps taken.
    pub steps: u64,
    /// Training loss over the whole split after the run.
    pub train_loss: f64,
    /// Validation loss after the run (when there is a validation set).
    pub val_loss: Option<f64>,
    /// The step count at the first epoch end with training loss ≤ the target.
    pub steps_to_target: Option<u64>,
    /// The stop reason's code.
    pub stop: &'static str,
    /// Whether the run diverged: a divergence guard stopped it, or its final training loss is
    /// not finite or above the loss at its initial parameters (the sweep's rule).
    pub diverged: bool,
}

/// Mean and spread of one quantity over the seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Number of values (finite ones only).
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1), 0 for a single value.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stats {
    /// Statistics of the finite values of `xs` (`None` if there are none).
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let v: Vec<f64> = xs.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Stats { n, mean, std, min, max })
    }
}

/// One optimizer's results over the seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The contender's name.
    pub optimizer: String,
    /// Runs (one per seed).
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Final training loss over the runs with a finite one.
    pub train_loss: Option<Stats>,
    /// Final validation loss over the runs with a finite one.
    pub val_loss: Option<Stats>,
    /// Steps to the target loss over the runs that reached it.
    pub steps_to_target: Option<Stats>,
    /// Runs that reached the target.
    pub reached_target: usize,
    /// Mean steps per run (differs between optimizers only with a wall-clock budget or
    /// divergence).
    pub mean_steps: f64,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The budget used.
    pub budget: Budget,
    /// The target loss, if any.
    pub target_loss: Option<f64>,
    /// Every run, contender by contender, seeds in the given order.
    pub runs: Vec<RunOutcome>,
    /// One summary per contender, in the given order.
    pub summaries: Vec<Summary>,
}

fn stats_cells(s: Option<Stats>, f: &impl Fn(f64) -> String) -> [String; 4] {
    match s {
        Some(s) => [f(s.mean), f(s.std), f(s.min), f(s.max)],
        None => Default::default(),
    }
}

impl Comparison {
    /// True when the results depend on timing (a wall-clock budget).
    pub fn deterministic(&self) -> bool {
        matches!(self.budget, Budget::Updates(_))
    }

    fn budget_text(&self) -> String {
        match self.budget {
            Budget::Updates(n) => format!("equal budget of {n} updates per run (deterministic)"),
            Budget::WallClock(d) => format!(
                "equal wall-clock budget of {:.3} s per run (NOT deterministic: step counts come from timing)",
                d.as_secs_f64()
            ),
        }
    }

    /// The summary as a markdown table, preceded by a line stating the budget.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("Budget: {}.", self.budget_text());
        if let Some(t) = self.target_loss {
            s.push_str(&format!(" Target training loss: {}.", short(t)));
        }
        s.push_str("\n\n| optimizer | runs | diverged | steps | train loss mean ± std | train min | train max | val loss mean ± std | val min | val max | reached target | steps to target mean ± std |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let pm =
            |x: Option<Stats>| x.map_or(String::new(), |x| format!("{} ± {}", short(x.mean), short(x.std)));
        let mm =
            |x: Option<Stats>| x.map_or((String::new(), String::new()), |x| (short(x.min), short(x.max)));
        for r in &self.summaries {
            let (tmin, tmax) = mm(r.train_loss);
            let (vmin, vmax) = mm(r.val_loss);
            let target = if self.target_loss.is_some() {
                format!("{}/{}", r.reached_target, r.runs)
            } else {
                String::new()
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&r.optimizer),
                r.runs,
                r.diverged,
                short(r.mean_steps),
                pm(r.train_loss),
                tmin,
                tmax,
                pm(r.val_loss),
                vmin,
                vmax,
                target,
                pm(r.steps_to_target),
            ));
        }
        s
    }

    /// The summary as CSV: one row per optimizer with mean, std, min and max of each quantity.
    pub fn summary_csv(&self) -> Result<String> {
        let mut records = vec![
            [
                "optimizer",
                "runs",
                "diverged",
                "mean_steps",
                "train_mean",
                "train_std",
                "train_min",
                "train_max",
                "val_mean",
                "val_std",
                "val_min",
                "val_max",
                "reached_target",
                "target_steps_mean",
                "target_steps_std",
                "target_steps_min",
                "target_steps_max",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let f = |v: f64| v.to_string();
        for r in &self.summaries {
            let mut row =
                vec![r.optimizer.clone(), r.runs.to_string(), r.diverged.to_string(), f(r.mean_steps)];
            row.extend(stats_cells(r.train_loss, &f));
            row.extend(stats_cells(r.val_loss, &f));
            row.push(r.reached_target.to_string());
            row.extend(stats_cells(r.steps_to_target, &f));
            records.push(row);
        }
        csv_text("Comparison::summary_csv", &records)
    }

    /// Every run as CSV: optimizer, seed, steps, losses, steps to target, stop, diverged.
    pub fn runs_csv(&self) -> Result<String> {
        let mut records = vec![
            ["optimizer", "seed", "steps", "train_loss", "val_loss", "steps_to_target", "stop", "diverged"]
                .map(String::from)
                .to_vec(),
        ];
        for r in &self.runs {
            records.push(vec![
                r.optimizer.clone(),
                r.seed.to_string(),
                r.steps.to_string(),
                r.train_loss.to_string(),
                r.val_loss.map_or(String::new(), |v| v.to_string()),
                r.steps_to_target.map_or(String::new(), |v| v.to_string()),
                r.stop.to_string(),
                r.diverged.to_string(),
            ]);
        }
        csv_text("Comparison::runs_csv", &records)
    }
}

fn fit_cfg(base: &FitConfig, seed: u64, steps: u64, n: usize) -> FitConfig {
    let n = n.max(1);
    let per_epoch = if base.batch_size >= n { 1 } else { n.div_ceil(base.batch_size.max(1)) as u64 };
    FitConfig {
        epochs: steps.div_ceil(per_epoch).max(1),
        max_steps: Some(steps),
        seed,
        early_stopping: None,
        ..base.clone()
    }
}

/// Runs every contender with every seed at the configured budget and summarizes.
///
/// `make_model(seed)` must build the model and its initial parameters from the seed alone, so
/// all contenders start alike. A diverging run is recorded, not an error; errors from the
/// closures or [`fit`] (misuse) end the comparison.
pub fn compare<T, M>(
    mut make_model: impl FnMut(u64) -> Result<(M, Params<T>)>,
    contenders: &mut [Contender<'_, T>],
    loss: Loss,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &CompareConfig,
) -> Result<Comparison>
where
    T: Float,
    M: Module<T>,
{
    let bad = |message: String| Err(Error::InvalidArgument { op: "compare", message });
    if cfg.seeds.is_empty() {
        return bad("give at least one seed (several, to see the spread)".to_string());
    }
    if contenders.is_empty() {
        return bad("give at least one contender".to_string());
    }
    match cfg.budget {
        Budget::Updates(0) => return bad("the update budget must be at least 1".to_string()),
        Budget::WallClock(d) if d.is_zero() => {
            return bad("the wall-clock budget must be positive".to_string());
        }
        Budget::WallClock(_) if cfg.pilot_steps == 0 => {
            return bad("a wall-clock budget needs pilot_steps >= 1 to time the updates".to_string());
        }
        _ => {}
    }
    let mut runs = Vec::new();
    let mut summaries = Vec::new();
    for c in contenders.iter_mut() {
        let mut mine = Vec::with_capacity(cfg.seeds.len());
        for &seed in &cfg.seeds {
            let steps = match cfg.budget {
                Budget::Updates(n) => n,
                Budget::WallClock(d) => {
                    let (model, mut params) = make_model(seed)?;
                    let mut opt = (c.make)()?;
                    let pilot = fit_cfg(&cfg.fit, seed, cfg.pilot_steps, train.len());
                    let t0 = Instant::now();
                    let r = fit(&model, &mut params, &mut *opt, loss, train, None, &pilot)?;
                    let per_step = t0.elapsed().as_secs_f64() / r.steps.max(1) as f64;
                    ((d.as_secs_f64() / per_step.max(1e-9)).floor() as u64).max(1)
                }
            };
            let (model, mut params) = make_model(seed)?;
            let initial_loss = dataset_loss(&model, &params, loss, train)?;
            let mut opt = (c.make)()?;
            let r = fit(
                &model,
                &mut params,
                &mut *opt,
                loss,
                train,
                val,
                &fit_cfg(&cfg.fit, seed, steps, train.len()),
            )?;
            let train_loss = dataset_loss(&model, &params, loss, train).unwrap_or(f64::NAN);
            let val_loss = val.map(|v| dataset_loss(&model, &params, loss, v).unwrap_or(f64::NAN));
            let steps_to_target = cfg
                .target_loss
                .and_then(|t| r.log.epochs.iter().find(|e| e.train_loss <= t).map(|e| e.steps));
            mine.push(RunOutcome {
                optimizer: c.name.clone(),
                seed,
                steps: r.steps,
                train_loss,
                val_loss,
                steps_to_target,
                stop: r.stop.code(),
                diverged: r.stop.diverged() || !train_loss.is_finite() || train_loss > initial_loss,
            });
        }
        summaries.push(Summary {
            optimizer: c.name.clone(),
            runs: mine.len(),
            diverged: mine.iter().filter(|r| r.diverged).count(),
            train_loss: Stats::of(mine.iter().map(|r| r.train_loss)),
            val_loss: Stats::of(mine.iter().filter_map(|r| r.val_loss)),
            steps_to_target: Stats::of(mine.iter().filter_map(|r| r.steps_to_target.map(|s| s as f64))),
            reached_target: mine.iter().filter(|r| r.steps_to_target.is_some()).count(),
            mean_steps: mine.iter().map(|r| r.steps as f64).sum::<f64>() / mine.len() as f64,
        });
        runs.extend(mine);
    }
    Ok(Comparison { budget: cfg.budget, target_loss: cfg.target_loss, runs, summaries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SplitOptions, Toy, toy};
    use downhill_nn::{Activation, Init, Mlp};
    use downhill_optim::{Adam, AdamConfig, Sgd, SgdConfig};
    use downhill_tensor::seeded_rng;

    fn model(seed: u64) -> Result<(Mlp, Params<f64>)> {
        let mut p = Params::new();
        let m = Mlp::new(
            &mut p,
            "mlp",
            &[2, 8, 1],
            Activation::Tanh,
            Init::XavierUniform,
            &mut seeded_rng(seed),
        )?;
        Ok((m, p))
    }

    fn contenders() -> Vec<Contender<'static, f64>> {
        vec![
            Contender::new("sgd", || Ok(Sgd::new(SgdConfig::lr(0.05))?)),
            Contender::new("adam", || Ok(Adam::new(AdamConfig { lr: 0.05, ..AdamConfig::default() })?)),
            Contender::new("sgd-huge", || Ok(Sgd::new(SgdConfig::lr(1e4))?)),
        ]
    }

    #[test]
    fn equal_updates_are_deterministic_with_mean_and_spread() {
        let d = toy(Toy::Moons, 120, 0.2, 0).unwrap();
        let (tr, va, _) = d.split(&SplitOptions { val: 0.25, test: 0.0, seed: 0, stratify: false }).unwrap();
        let cfg = CompareConfig {
            seeds: vec![1, 2, 3],
            budget: Budget::Updates(60),
            fit: FitConfig { batch_size: 16, ..FitConfig::default() },
            target_loss: Some(0.45),
            pilot_steps: 5,
        };
        let c = compare(model, &mut contenders(), Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        assert_eq!(c.runs.len(), 9);
        assert!(c.deterministic());
        let (sgd, adam, huge) = (&c.summaries[0], &c.summaries[1], &c.summaries[2]);
        for s in [sgd, adam] {
            assert_eq!((s.runs, s.diverged, s.mean_steps), (3, 0, 60.0), "{s:?}");
            let t = s.train_loss.unwrap();
            assert!(t.min <= t.mean && t.mean <= t.max && t.std > 0.0, "{t:?}");
            assert!(s.val_loss.is_some());
        }
        // Adam at this rate beats plain SGD on the same budget, and reaches the target.
        assert!(adam.train_loss.unwrap().mean < sgd.train_loss.unwrap().mean);
        assert!(adam.reached_target > 0);
        assert!(huge.diverged > 0, "{huge:?}");
        // Same seeds, same initial parameters: the seeds' runs differ, and a rerun is identical.
        let again = compare(model, &mut contenders(), Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        assert_eq!(c, again);
        assert_eq!(c.to_markdown(), again.to_markdown());
        let md = c.to_markdown();
        assert!(md.starts_with(
            "Budget: equal budget of 60 updates per run (deterministic). Target training loss: 0.45."
        ));
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 4);
        let runs = c.runs_csv().unwrap();
        assert_eq!(runs.lines().count(), 10);
        assert!(runs.lines().nth(1).unwrap().starts_with("sgd,1,60,"));
        let summary = c.summary_csv().unwrap();
        assert_eq!(summary.lines().count(), 4);
        assert!(summary.starts_with("optimizer,runs,diverged,mean_steps,train_mean,"));
    }

    #[test]
    fn stats_and_wall_clock_and_errors() {
        let s = Stats::of([1.0, 2.0, 3.0, f64::NAN]).unwrap();
        assert_eq!((s.n, s.mean, s.std, s.min, s.max), (3, 2.0, 1.0, 1.0, 3.0));
        assert_eq!(Stats::of([5.0]).unwrap().std, 0.0);
        assert!(Stats::of([f64::INFINITY]).is_none());

        let d = toy(Toy::Xor, 60, 0.1, 0).unwrap();
        let cfg = CompareConfig {
            seeds: vec![0],
            budget: Budget::WallClock(Duration::from_millis(30)),
            fit: FitConfig { batch_size: 20, ..FitConfig::default() },
            target_loss: None,
            pilot_steps: 3,
        };
        let mut cs = contenders();
        let c = compare(model, &mut cs[..2], Loss::BceWithLogits, &d, None, &cfg).unwrap();
        assert!(!c.deterministic());
        assert!(c.to_markdown().contains("NOT deterministic"));
        assert!(c.runs.iter().all(|r| r.steps >= 1 && r.val_loss.is_none()));

        for bad in [
            CompareConfig { seeds: vec![], ..cfg.clone() },
            CompareConfig { budget: Budget::Updates(0), ..cfg.clone() },
            CompareConfig { budget: Budget::WallClock(Duration::ZERO), ..cfg.clone() },
            CompareConfig { pilot_steps: 0, ..cfg.clone() },
        ] {
            assert!(compare(model, &mut cs, Loss::BceWithLogits, &d, None, &bad).is_err(), "{bad:?}");
        }
        assert!(compare(model, &mut [], Loss::BceWithLogits, &d, None, &cfg).is_err());
    }
}

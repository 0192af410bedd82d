//! Checks of a training run, the other half of the case study's checklist: the starting loss,
//! the learning rate (divergence, jumps, mini-batch loss spikes, update/parameter ratio,
//! crawling, including a long slow tail after a fast start), stalls (parameters no gradient
//! reaches, updates of exactly 0, a loss at chance), non-finite values, the train/validation
//! gap, and, given the model, its predictions (outside [0, 1] under a regression loss on 0/1
//! targets, saturated sigmoids) and its hidden units (dead ReLUs, saturated sigmoid/tanh units).
//!
//! - [`check_log`] needs only the [`FitResult`] (its log and stop reason), the loss and the
//!   training split.
//! - [`check_predictions`] evaluates a model on a dataset.
//! - [`check_mlp`] evaluates an [`Mlp`] layer by layer and looks at every hidden unit.
//! - [`check_run`] runs the first two; [`check_run_mlp`] adds [`check_mlp`] for an MLP and names
//!   the hidden units as the cause of a stall they explain.
//!
//! Rank the findings with [`Report::new`](super::Report::new).

use downhill_nn::{Activation, Mlp, Module};
use downhill_tensor::{Float, Params, Tape, Tensor};

use super::{Finding, Severity, Task};
use crate::Result;
use crate::data::Dataset;
use crate::fit::{FitResult, Loss};
use crate::log::StepRecord;

/// A logit beyond ±10 is a saturated sigmoid: σ'(10) ≈ 4.5e-5, so almost no gradient flows.
pub const SATURATED_LOGIT: f64 = 10.0;

/// Rows evaluated by [`check_mlp`] (the first rows of the dataset; enough to see a unit fire).
pub const MLP_ROWS: usize = 4096;

fn ln2() -> f64 {
    std::f64::consts::LN_2
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Steps per epoch of a logged run (1 means full-batch: step losses are comparable).
fn steps_per_epoch(r: &FitResult) -> Option<u64> {
    r.log.epochs.first().map(|e| e.steps)
}

/// The loss a fresh model should start near, with a sentence saying why.
fn expected_start(loss: Loss, train: &Dataset) -> Option<(f64, String)> {
    let y = train.y.data();
    if y.is_empty() {
        return None;
    }
    let n = y.len() as f64;
    match loss {
        Loss::Bce | Loss::BceWithLogits => {
            let p = y.iter().sum::<f64>() / n;
            let h = if p > 0.0 && p < 1.0 { -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()) } else { 0.0 };
            Some((
                ln2(),
                format!(
                    "a model whose outputs start near 0 (probability 1/2) scores ln 2 = {:.4}; predicting the base rate {p:.3} would score {h:.4}",
                    ln2()
                ),
            ))
        }
        Loss::CrossEntropy => {
            let k = train.n_classes().ok()?.max(2);
            Some((
                (k as f64).ln(),
                format!(
                    "with {k} classes and small initial weights every class gets probability ≈ 1/{k}: ln {k} = {:.4}",
                    (k as f64).ln()
                ),
            ))
        }
        Loss::Mse | Loss::HalfMse | Loss::Huber { .. } => {
            let zero: f64 = match loss {
                Loss::Huber { delta } => {
                    y.iter()
                        .map(|v| if v.abs() <= delta { 0.5 * v * v } else { delta * (v.abs() - 0.5 * delta) })
                        .sum::<f64>()
                        / n
                }
                Loss::HalfMse => 0.5 * y.iter().map(|v| v * v).sum::<f64>() / n,
                _ => y.iter().map(|v| v * v).sum::<f64>() / n,
            };
            Some((zero, format!("a model that starts by predicting 0 everywhere scores {zero:.4}")))
        }
    }
}

/// The loss of the best constant prediction (ignoring the inputs): the entropy of the class
/// frequencies under a log-loss, the target variance under MSE (half of it under half-MSE); a model
/// that ends here has learned nothing from its features. `None` for Huber and unusable targets.
fn constant_model_loss(loss: Loss, train: &Dataset) -> Option<f64> {
    let y = train.y.data();
    if y.is_empty() {
        return None;
    }
    let n = y.len() as f64;
    let entropy = |counts: &[f64]| -> f64 {
        counts.iter().filter(|&&c| c > 0.0).map(|&c| -(c / n) * (c / n).ln()).sum()
    };
    match loss {
        Loss::Bce | Loss::BceWithLogits => {
            let pos = y.iter().sum::<f64>();
            Some(entropy(&[pos, n - pos]))
        }
        Loss::CrossEntropy => {
            let labels = train.labels().ok()?;
            let mut counts = vec![0.0; labels.iter().max().map_or(0, |m| m + 1)];
            labels.iter().for_each(|&l| counts[l] += 1.0);
            Some(entropy(&counts))
        }
        Loss::Mse | Loss::HalfMse => {
            let m = y.iter().sum::<f64>() / n;
            let var = y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
            Some(if loss == Loss::HalfMse { var / 2.0 } else { var })
        }
        Loss::Huber { .. } => None,
    }
}

/// The fix of a stall whose cause the log cannot see (see [`check_run_mlp`], which names it).
const STALL_FIX: &str = "find what blocks the gradient: in a ReLU network, dead units (check_mlp counts them; one too-large step can push every pre-activation below 0 for good): lower the learning rate, use He initialization with zero biases, or LeakyReLU; saturated sigmoid/tanh units (standardize the inputs) and probabilities fed to a clipped `bce` (use `bce_with_logits`) block it too";

/// A mini-batch loss this many times the first one is a spike, not batch-to-batch noise.
pub const SPIKE_FACTOR: f64 = 5.0;

/// A late-phase crawl: extrapolating the slowdown of the last half of the run, the loss still has
/// at least this share of what it has gained over the best constant prediction to go.
pub const CRAWL_REMAINING: f64 = 0.05;

/// Mini-batch step losses above [`SPIKE_FACTOR`] times the first: (how many, the worst step).
fn spikes(steps: &[StepRecord]) -> (usize, Option<&StepRecord>) {
    let Some(first) = steps.first().map(|s| s.loss).filter(|l| l.is_finite() && *l > 0.0) else {
        return (0, None);
    };
    let over: Vec<&StepRecord> = steps.iter().filter(|s| s.loss > SPIKE_FACTOR * first).collect();
    (over.len(), over.into_iter().max_by(|a, b| a.loss.total_cmp(&b.loss)))
}

/// The parameter tensors whose gradient vanished over the second half of the run: exactly 0 at
/// every step (`true`), or a median below 1e-8 of the tensor's largest gradient norm (`false`).
fn frozen_params(result: &FitResult) -> Vec<(&str, bool)> {
    let steps = &result.log.steps;
    let half = &steps[steps.len() / 2..];
    if half.len() < 2 {
        return Vec::new();
    }
    let norm = |s: &StepRecord, j: usize| s.param_grad_norms.get(j).copied().unwrap_or(f64::NAN);
    (0..result.log.params.len())
        .filter_map(|j| {
            let exact = half.iter().all(|s| norm(s, j) == 0.0);
            let peak = steps.iter().map(|s| norm(s, j)).filter(|v| v.is_finite()).fold(0.0, f64::max);
            let vanished = median(half.iter().map(|s| norm(s, j)).collect()).is_some_and(|m| m < 1e-8 * peak);
            (exact || vanished).then_some((result.log.params[j].as_str(), exact))
        })
        .collect()
}

/// The late-phase crawl of a run whose per-epoch training loss still falls steadily: the loss at
/// three points a quarter of the run apart, and how much it still has to fall if each quarter
/// keeps shrinking the decrease by the last ratio (Aitken's extrapolation; a lower bound when
/// slower directions remain). `None` unless that is at least [`CRAWL_REMAINING`] of the gain
/// over `baseline` (the best constant prediction's loss, or else the first loss) so far: a loss
/// that creeps towards zero after most of the possible gain (separable data) is not crawling.
fn late_crawl(result: &FitResult, baseline: f64) -> Option<LateCrawl> {
    let e = &result.log.epochs;
    let n = e.len();
    if n < 20 {
        return None;
    }
    let k = n / 4;
    let (a, b, c) = (n - 1 - 2 * k, n - 1 - k, n - 1);
    let l = |i: usize| e[i].train_loss;
    let (d1, d2) = (l(b) - l(a), l(c) - l(b));
    let late = &e[n / 2..];
    let falling = late.windows(2).filter(|w| w[1].train_loss < w[0].train_loss).count();
    if !(d1 < 0.0 && d2 < 0.0 && l(c) > 0.0 && 10 * falling >= 9 * (late.len() - 1)) {
        return None;
    }
    let rho = d2 / d1;
    let remaining = if rho < 1.0 { -d2 * rho / (1.0 - rho) } else { f64::INFINITY };
    let gained = baseline - l(c);
    let share = if gained > 0.0 { remaining / gained } else { f64::INFINITY };
    (share >= CRAWL_REMAINING).then(|| LateCrawl {
        epochs: (e[a].epoch, e[b].epoch, e[c].epoch),
        losses: (l(a), l(b), l(c)),
        steps_per_quarter: e[c].steps - e[b].steps,
        remaining,
        baseline,
        share,
    })
}

struct LateCrawl {
    epochs: (u64, u64, u64),
    losses: (f64, f64, f64),
    steps_per_quarter: u64,
    remaining: f64,
    baseline: f64,
    share: f64,
}

/// Checks of the run log: initial loss, learning rate (too high or crawling), non-finite values,
/// and the gap between training and validation loss.
pub fn check_log(result: &FitResult, loss: Loss, train: &Dataset) -> Vec<Finding> {
    let mut out = Vec::new();
    let steps = &result.log.steps;
    let Some(first) = steps.first() else { return out };

    // The starting loss.
    if let Some((expected, why)) = expected_start(loss, train) {
        let l0 = first.loss;
        let ratio = l0 / expected;
        if l0.is_finite() && expected > 0.0 && ratio > 1.5 {
            out.push(Finding {
                // One mini-batch's loss is noisy, and a default random init starts a little high.
                severity: if ratio > 10.0 {
                    Severity::Critical
                } else if ratio > 3.0 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                code: "initial-loss",
                title: format!("the first logged loss is {l0:.4}, {ratio:.1}x what a fresh model should start at"),
                detail: format!("{why}; a start this high means confident wrong predictions before any learning"),
                fix: "shrink the initial weights (Xavier/He, or zeros for the output layer), check that the labels and the loss match the model's output (logits vs probabilities), and check the target scale".to_string(),
                score: ratio,
            });
        }
    }

    // Non-finite values in the log.
    let bad =
        steps.iter().find(|s| !(s.loss.is_finite() && s.grad_norm.is_finite() && s.param_norm.is_finite()));
    if let Some(s) = bad {
        let what = if !s.loss.is_finite() {
            format!("the loss became {}", s.loss)
        } else if !s.grad_norm.is_finite() {
            format!("the gradient norm became {} (loss {:.4e})", s.grad_norm, s.loss)
        } else {
            format!("the parameter norm became {}", s.param_norm)
        };
        out.push(Finding {
            severity: Severity::Critical,
            code: "non-finite",
            title: format!("{what} at step {}", s.step),
            detail: format!("the last finite loss was {:.4e}", steps.iter().take_while(|x| x.loss.is_finite()).last().map_or(f64::NAN, |x| x.loss)),
            fix: "lower the learning rate, standardize the features, and prefer losses on logits (bce_with_logits, cross_entropy) to log of probabilities, which overflow at 0 and 1".to_string(),
            score: 1.0,
        });
    }

    // The learning rate: divergence, jumps, update sizes.
    let late: Vec<f64> = steps[steps.len() / 2..].iter().map(|s| s.update_ratio).collect();
    let ratio = median(late);
    let full_batch = steps_per_epoch(result) == Some(1);
    if result.stop.diverged() {
        out.push(Finding {
            severity: Severity::Critical,
            code: "lr-too-high",
            title: format!("the run diverged: {}", {
                let s = result.stop.to_string();
                s.split("; ").next().unwrap_or_default().to_string()
            }),
            detail: format!(
                "after {} step(s) at learning rate {:.3e}{}",
                result.steps,
                first.lr,
                ratio
                    .map(|r| format!("; median update/parameter ratio {r:.2e} (healthy is about 1e-3)"))
                    .unwrap_or_default()
            ),
            fix: result.stop.diagnosis().to_string(),
            score: 1e6,
        });
    } else {
        // Jumps that did not stop the run: only comparable losses count.
        let losses: Vec<f64> = if full_batch {
            steps.iter().map(|s| s.loss).collect()
        } else {
            result.log.epochs.iter().map(|e| e.train_loss).collect()
        };
        let factor = if full_batch { 2.0 } else { 1.5 };
        let jumps = losses.windows(2).filter(|w| w[0] > 0.0 && w[1] > factor * w[0]).count();
        // Spikes of single mini-batch losses far above where the run started: batch-to-batch
        // noise is never this large, and the whole-split losses after each epoch can miss them.
        let (n_spikes, worst) = if full_batch { (0, None) } else { spikes(steps) };
        let spike_text = worst.map(|w| {
            format!(
                "a mini-batch loss reached {:.4} at step {}, {:.1}x the first step's {:.4} ({n_spikes} step(s) above {SPIKE_FACTOR}x)",
                w.loss,
                w.step,
                w.loss / first.loss,
                first.loss
            )
        });
        let high_ratio = ratio.filter(|&r| r > 0.1);
        if jumps > 0 || high_ratio.is_some() || n_spikes > 0 {
            let mut detail = Vec::new();
            if jumps > 0 {
                detail.push(format!(
                    "the {} loss rose more than {factor}x at once {jumps} time(s)",
                    if full_batch { "step" } else { "per-epoch training" }
                ));
            }
            if let Some(t) = &spike_text {
                detail.push(t.clone());
            }
            if let Some(r) = high_ratio {
                detail.push(format!(
                    "the median update/parameter ratio over the second half of the run is {r:.2e}, far above the healthy ~1e-3 (and the 1e-2 alarm)"
                ));
            }
            out.push(Finding {
                severity: Severity::Warning,
                code: "lr-too-high",
                title: format!("the learning rate {:.3e} looks too high", first.lr),
                detail: detail.join("; "),
                fix: "lower the learning rate 3-10x, or use a decaying schedule; an LR sweep shows the largest stable rate".to_string(),
                score: (jumps + n_spikes) as f64 + high_ratio.unwrap_or(0.0),
            });
        }

        // Stalled: no update at all, or parameter tensors no gradient reaches any more.
        let last = result.final_train_loss().unwrap_or(steps[steps.len() - 1].loss);
        let no_updates = ratio.is_some_and(|r| r < 1e-12);
        let base = constant_model_loss(loss, train).filter(|b| *b > 0.0);
        let at_chance = base.filter(|&b| last >= 0.98 * b);
        let best = result.log.epochs.iter().map(|e| e.train_loss).fold(f64::INFINITY, f64::min);
        let far_from_best = best > 0.0 && last > 1.5 * best;
        // A gradient exactly 0 for half the run is blocked; a merely tiny one is blocked only if
        // the loss is nowhere near good (a converged bias has a tiny gradient too).
        let mut frozen = frozen_params(result);
        frozen.retain(|f| f.1 || at_chance.is_some() || far_from_best);
        let all_frozen = !frozen.is_empty() && frozen.len() == result.log.params.len();
        let stalled = no_updates || !frozen.is_empty();
        if stalled {
            let mut detail = Vec::new();
            if !frozen.is_empty() {
                let names: Vec<&str> = frozen.iter().map(|f| f.0).collect();
                let how = if frozen.iter().all(|f| f.1) {
                    "was exactly 0"
                } else {
                    "was 0 or below 1e-8 of its peak"
                };
                detail.push(format!(
                    "the gradient of {} of {} parameter tensors ({}) {how} at every step of the second half of the run",
                    frozen.len(),
                    result.log.params.len(),
                    names.join(", ")
                ));
            }
            if let Some(r) = ratio {
                detail.push(format!("the median update/parameter ratio over the second half is {r:.2e}"));
            }
            if let Some(b) = at_chance {
                detail.push(format!(
                    "the final training loss {last:.4} is no better than the best constant prediction's {b:.4} (chance)"
                ));
            } else if far_from_best {
                detail.push(format!(
                    "the final training loss {last:.4} is {:.1}x the best epoch's {best:.4}",
                    last / best
                ));
            }
            if let Some(t) = &spike_text {
                detail.push(format!("earlier, {t}"));
            }
            out.push(Finding {
                severity: if at_chance.is_some() || far_from_best || all_frozen || no_updates {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                code: "stalled",
                title: match at_chance {
                    Some(_) => "training stalled at chance: no gradient reaches the weights".to_string(),
                    None if all_frozen || no_updates => {
                        "training stalled: the parameters stopped changing".to_string()
                    }
                    None => format!(
                        "{} parameter tensor(s) stopped learning: no gradient reaches them",
                        frozen.len()
                    ),
                },
                detail: detail.join("; "),
                fix: STALL_FIX.to_string(),
                score: frozen.len() as f64 + f64::from(u8::from(at_chance.is_some())),
            });
        }

        // Crawling: barely moving over the whole run, tiny updates, or a long slow tail.
        let moved = if first.loss.abs() > 0.0 { (first.loss - last).abs() / first.loss.abs() } else { 0.0 };
        let tiny_ratio = ratio.filter(|r| (1e-12..1e-5).contains(r));
        let barely = steps.len() >= 20 && moved < 0.01;
        let tail = late_crawl(result, base.unwrap_or(first.loss));
        if !stalled && (tiny_ratio.is_some() || barely || tail.is_some()) {
            let mut detail = Vec::new();
            if barely {
                detail.push(format!(
                    "the loss moved {:.3} % in {} steps ({:.6} → {:.6})",
                    100.0 * moved,
                    steps.len(),
                    first.loss,
                    last
                ));
            }
            if let Some(r) = tiny_ratio {
                detail.push(format!(
                    "the median update/parameter ratio is {r:.2e}, far below the healthy ~1e-3"
                ));
            }
            if let Some(t) = &tail {
                let (a, b, c) = t.losses;
                let g = steps.last().map_or(f64::NAN, |s| s.grad_norm);
                let remaining = if t.remaining.is_finite() {
                    format!(
                        "at the pace it is slowing it has at least {:.4e} still to fall, {:.0} % of what it has gained over the best constant prediction ({:.4e})",
                        t.remaining,
                        100.0 * t.share,
                        t.baseline
                    )
                } else {
                    "it is not even slowing down".to_string()
                };
                detail.push(format!(
                    "the loss still falls steadily but slowly: {a:.4e}, {b:.4e}, {c:.4e} at epochs {}, {}, {} ({:.2} % in the last {} steps), with the gradient norm still {g:.3e}; {remaining}",
                    t.epochs.0,
                    t.epochs.1,
                    t.epochs.2,
                    100.0 * (b - c) / b,
                    t.steps_per_quarter,
                ));
            }
            let fix = if tail.is_some() && !barely && tiny_ratio.is_none() {
                "standardize the features if they are not (a loss that drops fast and then creeps is the signature of ill-conditioning: the steep directions are done and the shallow ones move at the pace the steep ones allow), then raise the learning rate; momentum, Adam or L-BFGS cope better with the shallow directions"
            } else {
                "raise the learning rate (try 10x steps up to the largest stable rate from an LR sweep), standardize the features, or use Adam"
            };
            out.push(Finding {
                severity: Severity::Warning,
                code: "lr-too-low",
                title: format!("training is crawling at learning rate {:.3e}", first.lr),
                detail: detail.join("; "),
                fix: fix.to_string(),
                score: 1.0 / moved.max(1e-12),
            });
        }
    }

    // The train/validation gap.
    if let Some(e) = result.log.epochs.last()
        && let Some(v) = e.val_loss.filter(|v| v.is_finite())
    {
        let t = e.train_loss;
        let best = result.log.epochs.iter().filter_map(|e| e.val_loss).fold(f64::INFINITY, f64::min);
        let gap = if t > 0.0 { v / t } else { f64::INFINITY };
        let rise = if best > 0.0 { v / best } else { 1.0 };
        if t.is_finite() && v > t && (gap > 1.5 || rise > 1.2) {
            out.push(Finding {
                    severity: if gap > 2.0 || rise > 1.2 { Severity::Warning } else { Severity::Info },
                    code: "overfitting",
                    title: format!("validation loss {v:.4} is {gap:.1}x the training loss {t:.4}"),
                    detail: format!(
                        "the best validation loss was {best:.4}; the last epoch's is {:.0} % above it",
                        100.0 * (rise - 1.0)
                    ),
                    fix: "use early stopping with restore_best, add an L2 penalty, shrink the model, or get more data".to_string(),
                    score: gap.max(rise),
                });
        }
    }
    out
}

/// Checks of a model's predictions on `data`: non-finite parameters or outputs, predictions
/// outside [0, 1] when a regression loss is used on 0/1 targets, and saturated output
/// sigmoids (share of |logit| > [`SATURATED_LOGIT`]).
pub fn check_predictions<T, M>(
    model: &M,
    params: &Params<T>,
    data: &Dataset,
    loss: Loss,
) -> Result<Vec<Finding>>
where
    T: Float,
    M: Module<T> + ?Sized,
{
    let mut out = Vec::new();
    let bad_params: Vec<&str> =
        params.iter().filter(|(_, _, t)| !t.all_finite()).map(|(_, name, _)| name).collect();
    if !bad_params.is_empty() {
        out.push(Finding {
            severity: Severity::Critical,
            code: "non-finite",
            title: format!("{} parameter tensor(s) hold NaN or infinity", bad_params.len()),
            detail: format!("{bad_params:?}"),
            fix:
                "the run diverged: restart from a checkpoint or the initialization with a lower learning rate"
                    .to_string(),
            score: bad_params.len() as f64,
        });
        return Ok(out);
    }
    let pred = model.predict(params, &data.x.cast::<T>())?;
    let p: Vec<f64> = pred.data().iter().map(|v| v.f64()).collect();
    let n = p.len().max(1) as f64;
    let nonfinite = p.iter().filter(|v| !v.is_finite()).count();
    if nonfinite > 0 {
        out.push(Finding {
            severity: Severity::Critical,
            code: "non-finite",
            title: format!("{nonfinite} of {} predictions are NaN or infinite", p.len()),
            detail: "the parameters are finite, so the inputs or an op overflowed".to_string(),
            fix: "check the inputs for NaN/inf and their scale (standardize), and use ops that are stable at the extremes".to_string(),
            score: nonfinite as f64,
        });
    }
    let binary = Task::infer(data) == Task::Binary;
    let y = data.y.data();
    match loss {
        Loss::Mse | Loss::HalfMse | Loss::Huber { .. } if binary => {
            let outside = p.iter().filter(|&&v| !(0.0..=1.0).contains(&v)).count();
            if outside > 0 {
                let (lo, hi) =
                    p.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                let share = outside as f64 / n;
                out.push(Finding {
                    severity: if share > 0.1 { Severity::Critical } else { Severity::Warning },
                    code: "predictions-outside-unit",
                    title: format!("{:.1} % of the predictions for 0/1 targets fall outside [0, 1]", 100.0 * share),
                    detail: format!(
                        "`{}` treats the labels as numbers: predictions run from {lo:.3} to {hi:.3}, which are not probabilities, and confident mistakes cost little",
                        loss.name()
                    ),
                    fix: "use logistic regression (or a final layer read as logits) with `bce_with_logits`".to_string(),
                    score: share,
                });
            }
        }
        Loss::Bce | Loss::BceWithLogits if pred.dims().last() == Some(&1) => {
            // Logits directly, or probabilities mapped back to where σ saturates.
            let edge = downhill_tensor::ops::unary::sigmoid(-SATURATED_LOGIT);
            let saturated = |v: f64| {
                if loss == Loss::BceWithLogits {
                    v.abs() > SATURATED_LOGIT
                } else {
                    v < edge || v > 1.0 - edge
                }
            };
            let positive = |v: f64| if loss == Loss::BceWithLogits { v > 0.0 } else { v > 0.5 };
            let sat = p.iter().filter(|&&v| saturated(v)).count();
            let wrong = p.iter().zip(y).filter(|&(&v, &t)| saturated(v) && positive(v) != (t > 0.5)).count();
            let share = sat as f64 / n;
            if share > 0.05 {
                let clipped = loss == Loss::Bce;
                out.push(Finding {
                    // On logits, confident right answers are harmless (the gradient never
                    // vanishes); confident wrong ones cost > 10 nats each. On clipped
                    // probabilities any saturated row stops learning.
                    severity: match (clipped, wrong > 0) {
                        (true, true) => Severity::Critical,
                        (true, false) | (false, true) => Severity::Warning,
                        (false, false) if share > 0.5 => Severity::Warning,
                        (false, false) => Severity::Info,
                    },
                    code: "saturated-output",
                    title: format!("{:.1} % of the outputs are saturated sigmoids (|logit| > {SATURATED_LOGIT})", 100.0 * share),
                    detail: format!(
                        "{sat} of {} rows, {wrong} of them confidently wrong{}",
                        p.len(),
                        if clipped {
                            "; on probabilities the loss is clipped there, so those rows give no gradient at all"
                        } else {
                            "; the weights are growing without bound, as they do on (nearly) separable data"
                        }
                    ),
                    fix: if clipped {
                        "output logits and use `bce_with_logits`, which keeps a gradient however confident the model is"
                    } else {
                        "add an L2 penalty (or stop earlier) to keep the weights finite and the probabilities calibrated"
                    }
                    .to_string(),
                    score: share,
                });
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Runs [`check_log`] and [`check_predictions`] (on the training split). For an [`Mlp`], also
/// call [`check_mlp`].
pub fn check_run<T, M>(
    model: &M,
    params: &Params<T>,
    loss: Loss,
    result: &FitResult,
    train: &Dataset,
) -> Result<Vec<Finding>>
where
    T: Float,
    M: Module<T> + ?Sized,
{
    let mut out = check_log(result, loss, train);
    let preds = check_predictions(model, params, train, loss)?;
    // One non-finite finding is enough.
    let has_nonfinite = out.iter().any(|f| f.code == "non-finite");
    let diverged = result.stop.diverged() || has_nonfinite;
    for mut f in preds.into_iter().filter(|f| !(has_nonfinite && f.code == "non-finite")) {
        if diverged && f.code == "saturated-output" {
            // Not separable data growing its weights: the divergence threw them there.
            let rows = f.detail.split("; ").next().unwrap_or_default().to_string();
            f.detail = format!("{rows}; the run diverged, and its last steps threw the weights this far");
            f.fix = "a consequence of the divergence: lower the learning rate (and standardize the features) first; add an L2 penalty only if a stable run still saturates".to_string();
        }
        out.push(f);
    }
    if loss == Loss::Bce {
        name_stall_cause(&mut out, &["saturated-output"]);
    }
    Ok(out)
}

/// If a `stalled` finding and one of the `causes` (by code) are both present, the stall's fix
/// names the cause and leads with its fix.
fn name_stall_cause(findings: &mut [Finding], causes: &[&str]) {
    let Some(cause) =
        findings.iter().find(|f| causes.contains(&f.code)).map(|f| (f.code, f.title.clone(), f.fix.clone()))
    else {
        return;
    };
    if let Some(stall) = findings.iter_mut().find(|f| f.code == "stalled") {
        let (code, title, fix) = cause;
        stall.fix = format!("the cause is `{code}` ({title}): {fix}");
    }
}

/// [`check_run`] and [`check_mlp`] together, for an [`Mlp`]. When the run stalled (`stalled`) and
/// the hidden units explain it (dead ReLUs, saturated sigmoid/tanh units), the stall's fix names
/// that cause.
pub fn check_run_mlp<T: Float>(
    mlp: &Mlp,
    params: &Params<T>,
    loss: Loss,
    result: &FitResult,
    train: &Dataset,
) -> Result<Vec<Finding>> {
    let mut out = check_run(mlp, params, loss, result, train)?;
    out.extend(check_mlp(mlp, params, train)?);
    name_stall_cause(&mut out, &["dead-relu", "saturated-hidden"]);
    Ok(out)
}

/// The pre-activations of every hidden layer of `mlp` on `x` (`[rows, width]` each), computed
/// layer by layer; the activation is applied between them as in [`Mlp`]'s forward pass.
pub fn hidden_preactivations<T: Float>(
    mlp: &Mlp,
    params: &Params<T>,
    x: &Tensor<T>,
) -> Result<Vec<Tensor<T>>> {
    let tape = Tape::new();
    let mut h = tape.constant(x);
    let layers = mlp.layers();
    let mut out = Vec::with_capacity(layers.len().saturating_sub(1));
    for layer in layers.iter().take(layers.len().saturating_sub(1)) {
        let z = layer.forward(&tape, params, h);
        out.push(z.value()?);
        h = mlp.activation().apply(z);
    }
    Ok(out)
}

/// Checks of an MLP's hidden units on (up to [`MLP_ROWS`] rows of) `data`: dead ReLUs (units that
/// output zero for every row, so they never learn again) and saturated sigmoid/tanh units
/// (|pre-activation| > 10 for sigmoid, > 5 for tanh, where the derivative is below 5e-5 / 2e-4).
pub fn check_mlp<T: Float>(mlp: &Mlp, params: &Params<T>, data: &Dataset) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let rows: Vec<usize> = (0..data.len().min(MLP_ROWS)).collect();
    let sample = if rows.len() == data.len() { data.clone() } else { data.select(&rows)? };
    let zs = hidden_preactivations(mlp, params, &sample.x.cast::<T>())?;
    match mlp.activation() {
        Activation::Relu => {
            let (mut dead, mut total) = (0usize, 0usize);
            let mut per_layer = Vec::new();
            for (i, z) in zs.iter().enumerate() {
                let w = z.dims().get(1).copied().unwrap_or(0);
                let mut alive = vec![false; w];
                for row in z.data().chunks_exact(w.max(1)) {
                    for (a, v) in alive.iter_mut().zip(row) {
                        *a |= v.f64() > 0.0;
                    }
                }
                let d = alive.iter().filter(|a| !**a).count();
                per_layer.push(format!("layer {i}: {d}/{w}"));
                dead += d;
                total += w;
            }
            let share = dead as f64 / total.max(1) as f64;
            if share >= 0.1 {
                out.push(Finding {
                    severity: if share >= 0.5 { Severity::Critical } else { Severity::Warning },
                    code: "dead-relu",
                    title: format!("{:.0} % of the hidden ReLUs are dead ({dead} of {total})", 100.0 * share),
                    detail: format!(
                        "a dead unit outputs 0 for every one of the {} rows checked, so no gradient reaches its weights and it never recovers ({})",
                        sample.len(),
                        per_layer.join(", ")
                    ),
                    fix: "use He initialization with zero (or small positive) biases, lower the learning rate (one large step can push a unit's bias far negative), or switch to LeakyReLU".to_string(),
                    score: share,
                });
            }
        }
        Activation::Sigmoid | Activation::Tanh => {
            let limit =
                if mlp.activation() == Activation::Sigmoid { SATURATED_LOGIT } else { SATURATED_LOGIT / 2.0 };
            let (sat, total) = zs.iter().fold((0usize, 0usize), |(s, t), z| {
                (s + z.data().iter().filter(|v| v.f64().abs() > limit).count(), t + z.numel())
            });
            let share = sat as f64 / total.max(1) as f64;
            if share > 0.1 {
                out.push(Finding {
                    severity: if share > 0.5 { Severity::Critical } else { Severity::Warning },
                    code: "saturated-hidden",
                    title: format!("{:.0} % of the hidden {:?} pre-activations are saturated (|z| > {limit})", 100.0 * share, mlp.activation()),
                    detail: format!("{sat} of {total} values over {} rows: their derivative is nearly 0, so the layers below barely learn", sample.len()),
                    fix: "standardize the inputs, use Xavier initialization, lower the learning rate, or use ReLU".to_string(),
                    score: share,
                });
            }
        }
        _ => {}
    }
    Ok(out)
}

//! Checks of a dataset before any training: feature scales, constant and correlated features,
//! the conditioning of the standardized design matrix, the loss/task match, class balance,
//! target scale, and the loss a model should start from.

use super::{Finding, Severity, symmetric_eigenvalues};
use crate::data::Dataset;

/// What the targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Real-valued targets.
    Regression,
    /// 0/1 targets.
    Binary,
    /// Labels 0..k (k > 2).
    Multiclass,
}

impl Task {
    /// Infers the task from the targets: all 0/1 → binary; small non-negative integers → multiclass.
    pub fn infer(d: &Dataset) -> Task {
        let y = d.y.data();
        if y.iter().all(|&v| v == 0.0 || v == 1.0) {
            return Task::Binary;
        }
        match d.n_classes() {
            Ok(k) if k <= 100 && k * 5 <= d.len() => Task::Multiclass,
            _ => Task::Regression,
        }
    }
}

/// What doctor knows about the planned run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataContext {
    /// The task (inferred from the targets when `None`).
    pub task: Option<Task>,
    /// The loss the run will use: `"mse"`, `"half_mse"`, `"huber"`, `"bce"`, `"bce_with_logits"`,
    /// `"cross_entropy"` (unchecked when `None`).
    pub loss: Option<String>,
    /// Whether features will be standardized before training.
    pub standardized: bool,
}

fn column_stats(d: &Dataset) -> (Vec<f64>, Vec<f64>) {
    let (n, p) = (d.len(), d.n_features());
    let mut mean = vec![0.0; p];
    for row in d.x.data().chunks_exact(p) {
        for j in 0..p {
            mean[j] += row[j];
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0; p];
    for row in d.x.data().chunks_exact(p) {
        for j in 0..p {
            var[j] += (row[j] - mean[j]).powi(2);
        }
    }
    (mean, var.into_iter().map(|v| (v / n as f64).sqrt()).collect())
}

/// Runs every dataset check and returns the findings (rank them with [`super::Report::new`]).
pub fn check_data(d: &Dataset, ctx: &DataContext) -> Vec<Finding> {
    let mut out = Vec::new();
    if d.is_empty() || d.n_features() == 0 {
        return out;
    }
    let (n, p) = (d.len(), d.n_features());
    let (mean, std) = column_stats(d);
    let name = |j: usize| d.features[j].as_str();

    // Constant features.
    let constant: Vec<&str> = (0..p).filter(|&j| std[j] <= 1e-12).map(name).collect();
    if !constant.is_empty() {
        out.push(Finding {
            severity: Severity::Warning,
            code: "constant-feature",
            title: format!("{} constant feature(s)", constant.len()),
            detail: format!("{constant:?} take a single value in all {n} rows"),
            fix: "drop them: they carry no information and make the design matrix singular".to_string(),
            score: constant.len() as f64,
        });
    }

    // Feature scales.
    let live: Vec<usize> = (0..p).filter(|&j| std[j] > 1e-12).collect();
    if let (Some(&hi), Some(&lo)) = (
        live.iter().max_by(|&&a, &&b| std[a].total_cmp(&std[b])),
        live.iter().min_by(|&&a, &&b| std[a].total_cmp(&std[b])),
    ) {
        let ratio = std[hi] / std[lo];
        if ratio >= 10.0 && !ctx.standardized {
            out.push(Finding {
                severity: if ratio >= 100.0 { Severity::Critical } else { Severity::Warning },
                code: "feature-scale",
                title: format!("feature scales differ by a factor of {ratio:.0}"),
                detail: format!(
                    "std of {:?} is {:.4}, of {:?} is {:.4}; one learning rate cannot suit both: \
                     large enough for the small-scale feature, it diverges on the large one",
                    name(hi),
                    std[hi],
                    name(lo),
                    std[lo]
                ),
                fix: "standardize the features (StandardScaler fitted on the training split; `--standardize` on the CLI)".to_string(),
                score: ratio,
            });
        }
    }

    // Curvature of the raw design: for MSE/2 on [1, x] the Hessian is [1, x]ᵀ[1, x]/n, and
    // gradient descent is stable only for lr < 2/L with L its largest eigenvalue.
    if !ctx.standardized {
        let q = p + 1;
        let mut h = vec![0.0; q * q];
        for row in d.x.data().chunks_exact(p) {
            for a in 0..q {
                let xa = if a == 0 { 1.0 } else { row[a - 1] };
                for b in a..q {
                    let xb = if b == 0 { 1.0 } else { row[b - 1] };
                    h[a * q + b] += xa * xb;
                }
            }
        }
        for a in 0..q {
            for b in a..q {
                h[a * q + b] /= n as f64;
                h[b * q + a] = h[a * q + b];
            }
        }
        let l = symmetric_eigenvalues(&h, q).last().copied().unwrap_or(0.0);
        let bound = 2.0 / l;
        if bound < 1e-2 {
            out.push(Finding {
                severity: if bound < 1e-3 { Severity::Critical } else { Severity::Warning },
                code: "max-stable-lr",
                title: format!("on the raw features gradient descent diverges for any learning rate above {bound:.2e}"),
                detail: format!(
                    "the largest curvature of the least-squares loss on [1, x] is L = {l:.3e} (the feature means and scales set it), so steps need lr < 2/L; the log-loss of a linear model allows at most 4× more"
                ),
                fix: "standardize the features: after scaling, L is about the number of features and lr 0.1 is safe".to_string(),
                score: l,
            });
        }
    }

    // Correlations and conditioning of the standardized design.
    if live.len() >= 2 {
        let k = live.len();
        let mut corr = vec![0.0; k * k];
        for row in d.x.data().chunks_exact(p) {
            for (a, &ja) in live.iter().enumerate() {
                let za = (row[ja] - mean[ja]) / std[ja];
                for (b, &jb) in live.iter().enumerate().skip(a) {
                    corr[a * k + b] += za * (row[jb] - mean[jb]) / std[jb];
                }
            }
        }
        for a in 0..k {
            for b in a..k {
                corr[a * k + b] /= n as f64;
                corr[b * k + a] = corr[a * k + b];
            }
        }
        let mut pairs: Vec<(f64, usize, usize)> = (0..k)
            .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
            .map(|(a, b)| (corr[a * k + b], live[a], live[b]))
            .filter(|(r, _, _)| r.abs() > 0.9)
            .collect();
        pairs.sort_by(|x, y| y.0.abs().total_cmp(&x.0.abs()));
        if !pairs.is_empty() {
            let shown: Vec<String> = pairs
                .iter()
                .take(5)
                .map(|(r, a, b)| format!("{:?} ~ {:?} (r = {r:.3})", name(*a), name(*b)))
                .collect();
            out.push(Finding {
                severity: Severity::Warning,
                code: "correlated-features",
                title: format!("{} pair(s) of features with |r| > 0.9", pairs.len()),
                detail: format!("{}{}", shown.join(", "), if pairs.len() > 5 { ", ..." } else { "" }),
                fix: "drop one feature of each pair, or add an L2 penalty; expect plain gradient descent to crawl along the correlated directions (L-BFGS or momentum copes far better)".to_string(),
                score: pairs[0].0.abs(),
            });
        }
        let ev = symmetric_eigenvalues(&corr, k);
        let (lo, hi) = (ev[0].max(0.0), ev[k - 1]);
        let cond = if lo > 0.0 { hi / lo } else { f64::INFINITY };
        if cond > 1e3 {
            out.push(Finding {
                severity: if cond > 1e6 { Severity::Critical } else { Severity::Warning },
                code: "condition-number",
                title: format!("the standardized design matrix has condition number {cond:.3e}"),
                detail: format!(
                    "eigenvalues of the feature correlation matrix run from {lo:.3e} to {hi:.3e}; gradient descent needs about κ = {cond:.1e} steps per factor e of progress in the worst direction"
                ),
                fix: "remove redundant features, add L2, or use a curvature-aware optimizer (L-BFGS)".to_string(),
                score: cond,
            });
        }
    }

    // The task, the loss, and the starting loss.
    let task = ctx.task.unwrap_or_else(|| Task::infer(d));
    let y = d.y.data();
    let loss = ctx.loss.as_deref();
    match (task, loss) {
        (Task::Binary, Some("mse" | "half_mse" | "huber")) => out.push(Finding {
            severity: Severity::Warning,
            code: "loss-task-mismatch",
            title: "a regression loss on 0/1 targets".to_string(),
            detail: "a linear model trained with MSE predicts values outside [0, 1], and its gradient does not grow with confident mistakes".to_string(),
            fix: "use logistic regression with `bce_with_logits` (the log-loss), which outputs probabilities".to_string(),
            score: 1.0,
        }),
        (Task::Multiclass, Some(l)) if l != "cross_entropy" => out.push(Finding {
            severity: Severity::Critical,
            code: "loss-task-mismatch",
            title: format!("`{l}` on {} class labels", d.n_classes().unwrap_or(0)),
            detail: "class labels are categories, not numbers: 7 is not 'more' than 3".to_string(),
            fix: "use a softmax model with `cross_entropy` on integer labels".to_string(),
            score: 1.0,
        }),
        (Task::Regression, Some("bce" | "bce_with_logits" | "cross_entropy")) => out.push(Finding {
            severity: Severity::Critical,
            code: "loss-task-mismatch",
            title: "a classification loss on real-valued targets".to_string(),
            detail: format!("targets range from {:.4} to {:.4}", min(y), max(y)),
            fix: "use `mse` (or `huber` for outliers) for regression".to_string(),
            score: 1.0,
        }),
        _ => {}
    }
    match task {
        Task::Binary => {
            let pos = y.iter().sum::<f64>() / n as f64;
            let minority = pos.min(1.0 - pos);
            let h = -(pos * pos.ln() + (1.0 - pos) * (1.0 - pos).ln());
            if minority < 0.2 {
                out.push(Finding {
                    severity: Severity::Info,
                    code: "class-imbalance",
                    title: format!("the positive class is {:.1} % of rows", 100.0 * pos),
                    detail: format!(
                        "always predicting the majority class scores accuracy {:.3}",
                        1.0 - minority
                    ),
                    fix: "judge models by log-loss, precision, recall and F1, not accuracy".to_string(),
                    score: 1.0 - minority,
                });
            }
            out.push(Finding {
                severity: Severity::Info,
                code: "initial-loss",
                title: format!("a fresh model should start near log-loss ln 2 = {:.4}", std::f64::consts::LN_2),
                detail: format!("predicting the base rate {pos:.4} everywhere gives {h:.4}; a good model ends well below it"),
                fix: "if the first logged loss is far above ln 2, check the initialization and the labels".to_string(),
                score: 0.0,
            });
        }
        Task::Multiclass => {
            let k = d.n_classes().unwrap_or(1).max(1);
            out.push(Finding {
                severity: Severity::Info,
                code: "initial-loss",
                title: format!(
                    "a fresh model should start near cross-entropy ln {k} = {:.4}",
                    (k as f64).ln()
                ),
                detail: format!(
                    "with {k} classes and small initial weights every class gets probability ≈ 1/{k}"
                ),
                fix:
                    "if the first logged loss is far above it, shrink the initial weights or check the labels"
                        .to_string(),
                score: 0.0,
            });
        }
        Task::Regression => {
            let m = y.iter().sum::<f64>() / n as f64;
            let s = (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
            if m.abs().max(s) > 100.0 {
                out.push(Finding {
                    severity: Severity::Info,
                    code: "target-scale",
                    title: format!("targets are large (mean {m:.1}, std {s:.1})"),
                    detail: format!(
                        "a zero-initialized model starts at MSE ≈ {:.1}, with gradients to match",
                        m * m + s * s
                    ),
                    fix:
                        "standardize the target too (and undo it for predictions), or lower the learning rate"
                            .to_string(),
                    score: m.abs().max(s),
                });
            }
        }
    }
    out
}

fn min(y: &[f64]) -> f64 {
    y.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(y: &[f64]) -> f64 {
    y.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{breast_cancer, churn, diabetes_raw, digits};
    use crate::doctor::Report;

    #[test]
    fn raw_breast_cancer_is_badly_scaled_and_ill_conditioned() {
        let d = breast_cancer().unwrap();
        let r = Report::new(check_data(&d, &DataContext { loss: Some("mse".into()), ..Default::default() }));
        assert_eq!(r.findings[0].severity, Severity::Critical);
        let scale = r.find("feature-scale").unwrap();
        assert!(scale.score > 1000.0, "{}", scale.detail);
        assert!(r.find("correlated-features").is_some());
        assert!(r.find("condition-number").is_some());
        assert!(r.find("loss-task-mismatch").is_some());
        let l = r.find("max-stable-lr").unwrap().score;
        assert!((1.6e6..1.8e6).contains(&l), "data/README.md measured L = 1.7e6, got {l}");
        let standardized = check_data(&d, &DataContext { standardized: true, ..Default::default() });
        assert!(standardized.iter().all(|f| f.code != "feature-scale"));
    }

    #[test]
    fn churn_interactions_are_flagged_and_imbalance_is_noted() {
        let plain = Report::new(check_data(&churn(4000, 1, false).unwrap(), &DataContext::default()));
        assert!(plain.find("correlated-features").is_none());
        assert!(plain.find("class-imbalance").is_some());
        let inter = Report::new(check_data(&churn(4000, 1, true).unwrap(), &DataContext::default()));
        assert!(inter.find("correlated-features").is_some());
        assert!(inter.find("condition-number").is_some());
    }

    #[test]
    fn tasks_and_their_starting_losses() {
        let dg = digits().unwrap();
        assert_eq!(Task::infer(&dg), Task::Multiclass);
        let r = Report::new(check_data(&dg, &DataContext { loss: Some("mse".into()), ..Default::default() }));
        assert_eq!(r.find("loss-task-mismatch").unwrap().severity, Severity::Critical);
        assert!(r.find("initial-loss").unwrap().title.contains("ln 10"));
        assert!(r.find("constant-feature").is_some(), "digits has always-blank corner pixels");
        let db = diabetes_raw().unwrap();
        assert_eq!(Task::infer(&db), Task::Regression);
        let r = Report::new(check_data(&db, &DataContext::default()));
        assert!(r.find("target-scale").is_some());
        let text = r.to_string();
        assert!(text.starts_with("1. [critical] max-stable-lr"), "{text}");
        // The data README's numpy check: raw L = 7.4e4, so lr 0.01 diverges.
        let l = r.find("max-stable-lr").unwrap().score;
        assert!((7.3e4..7.5e4).contains(&l), "{l}");
    }
}

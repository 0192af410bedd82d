//! Classification and regression metrics, computed in `f64` in a fixed order.
//!
//! Binary metrics take predicted probabilities of the positive class and 0/1 targets; the
//! decision threshold is 0.5 unless stated. Every function checks that its inputs have the same
//! length and are valid (probabilities in [0, 1], labels 0/1) and says what is wrong otherwise.

use crate::{Error, Result};

fn same_len(op: &'static str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::InvalidArgument {
            op,
            message: format!("{a} predictions but {b} targets; pass one per row"),
        });
    }
    if a == 0 {
        return Err(Error::InvalidArgument { op, message: "no rows to score".to_string() });
    }
    Ok(())
}

fn check_binary(op: &'static str, prob: &[f64], target: &[f64]) -> Result<()> {
    same_len(op, prob.len(), target.len())?;
    if let Some((i, p)) = prob.iter().enumerate().find(|(_, p)| !(0.0..=1.0).contains(*p)) {
        return Err(Error::InvalidArgument {
            op,
            message: format!(
                "prediction {p} in row {i} is not a probability in [0, 1]; apply a sigmoid to logits first"
            ),
        });
    }
    if let Some((i, t)) = target.iter().enumerate().find(|(_, t)| **t != 0.0 && **t != 1.0) {
        return Err(Error::InvalidArgument { op, message: format!("target {t} in row {i} is not 0 or 1") });
    }
    Ok(())
}

/// Counts of a binary confusion matrix at a threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confusion {
    /// Predicted 1, target 1.
    pub tp: usize,
    /// Predicted 1, target 0.
    pub fp: usize,
    /// Predicted 0, target 0.
    pub tn: usize,
    /// Predicted 0, target 1.
    pub fn_: usize,
}

impl Confusion {
    /// The confusion matrix of probabilities `prob` against 0/1 `target` at `threshold`.
    pub fn new(prob: &[f64], target: &[f64], threshold: f64) -> Result<Self> {
        check_binary("confusion", prob, target)?;
        let mut c = Confusion::default();
        for (&p, &t) in prob.iter().zip(target) {
            match (p >= threshold, t == 1.0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        Ok(c)
    }

    /// (tp + tn) / n.
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / (self.tp + self.tn + self.fp + self.fn_) as f64
    }

    /// tp / (tp + fp); 0 when nothing is predicted positive (scikit-learn's `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall: 2tp / (2tp + fp + fn); 0 when undefined.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Mean binary log-loss `−[y ln p + (1 − y) ln(1 − p)]`, with `p` clipped to `[eps, 1 − eps]`
/// (eps = 1e-15, as scikit-learn) so a confident mistake costs ~34.5, not infinity.
pub fn log_loss(prob: &[f64], target: &[f64]) -> Result<f64> {
    check_binary("log_loss", prob, target)?;
    let eps = 1e-15;
    let total: f64 = prob
        .iter()
        .zip(target)
        .map(|(&p, &y)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    Ok(total / prob.len() as f64)
}

/// Fraction of rows whose predicted class (`argmax` of each row of `scores`, `[n, k]` row-major)
/// equals the label.
pub fn multiclass_accuracy(scores: &[f64], k: usize, labels: &[usize]) -> Result<f64> {
    if k == 0 || !scores.len().is_multiple_of(k) {
        return Err(Error::InvalidArgument {
            op: "multiclass_accuracy",
            message: format!("{} scores do not form rows of {k} classes", scores.len()),
        });
    }
    same_len("multiclass_accuracy", scores.len() / k, labels.len())?;
    let hits = scores.chunks_exact(k).zip(labels).filter(|(row, l)| argmax(row) == **l).count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Index of the first largest element.
pub fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// One bin of a reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive, except 1.0 for the last bin).
    pub hi: f64,
    /// Rows whose predicted probability falls in the bin.
    pub count: usize,
    /// Mean predicted probability in the bin (0 if empty).
    pub mean_predicted: f64,
    /// Fraction of positives in the bin (0 if empty).
    pub fraction_positive: f64,
}

/// Calibration: reliability bins and the expected calibration error.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Equal-width bins over [0, 1].
    pub bins: Vec<ReliabilityBin>,
    /// ECE: Σ (count/n)·|fraction positive − mean predicted| over the bins.
    pub ece: f64,
}

/// Reliability bins (`n_bins` equal-width bins over [0, 1]) and the expected calibration error.
pub fn calibration(prob: &[f64], target: &[f64], n_bins: usize) -> Result<Calibration> {
    check_binary("calibration", prob, target)?;
    if n_bins == 0 {
        return Err(Error::InvalidArgument {
            op: "calibration",
            message: "needs at least one bin".to_string(),
        });
    }
    let mut sum_p = vec![0.0; n_bins];
    let mut sum_y = vec![0.0; n_bins];
    let mut count = vec![0usize; n_bins];
    for (&p, &y) in prob.iter().zip(target) {
        let b = ((p * n_bins as f64) as usize).min(n_bins - 1);
        sum_p[b] += p;
        sum_y[b] += y;
        count[b] += 1;
    }
    let n = prob.len() as f64;
    let mut ece = 0.0;
    let bins = (0..n_bins)
        .map(|b| {
            let c = count[b];
            let (mp, fp) = if c == 0 { (0.0, 0.0) } else { (sum_p[b] / c as f64, sum_y[b] / c as f64) };
            ece += c as f64 / n * (fp - mp).abs();
            ReliabilityBin {
                lo: b as f64 / n_bins as f64,
                hi: (b + 1) as f64 / n_bins as f64,
                count: c,
                mean_predicted: mp,
                fraction_positive: fp,
            }
        })
        .collect();
    Ok(Calibration { bins, ece })
}

/// Mean squared error.
pub fn mse(pred: &[f64], target: &[f64]) -> Result<f64> {
    same_len("mse", pred.len(), target.len())?;
    Ok(pred.iter().zip(target).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / pred.len() as f64)
}

/// Mean absolute error.
pub fn mae(pred: &[f64], target: &[f64]) -> Result<f64> {
    same_len("mae", pred.len(), target.len())?;
    Ok(pred.iter().zip(target).map(|(p, t)| (p - t).abs()).sum::<f64>() / pred.len() as f64)
}

/// Coefficient of determination `1 − SS_res / SS_tot` (0 predicted-the-mean, 1 perfect).
pub fn r2(pred: &[f64], target: &[f64]) -> Result<f64> {
    same_len("r2", pred.len(), target.len())?;
    let mean = target.iter().sum::<f64>() / target.len() as f64;
    let ss_res: f64 = pred.iter().zip(target).map(|(p, t)| (t - p) * (t - p)).sum();
    let ss_tot: f64 = target.iter().map(|t| (t - mean) * (t - mean)).sum();
    Ok(if ss_tot == 0.0 { 0.0 } else { 1.0 - ss_res / ss_tot })
}

/// `m[true][predicted]` counts of the argmax of each row of `scores` (`[n, k]`) against `labels`.
pub fn confusion_matrix(scores: &[f64], k: usize, labels: &[usize]) -> Result<Vec<Vec<usize>>> {
    if k == 0 || scores.len() != labels.len() * k {
        return Err(Error::InvalidArgument {
            op: "confusion_matrix",
            message: format!("{} scores do not form {} rows of {k} classes", scores.len(), labels.len()),
        });
    }
    if let Some((row, &l)) = labels.iter().enumerate().find(|(_, l)| **l >= k) {
        return Err(Error::InvalidArgument {
            op: "confusion_matrix",
            message: format!("label {l} in row {row} is not below the class count {k}"),
        });
    }
    let mut m = vec![vec![0usize; k]; k];
    for (row, &l) in scores.chunks_exact(k).zip(labels) {
        m[l][argmax(row)] += 1;
    }
    Ok(m)
}

/// The unweighted mean over classes of F1 = 2tp / (2tp + fp + fn) (0 for a class that is never
/// predicted nor present).
pub fn macro_f1(m: &[Vec<usize>]) -> f64 {
    let k = m.len();
    if k == 0 {
        return 0.0;
    }
    let total: f64 = (0..k)
        .map(|c| {
            let tp = m[c][c];
            let fn_: usize = m[c].iter().sum::<usize>() - tp;
            let fp: usize = (0..k).map(|r| m[r][c]).sum::<usize>() - tp;
            let den = 2 * tp + fp + fn_;
            if den == 0 { 0.0 } else { (2 * tp) as f64 / den as f64 }
        })
        .sum();
    total / k as f64
}

/// The metrics that suit a loss, and the predicted probabilities for binary losses.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Metrics by name: binary losses give accuracy, precision, recall, f1, log_loss and ece;
    /// cross-entropy gives accuracy and macro_f1; regression losses give rmse, mae and r2.
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Probabilities of class 1 (binary losses only).
    pub probabilities: Option<Vec<f64>>,
}

/// Scores model `outputs` (`[n, columns]` row-major: logits, probabilities or values, as the
/// loss expects) against `targets` (regression and binary) or `labels` (cross-entropy). The fit
/// loop's epoch metrics and the run report both come from here.
pub fn score(
    loss: crate::fit::Loss,
    outputs: &[f64],
    columns: usize,
    targets: &[f64],
    labels: &[usize],
) -> Result<Scores> {
    use crate::fit::Loss;
    let mut metrics = std::collections::BTreeMap::new();
    let mut probabilities = None;
    let mut put = |k: &str, v: f64| {
        metrics.insert(k.to_string(), v);
    };
    match loss {
        Loss::Bce | Loss::BceWithLogits => {
            let prob: Vec<f64> = if loss == Loss::Bce {
                outputs.iter().map(|v| v.clamp(0.0, 1.0)).collect()
            } else {
                outputs.iter().map(|&z| downhill_tensor::ops::unary::sigmoid(z)).collect()
            };
            let c = Confusion::new(&prob, targets, 0.5)?;
            put("accuracy", c.accuracy());
            put("precision", c.precision());
            put("recall", c.recall());
            put("f1", c.f1());
            put("log_loss", log_loss(&prob, targets)?);
            put("ece", calibration(&prob, targets, 10)?.ece);
            probabilities = Some(prob);
        }
        Loss::CrossEntropy => {
            let m = confusion_matrix(outputs, columns, labels)?;
            let hits: usize = (0..columns).map(|k| m[k][k]).sum();
            put("accuracy", hits as f64 / labels.len().max(1) as f64);
            put("macro_f1", macro_f1(&m));
        }
        Loss::Mse | Loss::HalfMse | Loss::Huber { .. } => {
            put("rmse", mse(outputs, targets)?.sqrt());
            put("mae", mae(outputs, targets)?);
            put("r2", r2(outputs, targets)?);
        }
    }
    Ok(Scores { metrics, probabilities })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_metrics_match_hand_counts() {
        let p = [0.9, 0.8, 0.3, 0.6, 0.1, 0.4];
        let y = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let c = Confusion::new(&p, &y, 0.5).unwrap();
        assert_eq!(c, Confusion { tp: 2, fp: 1, tn: 2, fn_: 1 });
        assert_eq!(c.accuracy(), 4.0 / 6.0);
        assert_eq!(c.precision(), 2.0 / 3.0);
        assert_eq!(c.recall(), 2.0 / 3.0);
        assert!((c.f1() - 2.0 / 3.0).abs() < 1e-15);
        let ll = log_loss(&p, &y).unwrap();
        let want = -(0.9f64.ln() + 0.8f64.ln() + 0.3f64.ln() + 0.4f64.ln() + 0.9f64.ln() + 0.6f64.ln()) / 6.0;
        assert!((ll - want).abs() < 1e-15);
        assert!(log_loss(&[0.0], &[1.0]).unwrap() < 35.0, "clipped, not infinite");
        assert!(log_loss(&[1.2], &[1.0]).is_err());
        assert!(log_loss(&[0.5], &[2.0]).is_err());
        assert!(log_loss(&[0.5, 0.5], &[1.0]).is_err());
        assert_eq!(Confusion::new(&[0.1], &[0.0], 0.5).unwrap().precision(), 0.0);
    }

    #[test]
    fn calibration_bins_and_ece() {
        // Perfectly calibrated in two bins: 0.25 predicted, 1 of 4 positive; 0.75, 3 of 4.
        let p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75];
        let y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let c = calibration(&p, &y, 2).unwrap();
        assert_eq!(c.ece, 0.0);
        assert_eq!(c.bins[1].count, 4);
        let off = calibration(&[0.9, 0.9], &[0.0, 0.0], 10).unwrap();
        assert!((off.ece - 0.9).abs() < 1e-15);
        assert_eq!(off.bins[9].count, 2);
        assert_eq!(calibration(&[1.0], &[1.0], 10).unwrap().bins[9].count, 1, "p = 1 lands in the last bin");
    }

    #[test]
    fn multiclass_and_regression() {
        let s = [0.1, 0.7, 0.2, 0.5, 0.4, 0.1];
        assert_eq!(multiclass_accuracy(&s, 3, &[1, 2]).unwrap(), 0.5);
        assert!(multiclass_accuracy(&s, 4, &[1]).is_err());
        assert_eq!(mse(&[1.0, 3.0], &[2.0, 1.0]).unwrap(), 2.5);
        assert_eq!(mae(&[1.0, 3.0], &[2.0, 1.0]).unwrap(), 1.5);
        assert_eq!(r2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap(), 1.0);
        assert_eq!(r2(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).unwrap(), 0.0);
        assert!(mse(&[], &[]).is_err());
    }
}

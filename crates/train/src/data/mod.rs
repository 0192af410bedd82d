//! Datasets: a feature matrix, a target column, and their names.

mod batch;
mod bundled;
mod csv;
mod scale;
mod split;
mod synthetic;

pub use batch::{Batches, Cursor};
pub use bundled::{breast_cancer, diabetes_raw, digits, wine_quality_red};
pub use csv::{CsvOptions, TargetColumn, load_csv, read_csv};
pub use scale::{MinMaxScaler, StandardScaler};
pub use split::{Split, SplitOptions, split};
pub use synthetic::{CHURN_FEATURES, CHURN_INTERACTIONS, CHURN_RATE, Toy, churn, toy};

use downhill_tensor::Tensor;

use crate::{Error, Result};

/// A table of numeric features `x` (`[n, d]`) and a numeric target `y` (`[n, 1]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Feature names, one per column of `x`.
    pub features: Vec<String>,
    /// The target's name.
    pub target: String,
    /// Features, `[n, d]`, row-major.
    pub x: Tensor<f64>,
    /// Targets, `[n, 1]` (a column, to match a model's `[n, 1]` output).
    pub y: Tensor<f64>,
}

impl Dataset {
    /// Builds a dataset from row-major features and targets, checking every length.
    pub fn new(features: Vec<String>, target: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Result<Self> {
        let d = features.len();
        let n = y.len();
        if x.len() != n * d {
            return Err(Error::InvalidArgument {
                op: "Dataset::new",
                message: format!("{} feature values for {n} rows of {d} features (need {})", x.len(), n * d),
            });
        }
        Ok(Dataset {
            features,
            target: target.into(),
            x: Tensor::from_vec(x, [n, d])?,
            y: Tensor::from_vec(y, [n, 1])?,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.x.dims()[1]
    }

    /// The rows `rows` (in that order; repeats allowed) as a new dataset.
    pub fn select(&self, rows: &[usize]) -> Result<Self> {
        let (n, d) = (self.len(), self.n_features());
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::InvalidArgument {
                op: "Dataset::select",
                message: format!("row {bad} is out of range for a dataset of {n} rows"),
            });
        }
        let mut x = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            x.extend_from_slice(&self.x.data()[r * d..(r + 1) * d]);
        }
        let y = rows.iter().map(|&r| self.y.data()[r]).collect();
        Self::new(self.features.clone(), self.target.clone(), x, y)
    }

    /// The targets as class labels `0..k` (errors on a non-integer or negative target).
    pub fn labels(&self) -> Result<Vec<usize>> {
        self.y
            .data()
            .iter()
            .enumerate()
            .map(|(row, &v)| {
                if v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f64 {
                    Ok(v as usize)
                } else {
                    Err(Error::NotLabels { row, value: v })
                }
            })
            .collect()
    }

    /// The number of classes (largest label + 1).
    pub fn n_classes(&self) -> Result<usize> {
        Ok(self.labels()?.into_iter().max().map_or(0, |m| m + 1))
    }

    /// One-hot targets `[n, k]` for `k` classes.
    pub fn one_hot(&self, k: usize) -> Result<Tensor<f64>> {
        one_hot(&self.labels()?, k)
    }
}

/// One-hot rows `[n, k]` for labels in `0..k`.
pub fn one_hot(labels: &[usize], k: usize) -> Result<Tensor<f64>> {
    let mut out = vec![0.0; labels.len() * k];
    for (i, &l) in labels.iter().enumerate() {
        if l >= k {
            return Err(Error::InvalidArgument {
                op: "one_hot",
                message: format!("label {l} in row {i} is not below the class count {k}"),
            });
        }
        out[i * k + l] = 1.0;
    }
    Ok(Tensor::from_vec(out, [labels.len(), k])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset::new(
            vec!["a".into(), "b".into()],
            "y",
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            vec![0.0, 1.0, 2.0],
        )
        .unwrap()
    }

    #[test]
    fn select_and_labels() {
        let d = tiny();
        let s = d.select(&[2, 0, 2]).unwrap();
        assert_eq!(s.x.data(), &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        assert_eq!(s.labels().unwrap(), vec![2, 0, 2]);
        assert_eq!(d.n_classes().unwrap(), 3);
        assert!(d.select(&[3]).is_err());
        assert_eq!(d.one_hot(3).unwrap().data(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(d.one_hot(2).is_err());
        let bad = Dataset::new(vec!["a".into()], "y", vec![1.0], vec![0.5]).unwrap();
        assert!(matches!(bad.labels(), Err(Error::NotLabels { row: 0, .. })));
    }
}

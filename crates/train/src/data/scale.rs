//! Feature scaling fitted on the training split only, then applied to every split; the
//! statistics are saved with the model (as named tensors).

use downhill_tensor::Tensor;

use crate::{Error, Result};

fn columns(x: &Tensor<f64>, op: &'static str) -> Result<(usize, usize)> {
    match x.dims() {
        &[n, d] if n > 0 => Ok((n, d)),
        dims => Err(Error::InvalidArgument {
            op,
            message: format!("needs a non-empty [rows, features] matrix, got shape {dims:?}"),
        }),
    }
}

fn apply(
    x: &Tensor<f64>,
    shift: &[f64],
    scale: &[f64],
    op: &'static str,
    inverse: bool,
) -> Result<Tensor<f64>> {
    let d = shift.len();
    if x.rank() != 2 || x.dims()[1] != d {
        return Err(Error::InvalidArgument {
            op,
            message: format!("the scaler was fitted on {d} features, got shape {:?}", x.dims()),
        });
    }
    let mut out = x.clone();
    for row in out.data_mut().chunks_exact_mut(d) {
        for ((v, &m), &s) in row.iter_mut().zip(shift).zip(scale) {
            *v = if inverse { *v * s + m } else { (*v - m) / s };
        }
    }
    Ok(out)
}

/// `(x − mean) / std` per feature, with the population std (ddof = 0, as scikit-learn).
///
/// A feature whose std is at most `eps` (default 1e-12) is constant: it is centred but not
/// divided (scale 1), as scikit-learn does, instead of blowing up.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler {
    /// Per-feature means.
    pub mean: Vec<f64>,
    /// Per-feature population standard deviations.
    pub std: Vec<f64>,
    /// Threshold under which a std counts as zero.
    pub eps: f64,
}

impl StandardScaler {
    /// Fits on `x` (`[n, d]`), which should be the training split only.
    pub fn fit(x: &Tensor<f64>) -> Result<Self> {
        let (n, d) = columns(x, "StandardScaler::fit")?;
        let mut mean = vec![0.0; d];
        for row in x.data().chunks_exact(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0; d];
        for row in x.data().chunks_exact(d) {
            for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var.into_iter().map(|s| (s / n as f64).sqrt()).collect();
        Ok(StandardScaler { mean, std, eps: 1e-12 })
    }

    fn scale(&self) -> Vec<f64> {
        self.std.iter().map(|&s| if s > self.eps { s } else { 1.0 }).collect()
    }

    /// Standardizes `x` with the fitted statistics.
    pub fn transform(&self, x: &Tensor<f64>) -> Result<Tensor<f64>> {
        apply(x, &self.mean, &self.scale(), "StandardScaler::transform", false)
    }

    /// Undoes [`StandardScaler::transform`].
    pub fn inverse_transform(&self, x: &Tensor<f64>) -> Result<Tensor<f64>> {
        apply(x, &self.mean, &self.scale(), "StandardScaler::inverse_transform", true)
    }

    /// The statistics as named tensors (`{prefix}.mean`, `{prefix}.std`, `{prefix}.eps`), for
    /// saving with the model.
    pub fn to_named(&self, prefix: &str) -> Vec<(String, Tensor<f64>)> {
        vec![
            (format!("{prefix}.mean"), Tensor::vector(&self.mean)),
            (format!("{prefix}.std"), Tensor::vector(&self.std)),
            (format!("{prefix}.eps"), Tensor::scalar(self.eps)),
        ]
    }

    /// Rebuilds a scaler from [`StandardScaler::to_named`]'s tensors.
    pub fn from_named<'a>(prefix: &str, get: impl Fn(&str) -> Option<&'a Tensor<f64>>) -> Result<Self> {
        let need = |name: String| {
            get(&name).ok_or_else(|| Error::InvalidArgument {
                op: "StandardScaler::from_named",
                message: format!("no tensor {name:?}; was the scaler saved under the prefix {prefix:?}?"),
            })
        };
        let mean = need(format!("{prefix}.mean"))?.data().to_vec();
        let std = need(format!("{prefix}.std"))?.data().to_vec();
        let eps = need(format!("{prefix}.eps"))?.item()?;
        if mean.len() != std.len() {
            return Err(Error::InvalidArgument {
                op: "StandardScaler::from_named",
                message: format!("{} means but {} stds", mean.len(), std.len()),
            });
        }
        Ok(StandardScaler { mean, std, eps })
    }
}

/// `(x − min) / (max − min)` per feature, into `[0, 1]` on the fitted data. A constant feature
/// (range ≤ 1e-12) is shifted but not divided.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler {
    /// Per-feature minima.
    pub min: Vec<f64>,
    /// Per-feature maxima.
    pub max: Vec<f64>,
}

impl MinMaxScaler {
    /// Fits on `x` (`[n, d]`).
    pub fn fit(x: &Tensor<f64>) -> Result<Self> {
        let (_, d) = columns(x, "MinMaxScaler::fit")?;
        let mut min = vec![f64::INFINITY; d];
        let mut max = vec![f64::NEG_INFINITY; d];
        for row in x.data().chunks_exact(d) {
            for j in 0..d {
                min[j] = min[j].min(row[j]);
                max[j] = max[j].max(row[j]);
            }
        }
        Ok(MinMaxScaler { min, max })
    }

    fn range(&self) -> Vec<f64> {
        self.min.iter().zip(&self.max).map(|(a, b)| if b - a > 1e-12 { b - a } else { 1.0 }).collect()
    }

    /// Scales `x` with the fitted minima and maxima.
    pub fn transform(&self, x: &Tensor<f64>) -> Result<Tensor<f64>> {
        apply(x, &self.min, &self.range(), "MinMaxScaler::transform", false)
    }

    /// Undoes [`MinMaxScaler::transform`].
    pub fn inverse_transform(&self, x: &Tensor<f64>) -> Result<Tensor<f64>> {
        apply(x, &self.min, &self.range(), "MinMaxScaler::inverse_transform", true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizes_with_population_std_and_round_trips() {
        let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 10.0, 5.0, 10.0], [3, 2]).unwrap();
        let s = StandardScaler::fit(&x).unwrap();
        assert_eq!(s.mean, vec![3.0, 10.0]);
        assert!((s.std[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.std[1], 0.0);
        let z = s.transform(&x).unwrap();
        assert_eq!(z.data()[1], 0.0, "constant feature is centred, not divided by zero");
        let back = s.inverse_transform(&z).unwrap();
        for (a, b) in back.data().iter().zip(x.data()) {
            assert!((a - b).abs() < 1e-12);
        }
        let named = s.to_named("scaler");
        let again =
            StandardScaler::from_named("scaler", |n| named.iter().find(|(k, _)| k == n).map(|(_, t)| t))
                .unwrap();
        assert_eq!(again, s);
        assert!(s.transform(&Tensor::zeros([2, 3])).is_err());
        assert!(StandardScaler::fit(&Tensor::zeros([0, 3])).is_err());
    }

    #[test]
    fn min_max_maps_into_unit_interval() {
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 2.0], [2, 2]).unwrap();
        let s = MinMaxScaler::fit(&x).unwrap();
        assert_eq!(s.transform(&x).unwrap().data(), &[0.0, 0.0, 1.0, 0.0]);
    }
}

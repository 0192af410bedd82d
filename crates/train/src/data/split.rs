//! Seeded train/validation/test splits, optionally stratified by class.

use rand::seq::SliceRandom;

use super::Dataset;
use crate::{Error, Result};
use downhill_tensor::seeded_rng;

/// Fractions and seed of a split.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitOptions {
    /// Fraction of rows for validation (default 0.0).
    pub val: f64,
    /// Fraction of rows for testing (default 0.2).
    pub test: f64,
    /// Seed of the shuffle (default 0).
    pub seed: u64,
    /// Keep each class's proportion in every part (classification only; default false).
    pub stratify: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions { val: 0.0, test: 0.2, seed: 0, stratify: false }
    }
}

/// Row indices of each part, each list in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub val: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits rows `0..n` (with their class `labels` when stratifying).
///
/// Each part gets `round(fraction × count)` rows (per class when stratified); training gets the
/// rest. The same seed gives the same split.
pub fn split(n: usize, labels: Option<&[usize]>, opts: &SplitOptions) -> Result<Split> {
    let ok = |f: f64| f.is_finite() && (0.0..1.0).contains(&f);
    if !ok(opts.val) || !ok(opts.test) || opts.val + opts.test >= 1.0 {
        return Err(Error::InvalidArgument {
            op: "split",
            message: format!(
                "val {} and test {} must each be in [0, 1) and leave rows for training (val + test < 1)",
                opts.val, opts.test
            ),
        });
    }
    let mut rng = seeded_rng(opts.seed);
    let groups: Vec<Vec<usize>> = match (opts.stratify, labels) {
        (false, _) => vec![(0..n).collect()],
        (true, None) => {
            return Err(Error::InvalidArgument {
                op: "split",
                message: "stratify needs class labels; pass Some(labels) or set stratify to false"
                    .to_string(),
            });
        }
        (true, Some(l)) => {
            if l.len() != n {
                return Err(Error::InvalidArgument {
                    op: "split",
                    message: format!("{} labels for {n} rows", l.len()),
                });
            }
            let k = l.iter().max().map_or(0, |m| m + 1);
            let mut g = vec![Vec::new(); k];
            for (i, &c) in l.iter().enumerate() {
                g[c].push(i);
            }
            g
        }
    };
    let mut out = Split { train: Vec::new(), val: Vec::new(), test: Vec::new() };
    for mut g in groups {
        g.shuffle(&mut rng);
        let n_test = (g.len() as f64 * opts.test).round() as usize;
        let n_val = ((g.len() as f64 * opts.val).round() as usize).min(g.len() - n_test);
        out.test.extend_from_slice(&g[..n_test]);
        out.val.extend_from_slice(&g[n_test..n_test + n_val]);
        out.train.extend_from_slice(&g[n_test + n_val..]);
    }
    out.train.sort_unstable();
    out.val.sort_unstable();
    out.test.sort_unstable();
    Ok(out)
}

impl Dataset {
    /// Splits the rows into `(train, val, test)` datasets (stratified by label if asked).
    pub fn split(&self, opts: &SplitOptions) -> Result<(Dataset, Dataset, Dataset)> {
        let labels = if opts.stratify { Some(self.labels()?) } else { None };
        let s = split(self.len(), labels.as_deref(), opts)?;
        Ok((self.select(&s.train)?, self.select(&s.val)?, self.select(&s.test)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_all_rows_deterministically() {
        let o = SplitOptions { val: 0.1, test: 0.2, seed: 7, stratify: false };
        let a = split(100, None, &o).unwrap();
        assert_eq!((a.train.len(), a.val.len(), a.test.len()), (70, 10, 20));
        let mut all: Vec<usize> = a.train.iter().chain(&a.val).chain(&a.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(a, split(100, None, &o).unwrap());
        assert_ne!(a, split(100, None, &SplitOptions { seed: 8, ..o.clone() }).unwrap());
    }

    #[test]
    fn stratified_keeps_class_proportions() {
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i < 10)).collect();
        let o = SplitOptions { val: 0.0, test: 0.2, seed: 1, stratify: true };
        let s = split(100, Some(&labels), &o).unwrap();
        assert_eq!(s.test.iter().filter(|&&i| labels[i] == 1).count(), 2);
        assert_eq!(s.test.len(), 20);
    }

    #[test]
    fn bad_fractions_are_errors() {
        for (v, t) in [(0.5, 0.5), (-0.1, 0.2), (0.0, f64::NAN), (0.0, 1.0)] {
            let o = SplitOptions { val: v, test: t, ..SplitOptions::default() };
            assert!(split(10, None, &o).is_err(), "{v} {t}");
        }
        let o = SplitOptions { stratify: true, ..SplitOptions::default() };
        assert!(split(10, None, &o).is_err());
    }
}

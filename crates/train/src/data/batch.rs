//! Seeded mini-batches. Batch size 1 is SGD, batch size ≥ n is full-batch gradient descent.
//!
//! Epoch `e` visits the rows in a permutation drawn from a generator seeded by `(seed, e)`, so an
//! epoch's order depends only on the seed and the epoch number: a run resumed from a [`Cursor`]
//! sees exactly the batches the uninterrupted run would have seen.

use rand::seq::SliceRandom;

use crate::{Error, Result};
use downhill_tensor::seeded_rng;

/// Where a run is in its data: the epoch and the index of the next batch within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Epoch number (from 0).
    pub epoch: u64,
    /// Next batch within the epoch (from 0).
    pub batch: usize,
}

/// A seeded batching plan over `n` rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batches {
    n: usize,
    size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
}

impl Batches {
    /// Batches of `size` rows (clamped to `n`), shuffled every epoch, the last one possibly smaller.
    pub fn new(n: usize, size: usize, seed: u64) -> Result<Self> {
        if size == 0 || n == 0 {
            return Err(Error::InvalidArgument {
                op: "Batches::new",
                message: format!(
                    "needs at least one row and a batch size >= 1, got {n} rows and batch size {size}"
                ),
            });
        }
        Ok(Batches { n, size: size.min(n), seed, shuffle: true, drop_last: false })
    }

    /// Keeps the rows in order (no shuffling).
    pub fn sequential(mut self) -> Self {
        self.shuffle = false;
        self
    }

    /// Drops the last, smaller batch of each epoch.
    pub fn drop_last(mut self) -> Self {
        self.drop_last = true;
        self
    }

    /// Rows per batch.
    pub fn batch_size(&self) -> usize {
        self.size
    }

    /// Batches in each epoch.
    pub fn per_epoch(&self) -> usize {
        if self.drop_last { self.n / self.size } else { self.n.div_ceil(self.size) }
    }

    /// The row order of epoch `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..self.n).collect();
        if self.shuffle {
            // Mix the epoch into the seed (SplitMix64's increment) so epochs are independent.
            let mut rng = seeded_rng(self.seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            rows.shuffle(&mut rng);
        }
        rows
    }

    /// The batches of epoch `epoch`, from batch `from` on.
    pub fn epoch(&self, epoch: u64, from: usize) -> Vec<Vec<usize>> {
        let order = self.order(epoch);
        order.chunks(self.size).take(self.per_epoch()).skip(from).map(<[usize]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_full_batch_and_minibatch() {
        let sgd = Batches::new(5, 1, 0).unwrap();
        assert_eq!(sgd.per_epoch(), 5);
        let full = Batches::new(5, 100, 0).unwrap();
        assert_eq!(full.epoch(0, 0).len(), 1);
        let mb = Batches::new(10, 4, 3).unwrap();
        let e0 = mb.epoch(0, 0);
        assert_eq!(e0.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        let mut all: Vec<usize> = e0.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(mb.order(0), mb.order(1), "each epoch reshuffles");
        assert_eq!(mb.epoch(1, 1), mb.epoch(1, 0)[1..].to_vec(), "resuming mid-epoch sees the same batches");
        assert_eq!(mb.clone().drop_last().per_epoch(), 2);
        assert_eq!(mb.clone().sequential().order(5), (0..10).collect::<Vec<_>>());
        assert!(Batches::new(10, 0, 0).is_err());
    }
}

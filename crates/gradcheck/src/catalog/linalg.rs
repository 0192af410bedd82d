//! Matrix products (`ops/linalg.rs`).

use downhill_tensor::SeededRng;

use super::draw::{size, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(name: &'static str, make: fn(&mut SeededRng) -> Case) -> Entry {
    Entry {
        name,
        family: Family::Linalg,
        methods: &["matmul"],
        records: &["matmul"],
        expect: Expect::Gradient,
        make,
        kink: None,
    }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("matmul", |r| {
        let (m, k, n) = (size(r, 1, 5), size(r, 1, 5), size(r, 1, 5));
        let (a, b) = (uniform(&[m, k], r, -2.0, 2.0), uniform(&[k, n], r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].matmul(v[1]))
    }),
    entry("matmul_batched", |r| {
        let (batch, m, k, n) = (size(r, 1, 3), size(r, 1, 4), size(r, 1, 4), size(r, 1, 4));
        let (a, b) = (uniform(&[batch, m, k], r, -2.0, 2.0), uniform(&[batch, k, n], r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].matmul(v[1]))
    }),
];

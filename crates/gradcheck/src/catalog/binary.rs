//! Elementwise ops of two tensors (`ops/binary.rs`): same shapes, a rank-0 operand with any
//! shape, and the explicit `broadcast_*` forms.

use downhill_tensor::{SeededRng, Tensor};
use rand::RngExt;

use super::draw::{dims, distinct, plant, signed, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Binary, methods, records, expect: Expect::Gradient, make, kink: None }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("add", &["add"], &["add"], |r| {
        let d = dims(r, 0, 3);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&d, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0] + v[1])
    }),
    entry("sub", &["sub"], &["sub"], |r| {
        let d = dims(r, 0, 3);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&d, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0] - v[1])
    }),
    entry("mul", &["mul"], &["mul"], |r| {
        let d = dims(r, 0, 3);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&d, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0] * v[1])
    }),
    entry("div", &["div"], &["div"], |r| {
        let d = dims(r, 0, 3);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), signed(&d, r, 0.5, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0] / v[1])
    }),
    Entry {
        kink: Some(|r| {
            let (a, b, n) = tied(r);
            Case::new(vec![("a", a), ("b", b)], "ties planted", |_, v| v[0].maximum(v[1])).with_kinks(2 * n)
        }),
        ..entry("maximum", &["maximum"], &["maximum"], |r| {
            let (a, b) = separated(&dims(r, 0, 3), r);
            Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].maximum(v[1]))
        })
    },
    Entry {
        kink: Some(|r| {
            let (a, b, n) = tied(r);
            Case::new(vec![("a", a), ("b", b)], "ties planted", |_, v| v[0].minimum(v[1])).with_kinks(2 * n)
        }),
        ..entry("minimum", &["minimum"], &["minimum"], |r| {
            let (a, b) = separated(&dims(r, 0, 3), r);
            Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].minimum(v[1]))
        })
    },
    // A rank-0 operand combines with any shape; its gradient is a sum over the other's elements.
    entry("add_rank0", &["add"], &["add"], |r| {
        let a = uniform(&dims(r, 1, 3), r, -2.0, 2.0);
        let b = uniform(&[], r, -2.0, 2.0);
        Case::new(vec![("a", a), ("s", b)], "rank-0 rhs", |_, v| v[0] + v[1])
    }),
    entry("sub_rank0", &["sub"], &["sub"], |r| {
        let s = uniform(&[], r, -2.0, 2.0);
        let b = uniform(&dims(r, 1, 3), r, -2.0, 2.0);
        Case::new(vec![("s", s), ("b", b)], "rank-0 lhs", |_, v| v[0] - v[1])
    }),
    entry("mul_rank0", &["mul"], &["mul"], |r| {
        let a = uniform(&dims(r, 1, 3), r, -2.0, 2.0);
        let s = uniform(&[], r, -2.0, 2.0);
        Case::new(vec![("a", a), ("s", s)], "rank-0 rhs", |_, v| v[0] * v[1])
    }),
    entry("div_rank0", &["div"], &["div"], |r| {
        let s = uniform(&[], r, -2.0, 2.0);
        let b = signed(&dims(r, 1, 3), r, 0.5, 2.0);
        Case::new(vec![("s", s), ("b", b)], "rank-0 lhs", |_, v| v[0] / v[1])
    }),
    entry("maximum_rank0", &["maximum"], &["maximum"], |r| {
        let a = distinct(&dims(r, 1, 3), r);
        let s = off_grid(r, &a);
        Case::new(vec![("a", a), ("s", s)], "rank-0 rhs", |_, v| v[0].maximum(v[1]))
    }),
    entry("minimum_rank0", &["minimum"], &["minimum"], |r| {
        let b = distinct(&dims(r, 1, 3), r);
        let s = off_grid(r, &b);
        Case::new(vec![("s", s), ("b", b)], "rank-0 lhs", |_, v| v[0].minimum(v[1]))
    }),
    entry("broadcast_add", &["broadcast_add"], &["broadcast_to", "add"], |r| {
        let (d, small) = grown(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&small, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].broadcast_add(v[1]))
    }),
    entry("broadcast_sub", &["broadcast_sub"], &["broadcast_to", "sub"], |r| {
        let (d, small) = grown(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&small, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].broadcast_sub(v[1]))
    }),
    entry("broadcast_mul", &["broadcast_mul"], &["broadcast_to", "mul"], |r| {
        let (d, small) = grown(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&small, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].broadcast_mul(v[1]))
    }),
    entry("broadcast_div", &["broadcast_div"], &["broadcast_to", "div"], |r| {
        let (d, small) = grown(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), signed(&small, r, 0.5, 2.0));
        Case::new(vec![("a", a), ("b", b)], "", |_, v| v[0].broadcast_div(v[1]))
    }),
    // A row (`[1, …, 1, n]`) is one node, without the broadcast copy.
    entry("broadcast_add_row", &["broadcast_add"], &["add"], |r| {
        let (d, row) = row(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&row, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "row", |_, v| v[0].broadcast_add(v[1]))
    }),
    entry("broadcast_sub_row", &["broadcast_sub"], &["sub"], |r| {
        let (d, row) = row(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&row, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "row", |_, v| v[0].broadcast_sub(v[1]))
    }),
    entry("broadcast_mul_row", &["broadcast_mul"], &["mul"], |r| {
        let (d, row) = row(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&row, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "row", |_, v| v[0].broadcast_mul(v[1]))
    }),
    entry("broadcast_div_row", &["broadcast_div"], &["div"], |r| {
        let (d, row) = row(r);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), signed(&row, r, 0.5, 2.0));
        Case::new(vec![("a", a), ("b", b)], "row", |_, v| v[0].broadcast_div(v[1]))
    }),
];

/// Two tensors of shape `d` that differ by at least 0.1 everywhere (no ties).
fn separated(d: &[usize], r: &mut SeededRng) -> (Tensor<f64>, Tensor<f64>) {
    let a = uniform(d, r, -2.0, 2.0);
    let offset = signed(d, r, 0.1, 1.0);
    let mut b = a.clone();
    b.data_mut().iter_mut().zip(offset.data()).for_each(|(x, o)| *x += o);
    (a, b)
}

/// Like [`separated`], with some elements of `b` set equal to `a`'s: returns how many.
fn tied(r: &mut SeededRng) -> (Tensor<f64>, Tensor<f64>, usize) {
    let d = dims(r, 0, 3);
    let (a, mut b) = separated(&d, r);
    let mut mask = Tensor::zeros(d.as_slice());
    let n = plant(r, &mut mask, 1.0);
    b.data_mut().iter_mut().zip(a.data()).zip(mask.data()).for_each(|((y, &x), &m)| {
        if m == 1.0 {
            *y = x;
        }
    });
    (a, b, n)
}

/// A rank-0 value at least 0.05 away from every element of `a`.
fn off_grid(r: &mut SeededRng, a: &Tensor<f64>) -> Tensor<f64> {
    super::draw::avoiding(&[], r, -2.0, 2.0, a.data(), 0.05f64.min(0.25 * 4.0 / (a.numel() as f64 + 1.0)))
}

/// A shape of rank 1..=3 and the same shape with a random non-empty set of axes shrunk to 1, not
/// a row.
fn grown(r: &mut SeededRng) -> (Vec<usize>, Vec<usize>) {
    let mut d = dims(r, 1, 3);
    let forced = r.random_range(0..d.len());
    let mut small: Vec<usize> =
        d.iter().enumerate().map(|(i, &n)| if i == forced || r.random_bool(0.5) { 1 } else { n }).collect();
    // Not a row (1 in every axis but the last, which is the big shape's): those are
    // `*_row`'s. Shrinking the last axis too makes it none.
    if small.iter().rev().skip(1).all(|&n| n == 1) {
        let last = d.len() - 1;
        d[last] = d[last].max(2);
        small[last] = 1;
    }
    (d, small)
}

/// A shape of rank 2 or 3 with at least 2 rows, and a row for it: the same rank, 1 in every
/// axis but the last.
fn row(r: &mut SeededRng) -> (Vec<usize>, Vec<usize>) {
    let mut d = dims(r, 2, 3);
    d[0] = d[0].max(2);
    let row = d.iter().enumerate().map(|(i, &n)| if i + 1 == d.len() { n } else { 1 }).collect();
    (d, row)
}

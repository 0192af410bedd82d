//! Ops that move elements (`ops/movement.rs`): reshape, permute, broadcast, slices, gathers,
//! concatenation, and detach.

use downhill_tensor::SeededRng;
use rand::RngExt;

use super::draw::{dims, factor, list, permutation, signed, size, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Movement, methods, records, expect: Expect::Gradient, make, kink: None }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("reshape", &["reshape"], &["reshape"], |r| {
        let d = dims(r, 0, 3);
        let rank = size(r, 0, 3);
        let n: usize = d.iter().product();
        let to = if rank == 0 && n != 1 { vec![n] } else { factor(r, n, rank) };
        let x = uniform(&d, r, -2.0, 2.0);
        let args = format!("to {}", list(&to));
        Case::new(vec![("x", x)], args, move |_, v| v[0].reshape(to.as_slice()))
    }),
    entry("unsqueeze", &["unsqueeze"], &["reshape"], |r| {
        let d = dims(r, 0, 3);
        let axis = r.random_range(0..=d.len());
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("axis {axis}"), move |_, v| v[0].unsqueeze(axis))
    }),
    entry("squeeze", &["squeeze"], &["reshape"], |r| {
        let mut d = dims(r, 0, 3);
        let axis = r.random_range(0..=d.len());
        d.insert(axis, 1);
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("axis {axis}"), move |_, v| v[0].squeeze(axis))
    }),
    entry("permute", &["permute"], &["permute"], |r| {
        let d = dims(r, 1, 4);
        let perm = permutation(r, d.len());
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("perm {}", list(&perm)), move |_, v| v[0].permute(&perm))
    }),
    entry("transpose", &["transpose"], &["permute"], |r| {
        let d = dims(r, 2, 4);
        let a = r.random_range(0..d.len());
        let b = (a + r.random_range(1..d.len())) % d.len();
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("axes {a}, {b}"), move |_, v| v[0].transpose(a, b))
    }),
    entry("t", &["t"], &["permute"], |r| {
        let x = uniform(&dims(r, 2, 2), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].t())
    }),
    entry("broadcast_to", &["broadcast_to"], &["broadcast_to"], |r| {
        let to = dims(r, 1, 3);
        let forced = r.random_range(0..to.len());
        let from: Vec<usize> = to
            .iter()
            .enumerate()
            .map(|(i, &n)| if i == forced || r.random_bool(0.5) { 1 } else { n })
            .collect();
        let x = uniform(&from, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("to {}", list(&to)), move |_, v| v[0].broadcast_to(to.as_slice()))
    }),
    entry("narrow", &["narrow"], &["narrow"], |r| {
        let mut d = dims(r, 1, 3);
        let axis = r.random_range(0..d.len());
        d[axis] = size(r, 1, 5);
        let start = r.random_range(0..d[axis]);
        let len = r.random_range(1..=d[axis] - start);
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("axis {axis}, start {start}, len {len}"), move |_, v| {
            v[0].narrow(axis, start, len)
        })
    }),
    entry("index_select", &["index_select"], &["index_select"], |r| {
        let d = dims(r, 1, 3);
        let axis = r.random_range(0..d.len());
        let count = size(r, 1, 5);
        // Repeats are likely: their gradients must add up.
        let idx: Vec<usize> = (0..count).map(|_| r.random_range(0..d[axis])).collect();
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("axis {axis}, indices {}", list(&idx)), move |_, v| {
            v[0].index_select(axis, &idx)
        })
    }),
    entry("pick", &["pick"], &["pick"], |r| {
        let (n, k) = (size(r, 1, 4), size(r, 1, 5));
        let idx: Vec<usize> = (0..n).map(|_| r.random_range(0..k)).collect();
        let x = uniform(&[n, k], r, -2.0, 2.0);
        Case::new(vec![("x", x)], format!("indices {}", list(&idx)), move |_, v| v[0].pick(&idx))
    }),
    entry("concat", &["concat"], &["concat"], |r| {
        let d = dims(r, 1, 3);
        let axis = r.random_range(0..d.len());
        let parts = size(r, 2, 3);
        let names = ["a", "b", "c"];
        let inputs = names[..parts]
            .iter()
            .map(|&name| {
                let mut di = d.clone();
                di[axis] = size(r, 1, 3);
                (name, uniform(&di, r, -2.0, 2.0))
            })
            .collect();
        Case::new(inputs, format!("axis {axis}"), move |t, v| t.concat(v, axis))
    }),
    Entry {
        expect: Expect::BlocksGradient { input: "x" },
        ..entry("detach", &["detach"], &["detach", "mul"], |r| {
            let d = dims(r, 0, 3);
            let (x, y) = (uniform(&d, r, -2.0, 2.0), signed(&d, r, 0.5, 2.0));
            Case::new(vec![("x", x), ("y", y)], "x.detach() * y", |_, v| v[0].detach() * v[1])
        })
    },
];

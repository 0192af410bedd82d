//! Reductions (`ops/reduce.rs`): over everything or along an axis, and the softmax family.

use downhill_tensor::{SeededRng, Tensor};
use rand::RngExt;

use super::draw::{dims, distinct, size, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Reduce, methods, records, expect: Expect::Gradient, make, kink: None }
}

/// A shape of rank 1..=3, an axis of it, and a keepdim flag.
fn axis_case(r: &mut SeededRng) -> (Vec<usize>, usize, bool) {
    let d = dims(r, 1, 3);
    let axis = r.random_range(0..d.len());
    (d, axis, r.random_bool(0.5))
}

fn describe(axis: usize, keepdim: bool) -> String {
    if keepdim { format!("axis {axis}, keepdim") } else { format!("axis {axis}") }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("sum", &["sum"], &["sum"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].sum())
    }),
    entry("mean", &["mean"], &["sum", "div_scalar"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].mean())
    }),
    // The fused `mean(softplus(z) − y·z)` of `ops/fused.rs` (both inputs differentiated).
    entry("bce_with_logits_mean", &["bce_with_logits_mean"], &["bce_with_logits"], |r| {
        let d = dims(r, 0, 3);
        let (z, y) = (uniform(&d, r, -4.0, 4.0), uniform(&d, r, 0.0, 1.0));
        Case::new(vec![("z", z), ("y", y)], "", |_, v| v[0].bce_with_logits_mean(v[1]))
    }),
    // The fused logistic-regression loss of `ops/fused.rs`: all four inputs differentiated,
    // feature counts on both sides of its 16-feature fast path, each bias shape it accepts.
    entry(
        "linear_bce_with_logits_mean",
        &["linear_bce_with_logits_mean"],
        &["linear_bce_with_logits"],
        |r| {
            let (n, k) = (size(r, 1, 6), if r.random_bool(0.8) { size(r, 1, 5) } else { 17 });
            let x = uniform(&[n, k], r, -2.0, 2.0);
            let w = uniform(&[k, 1], r, -1.0, 1.0);
            let bias_dims: &[usize] = [&[][..], &[1][..], &[1, 1][..]][r.random_range(0..3)];
            let b = uniform(bias_dims, r, -1.0, 1.0);
            let y = uniform(&[n, 1], r, 0.0, 1.0);
            Case::new(vec![("x", x), ("w", w), ("b", b), ("y", y)], "", |_, v| {
                v[0].linear_bce_with_logits_mean(v[1], v[2], v[3])
            })
        },
    ),
    // The fused softmax cross-entropy of `ops/softmax_ce.rs`: one class up to several, labels
    // drawn per row.
    entry(
        "softmax_cross_entropy_mean",
        &["softmax_cross_entropy_mean"],
        &["softmax_cross_entropy_mean"],
        |r| {
            let (n, k) = (size(r, 1, 5), size(r, 1, 6));
            let labels: Vec<usize> = (0..n).map(|_| r.random_range(0..k)).collect();
            let x = uniform(&[n, k], r, -3.0, 3.0);
            Case::new(vec![("logits", x)], format!("labels {}", super::draw::list(&labels)), move |_, v| {
                v[0].softmax_cross_entropy_mean(&labels)
            })
        },
    ),
    Entry {
        kink: Some(|r| {
            let (x, n) = tied_max(&dims(r, 1, 3), r, None);
            Case::new(vec![("x", x)], "maximum repeated", |_, v| v[0].max()).with_kinks(n)
        }),
        ..entry("max", &["max"], &["max"], |r| {
            let x = distinct(&dims(r, 0, 3), r);
            Case::new(vec![("x", x)], "", |_, v| v[0].max())
        })
    },
    entry("sum_axis", &["sum_axis"], &["sum_axis"], |r| {
        let (d, axis, keep) = axis_case(r);
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], describe(axis, keep), move |_, v| v[0].sum_axis(axis, keep))
    }),
    entry("mean_axis", &["mean_axis"], &["sum_axis", "div_scalar"], |r| {
        let (d, axis, keep) = axis_case(r);
        let x = uniform(&d, r, -2.0, 2.0);
        Case::new(vec![("x", x)], describe(axis, keep), move |_, v| v[0].mean_axis(axis, keep))
    }),
    Entry {
        kink: Some(|r| {
            let (d, axis, keep) = axis_case(r);
            let (x, n) = tied_max(&d, r, Some(axis));
            Case::new(vec![("x", x)], format!("{}, maxima repeated", describe(axis, keep)), move |_, v| {
                v[0].max_axis(axis, keep)
            })
            .with_kinks(n)
        }),
        ..entry("max_axis", &["max_axis"], &["max_axis"], |r| {
            let (d, axis, keep) = axis_case(r);
            let x = distinct(&d, r);
            Case::new(vec![("x", x)], describe(axis, keep), move |_, v| v[0].max_axis(axis, keep))
        })
    },
    entry("log_sum_exp", &["log_sum_exp"], &["log_sum_exp"], |r| {
        let (d, axis, keep) = axis_case(r);
        let x = uniform(&d, r, -3.0, 3.0);
        Case::new(vec![("x", x)], describe(axis, keep), move |_, v| v[0].log_sum_exp(axis, keep))
    }),
    entry("log_softmax", &["log_softmax"], &["log_sum_exp", "broadcast_to", "sub"], |r| {
        let (d, axis, _) = axis_case(r);
        let x = uniform(&d, r, -3.0, 3.0);
        Case::new(vec![("x", x)], format!("axis {axis}"), move |_, v| v[0].log_softmax(axis))
    }),
    entry("softmax", &["softmax"], &["log_sum_exp", "broadcast_to", "sub", "exp"], |r| {
        let (d, axis, _) = axis_case(r);
        let x = uniform(&d, r, -3.0, 3.0);
        Case::new(vec![("x", x)], format!("axis {axis}"), move |_, v| v[0].softmax(axis))
    }),
];

/// Distinct values, then the maximum of the whole tensor (`axis = None`) or of every slice along
/// `axis` copied onto one or more other positions of that slice. Returns the tensor and how many
/// elements now hold a (shared) maximum: each is a kink.
fn tied_max(d: &[usize], r: &mut SeededRng, axis: Option<usize>) -> (Tensor<f64>, usize) {
    let mut dd = d.to_vec();
    // Every slice needs at least two positions to hold a tie.
    let ax = axis.unwrap_or(0);
    if dd[ax] < 2 {
        dd[ax] = size(r, 2, 4);
    }
    let mut x = distinct(&dd, r);
    let slices: Vec<Vec<usize>> = match axis {
        None => vec![(0..x.numel()).collect()],
        Some(a) => {
            let (outer, n, inner) = split(&dd, a);
            (0..outer)
                .flat_map(|o| (0..inner).map(move |i| (0..n).map(|k| (o * n + k) * inner + i).collect()))
                .collect()
        }
    };
    let mut kinks = 0;
    let data = x.data_mut();
    for slice in slices {
        let mut best = slice[0];
        for &k in &slice {
            if data[k] > data[best] {
                best = k;
            }
        }
        let others: Vec<usize> = slice.iter().copied().filter(|&k| k != best).collect();
        let forced = others[r.random_range(0..others.len())];
        let mut copies = 1;
        for &k in &others {
            if k == forced || r.random_bool(0.25) {
                data[k] = data[best];
                copies += 1;
            }
        }
        kinks += copies;
    }
    (x, kinks)
}

/// `(outer, size, inner)` around `axis`.
fn split(d: &[usize], axis: usize) -> (usize, usize, usize) {
    (d[..axis].iter().product(), d[axis], d[axis + 1..].iter().product())
}

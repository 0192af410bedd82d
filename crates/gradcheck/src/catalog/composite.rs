//! Small models and losses built from many ops: the checks a model author relies on.

use downhill_tensor::SeededRng;
use rand::RngExt;

use super::draw::{size, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Composite, methods, records, expect: Expect::Gradient, make, kink: None }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("mse_loss", &["square", "mean"], &["sub", "square", "sum", "div_scalar"], |r| {
        let n = size(r, 1, 6);
        let (pred, target) = (uniform(&[n, 1], r, -2.0, 2.0), uniform(&[n, 1], r, -2.0, 2.0));
        Case::new(vec![("pred", pred), ("target", target)], "", |_, v| (v[0] - v[1]).square().mean())
    }),
    entry(
        "cross_entropy",
        &["log_softmax", "pick", "mean"],
        &["log_sum_exp", "broadcast_to", "sub", "pick", "sum", "div_scalar", "neg"],
        |r| {
            let (n, k) = (size(r, 1, 5), size(r, 2, 5));
            let labels: Vec<usize> = (0..n).map(|_| r.random_range(0..k)).collect();
            let logits = uniform(&[n, k], r, -3.0, 3.0);
            Case::new(
                vec![("logits", logits)],
                format!("labels {}", super::draw::list(&labels)),
                move |_, v| -v[0].log_softmax(1).pick(&labels).mean(),
            )
        },
    ),
    entry(
        "logistic_bce",
        &["matmul", "sigmoid", "log", "mean"],
        &["matmul", "add", "sigmoid", "log", "mul", "rsub_scalar", "sum", "div_scalar", "neg"],
        |r| {
            let (n, d) = (size(r, 2, 6), size(r, 1, 4));
            let x = uniform(&[n, d], r, -2.0, 2.0);
            let y = super::draw::tensor(&[n, 1], || if r.random_bool(0.5) { 1.0 } else { 0.0 });
            let (w, b) = (uniform(&[d, 1], r, -1.0, 1.0), uniform(&[], r, -0.5, 0.5));
            Case::new(vec![("w", w), ("b", b)], format!("x [{n}, {d}]"), move |t, v| {
                let (x, y) = (t.constant(&x), t.constant(&y));
                let p = (x.matmul(v[0]) + v[1]).sigmoid();
                // −mean(y·log p + (1 − y)·log(1 − p)).
                -(y * p.log() + (1.0 - y) * (1.0 - p).log()).mean()
            })
        },
    ),
    entry(
        "mlp_loss",
        &["matmul", "broadcast_add", "tanh", "square", "mean"],
        &["matmul", "add", "tanh", "sub", "square", "sum", "div_scalar"],
        |r| {
            let (n, d, h) = (size(r, 2, 5), size(r, 1, 3), size(r, 2, 4));
            let x = uniform(&[n, d], r, -2.0, 2.0);
            let y = uniform(&[n, 1], r, -1.0, 1.0);
            let w1 = uniform(&[d, h], r, -1.0, 1.0);
            let b1 = uniform(&[1, h], r, -0.5, 0.5);
            let w2 = uniform(&[h, 1], r, -1.0, 1.0);
            let b2 = uniform(&[1, 1], r, -0.5, 0.5);
            let inputs = vec![("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)];
            Case::new(inputs, format!("x [{n}, {d}], hidden {h}"), move |t, v| {
                let (x, y) = (t.constant(&x), t.constant(&y));
                let hidden = x.matmul(v[0]).broadcast_add(v[1]).tanh();
                (hidden.matmul(v[2]).broadcast_add(v[3]) - y).square().mean()
            })
        },
    ),
    entry(
        "attention",
        &["matmul", "t", "softmax"],
        &["matmul", "permute", "mul_scalar", "log_sum_exp", "broadcast_to", "sub", "exp"],
        |r| {
            let (n, d) = (size(r, 1, 4), size(r, 1, 3));
            let (q, k, v) = (
                uniform(&[n, d], r, -1.5, 1.5),
                uniform(&[n, d], r, -1.5, 1.5),
                uniform(&[n, d], r, -1.5, 1.5),
            );
            let scale = 1.0 / (d as f64).sqrt();
            Case::new(vec![("q", q), ("k", k), ("v", v)], "softmax(q·kᵀ/√d)·v", move |_, x| {
                (x[0].matmul(x[1].t()) * scale).softmax(1).matmul(x[2])
            })
        },
    ),
    entry(
        "layer_norm",
        &["mean_axis", "broadcast_sub", "sqrt", "broadcast_div", "broadcast_mul", "broadcast_add"],
        &[
            "sum_axis",
            "div_scalar",
            "broadcast_to",
            "sub",
            "square",
            "add_scalar",
            "sqrt",
            "div",
            "mul",
            "add",
        ],
        |r| {
            let (n, d) = (size(r, 1, 4), size(r, 2, 5));
            let x = uniform(&[n, d], r, -2.0, 2.0);
            let (gamma, beta) = (uniform(&[1, d], r, 0.5, 1.5), uniform(&[1, d], r, -0.5, 0.5));
            Case::new(vec![("x", x), ("gamma", gamma), ("beta", beta)], "eps 1e-5", |_, v| {
                let centred = v[0].broadcast_sub(v[0].mean_axis(1, true));
                let std = (centred.square().mean_axis(1, true) + 1e-5).sqrt();
                centred.broadcast_div(std).broadcast_mul(v[1]).broadcast_add(v[2])
            })
        },
    ),
];

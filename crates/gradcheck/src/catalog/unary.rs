//! Elementwise ops of one tensor (`ops/unary.rs`), including the scalar-operand arithmetic.

use downhill_tensor::SeededRng;
use rand::RngExt;

use super::draw::{avoiding, dims, plant, signed, uniform};
use super::{Case, Entry, Expect, Family};

/// A unary entry without kinks.
const fn smooth(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Unary, methods, records, expect: Expect::Gradient, make, kink: None }
}

/// A unary entry with a kink maker.
const fn kinked(
    name: &'static str,
    make: fn(&mut SeededRng) -> Case,
    kink: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry {
        name,
        family: Family::Unary,
        methods: &[],
        records: &[],
        expect: Expect::Gradient,
        make,
        kink: Some(kink),
    }
}

pub(super) const ENTRIES: &[Entry] = &[
    smooth("neg", &[], &["neg"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| -v[0])
    }),
    smooth("add_scalar", &[], &["add_scalar"], |r| {
        let (x, s) = (uniform(&dims(r, 0, 3), r, -2.0, 2.0), r.random_range(-2.0..2.0));
        Case::new(vec![("x", x)], format!("x + {s:.3}"), move |_, v| v[0] + s)
    }),
    smooth("sub_scalar", &[], &["add_scalar"], |r| {
        let (x, s) = (uniform(&dims(r, 0, 3), r, -2.0, 2.0), r.random_range(-2.0..2.0));
        Case::new(vec![("x", x)], format!("x - {s:.3}"), move |_, v| v[0] - s)
    }),
    smooth("rsub_scalar", &[], &["rsub_scalar"], |r| {
        let (x, s) = (uniform(&dims(r, 0, 3), r, -2.0, 2.0), r.random_range(-2.0..2.0));
        Case::new(vec![("x", x)], format!("{s:.3} - x"), move |_, v| s - v[0])
    }),
    smooth("mul_scalar", &[], &["mul_scalar"], |r| {
        let (x, s) = (uniform(&dims(r, 0, 3), r, -2.0, 2.0), r.random_range(-2.0..2.0));
        // Both operand orders record the same op; the case uses both.
        Case::new(vec![("x", x)], format!("{s:.3} * x * 0.5"), move |_, v| s * v[0] * 0.5)
    }),
    smooth("div_scalar", &[], &["div_scalar"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        let s = signed(&[], r, 0.5, 2.0).data()[0];
        Case::new(vec![("x", x)], format!("x / {s:.3}"), move |_, v| v[0] / s)
    }),
    smooth("rdiv_scalar", &[], &["rdiv_scalar"], |r| {
        let x = signed(&dims(r, 0, 3), r, 0.5, 2.0);
        let s = r.random_range(-2.0..2.0);
        Case::new(vec![("x", x)], format!("{s:.3} / x"), move |_, v| s / v[0])
    }),
    smooth("square", &["square"], &["square"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].square())
    }),
    smooth("sqrt", &["sqrt"], &["sqrt"], |r| {
        let x = uniform(&dims(r, 0, 3), r, 0.5, 3.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].sqrt())
    }),
    smooth("exp", &["exp"], &["exp"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].exp())
    }),
    smooth("log", &["log"], &["log"], |r| {
        let x = uniform(&dims(r, 0, 3), r, 0.5, 3.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].log())
    }),
    Entry { methods: &["abs"], records: &["abs"], ..kinked("abs", abs, abs_kink) },
    smooth("tanh", &["tanh"], &["tanh"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].tanh())
    }),
    smooth("sigmoid", &["sigmoid"], &["sigmoid"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -4.0, 4.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].sigmoid())
    }),
    Entry { methods: &["relu"], records: &["relu"], ..kinked("relu", relu, relu_kink) },
    Entry { methods: &["leaky_relu"], records: &["leaky_relu"], ..kinked("leaky_relu", leaky, leaky_kink) },
    smooth("softplus", &["softplus"], &["softplus"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -4.0, 4.0);
        Case::new(vec![("x", x)], "", |_, v| v[0].softplus())
    }),
    smooth("pow", &["pow"], &["pow"], |r| {
        let x = uniform(&dims(r, 0, 3), r, 0.5, 2.0);
        let p = r.random_range(-2.0..3.0);
        Case::new(vec![("x", x)], format!("p {p:.3}"), move |_, v| v[0].pow(p))
    }),
    Entry { methods: &["clamp"], records: &["clamp"], ..kinked("clamp", clamp, clamp_kink) },
];

fn abs(r: &mut SeededRng) -> Case {
    let x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    Case::new(vec![("x", x)], "", |_, v| v[0].abs())
}

fn abs_kink(r: &mut SeededRng) -> Case {
    let mut x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    let n = plant(r, &mut x, 0.0);
    Case::new(vec![("x", x)], "zeros planted", |_, v| v[0].abs()).with_kinks(n)
}

fn relu(r: &mut SeededRng) -> Case {
    let x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    Case::new(vec![("x", x)], "", |_, v| v[0].relu())
}

fn relu_kink(r: &mut SeededRng) -> Case {
    let mut x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    let n = plant(r, &mut x, 0.0);
    Case::new(vec![("x", x)], "zeros planted", |_, v| v[0].relu()).with_kinks(n)
}

fn leaky(r: &mut SeededRng) -> Case {
    let x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    let slope = r.random_range(0.01..0.3);
    Case::new(vec![("x", x)], format!("slope {slope:.3}"), move |_, v| v[0].leaky_relu(slope))
}

fn leaky_kink(r: &mut SeededRng) -> Case {
    let mut x = signed(&dims(r, 0, 3), r, 0.1, 2.0);
    let n = plant(r, &mut x, 0.0);
    let slope = r.random_range(0.01..0.3);
    Case::new(vec![("x", x)], format!("slope {slope:.3}, zeros planted"), move |_, v| v[0].leaky_relu(slope))
        .with_kinks(n)
}

fn bounds(r: &mut SeededRng) -> (f64, f64) {
    (r.random_range(-1.0..-0.2), r.random_range(0.2..1.0))
}

fn clamp(r: &mut SeededRng) -> Case {
    let (lo, hi) = bounds(r);
    let x = avoiding(&dims(r, 0, 3), r, -2.0, 2.0, &[lo, hi], 0.05);
    Case::new(vec![("x", x)], format!("[{lo:.3}, {hi:.3}]"), move |_, v| v[0].clamp(lo, hi))
}

fn clamp_kink(r: &mut SeededRng) -> Case {
    let (lo, hi) = bounds(r);
    let mut x = avoiding(&dims(r, 0, 3), r, -2.0, 2.0, &[lo, hi], 0.05);
    let bound = if r.random_bool(0.5) { lo } else { hi };
    let n = plant(r, &mut x, bound);
    Case::new(vec![("x", x)], format!("[{lo:.3}, {hi:.3}], {bound:.3} planted"), move |_, v| {
        v[0].clamp(lo, hi)
    })
    .with_kinks(n)
}

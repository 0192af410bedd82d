//! The fused logistic-regression node (`Var::linear_bce_with_logits_mean`, W1's kernel) on its
//! own: one forward + backward on `rows × 12` seeded random values, with and without the weight
//! gradients, in f64 and f32, as nanoseconds and cycles (at a clock you give) per row. The best
//! of several timed blocks, since a shared machine mostly adds time.
//!
//!     DOWNHILL_THREADS=1 cargo run --release --example w1_profile             # 32,768 rows (in L2)
//!     DOWNHILL_THREADS=1 cargo run --release --example w1_profile -- 200000   # W1's size (L3)
//!     DOWNHILL_THREADS=1 cargo run --release --example w1_profile -- 32768 3.4   # cycles at 3.4 GHz
//!
//! Build two versions and run them in turn to compare a change: one run is not enough on a
//! shared machine. Not part of the book; a measuring tool for the performance work.

use std::time::Instant;

use downhill::tensor::{Float, ParamId, Params, Tape, Tensor, seeded_rng};
use rand::RngExt;

/// Features per row, as W1's churn data.
const K: usize = 12;

/// Best time per step in seconds over `blocks` blocks of `iters` steps.
fn best_step<T: Float>(
    (x, y): (&Tensor<T>, &Tensor<T>),
    params: &Params<T>,
    (w, b): (ParamId, ParamId),
    grads: bool,
    iters: usize,
) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..7 {
        let t0 = Instant::now();
        for _ in 0..iters {
            let tape = Tape::<T>::new();
            let (xv, yv) = (tape.constant(x), tape.constant(y));
            let (wv, bv) = if grads {
                (tape.param(params, w), tape.param(params, b))
            } else {
                (tape.constant(params.get(w)), tape.constant(params.get(b)))
            };
            let loss = xv.linear_bce_with_logits_mean(wv, bv, yv);
            std::hint::black_box(loss.backward().expect("backward"));
        }
        best = best.min(t0.elapsed().as_secs_f64() / iters as f64);
    }
    best
}

fn run<T: Float>(rows: usize, ghz: f64) {
    let mut rng = seeded_rng(7);
    let mut uniform =
        |n: usize, scale: f64| -> Vec<T> { (0..n).map(|_| T::of(rng.random_range(-scale..scale))).collect() };
    let x = Tensor::from_vec(uniform(rows * K, 2.0), [rows, K]).expect("x");
    let y: Vec<T> =
        uniform(rows, 1.0).into_iter().map(|v| if v.f64() > 0.0 { T::one() } else { T::zero() }).collect();
    let y = Tensor::from_vec(y, [rows, 1]).expect("y");
    let mut params = Params::new();
    let w = params.insert("w", Tensor::from_vec(uniform(K, 0.3), [K, 1]).expect("w")).expect("insert w");
    let b = params.insert("b", Tensor::from_vec(vec![T::of(0.1)], [1]).expect("b")).expect("insert b");
    let iters = (4_000_000 / rows).max(3);
    for grads in [true, false] {
        let t = best_step((&x, &y), &params, (w, b), grads, iters);
        let per_row = t * 1e9 / rows as f64;
        println!(
            "{} {rows} rows, {}: {:8.1} µs a step, {per_row:5.2} ns a row, {:5.1} cycles a row at {ghz} GHz",
            T::DTYPE,
            if grads { "loss + gradients" } else { "loss only       " },
            t * 1e6,
            per_row * ghz
        );
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = match args.first() {
        Some(a) => a.parse().map_err(|_| format!("rows: expected a whole number, got {a:?}"))?,
        None => 32_768,
    };
    let ghz: f64 = match args.get(1) {
        Some(a) => a.parse().map_err(|_| format!("GHz: expected a number such as 3.4, got {a:?}"))?,
        None => 3.4,
    };
    let min_rows = downhill::tensor::LARGE.div_ceil(K);
    if rows < min_rows {
        return Err(format!(
            "{rows} rows take the composite path, not the fused kernel: pass at least {min_rows}"
        ));
    }
    run::<f64>(rows, ghz);
    run::<f32>(rows, ghz);
    Ok(())
}

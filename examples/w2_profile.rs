//! Where one W2 step (MLP + Adam, `benches/support/mod.rs`) spends its time: each phase of the step
//! timed on its own (median of many runs), and the step's five GEMMs issued directly (through the
//! library the tape picks for each layout) on the same shapes and strides, for the GEMMs' share
//! and their GFLOP/s.
//!
//!     DOWNHILL_THREADS=1 cargo run --release --example w2_profile -- b
//!     DOWNHILL_THREADS=2 cargo run --release --example w2_profile -- b
//!
//! The direct GEMM calls are single-threaded: at 2 threads they show one core's rate.
//!     cargo run --release --example w2_profile -- b loop 5000   # just steps (for `perf record`)
//!
//! Not part of the book; a measuring tool for the performance work.

#[path = "../benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use downhill::nn::loss::softmax_cross_entropy;
use downhill::optim::{Adam, AdamConfig, Optimizer};
use downhill::tensor::{Grads, Tape, Tensor};
use support::{Mlp2, W2A, W2B, raw_gemm};

/// Median time in µs of `f` over `reps` runs (after `reps / 10` warm-up runs).
fn median_us(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..reps / 10 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = if args.first().map(String::as_str) == Some("a") { W2A } else { W2B };
    if args.get(1).map(String::as_str) == Some("loop") {
        let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
        let mut m = Mlp2::new(shape);
        let mut s = 0.0;
        for _ in 0..n {
            s += m.step();
        }
        println!("{s}");
        return;
    }
    let reps = if shape.nin > 100 { 1000 } else { 5000 };
    println!(
        "W2 {}-{}-{} batch {}, DOWNHILL_THREADS={}",
        shape.nin,
        shape.nhid,
        shape.nout,
        shape.batch,
        downhill::tensor::threads()
    );

    // The whole step, as the bench times it.
    let mut m = Mlp2::new(shape);
    let step = median_us(reps, || {
        black_box(m.step());
    });

    // The same step cut into phases, each timed on its own (the tape is rebuilt each run).
    let params = &mut m.params;
    let ids = m.ids;
    let (xs, ys) = (&m.xs, &m.ys);
    let mut tape = Tape::<f32>::new();
    let mut grads = Grads::new();
    let mut opt = Adam::new(AdamConfig { lr: 1e-3, ..AdamConfig::default() }).unwrap();
    // Phases in order: each closure records the step up to its op (so a phase's time is the
    // difference to the one before).
    let mut upto = |stage: usize, params: &downhill::tensor::Params<f32>, grads: &mut Grads<f32>| {
        tape.clear();
        let [w1, b1, w2, b2] = ids.map(|id| tape.param(params, id));
        let x = tape.constant(&xs[0]);
        if stage == 0 {
            return;
        }
        let z1 = x.matmul(w1);
        if stage == 1 {
            return;
        }
        let a1 = z1.broadcast_add(b1);
        if stage == 2 {
            return;
        }
        let h = a1.relu();
        if stage == 3 {
            return;
        }
        let z2 = h.matmul(w2);
        if stage == 4 {
            return;
        }
        let logits = z2.broadcast_add(b2);
        if stage == 5 {
            return;
        }
        let loss = softmax_cross_entropy(logits, &ys[0]);
        if stage == 6 {
            black_box(loss.item().unwrap());
            return;
        }
        loss.backward_into(grads).unwrap();
    };
    let names = [
        "tape clear + 4 params + constant",
        "fwd x·W1 (matmul node)",
        "fwd + b1 (broadcast_add)",
        "fwd relu",
        "fwd h·W2 (matmul node)",
        "fwd + b2 (broadcast_add)",
        "fwd softmax-CE (log_softmax, pick, mean, neg)",
        "backward (all nodes)",
    ];
    let mut cum = Vec::new();
    for stage in 0..names.len() {
        cum.push(median_us(reps, || upto(stage, params, &mut grads)));
    }
    tape.clear();
    // Adam on the gradients of the last backward (the parameters drift; harmless for timing).
    let adam = median_us(reps, || opt.step(params, &grads).unwrap());
    println!("\nwhole step (Mlp2::step): {step:8.1} µs");
    let mut prev = 0.0;
    for (name, &c) in names.iter().zip(&cum) {
        println!("  {name:<48} {:8.1} µs", c - prev);
        prev = c;
    }
    println!("  {:<48} {adam:8.1} µs", "Adam step (optimizer, 4 tensors)");
    println!("  {:<48} {:8.1} µs", "sum of phases", prev + adam);

    // Backward cut into its parts by timing the GEMMs alone.
    let mut total_flop = 0.0;
    let mut total_gemm = 0.0;
    println!("\nthe step's GEMMs called directly (beta = 1, one thread):");
    for call in shape.gemm_calls() {
        let (name, mm, k, n, _, _) = call;
        let a = vec![0.5f32; mm * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; mm * n];
        let t = median_us(reps, || raw_gemm(call, &a, &b, 1.0, &mut c));
        let flop = 2.0 * (mm * k * n) as f64;
        total_flop += flop;
        total_gemm += t;
        println!("  {name:<22} {mm:>4}x{k:<4}·{k:>4}x{n:<4} {t:8.1} µs {:7.1} GFLOP/s", flop / t / 1e3);
    }
    println!("  {:<42} {total_gemm:8.1} µs {:7.1} GFLOP/s", "all five", total_flop / total_gemm / 1e3);
    println!(
        "  step at the peers' FLOP count ({:.1} MFLOP): {:.1} GFLOP/s; real GEMM FLOP {:.1} M: {:.1} GFLOP/s",
        shape.flop() as f64 / 1e6,
        shape.flop() as f64 / step / 1e3,
        total_flop / 1e6,
        total_flop / step / 1e3
    );
    // Copies of the gradients and moments, for scale: one 800 KB memcpy.
    let src = Tensor::<f32>::zeros([shape.nin * shape.nhid]);
    let mut dst = vec![0.0f32; src.numel()];
    let copy = median_us(reps, || dst.copy_from_slice(black_box(src.data())));
    println!("\nfor scale: copying W1's {} floats once: {copy:.1} µs", src.numel());
}

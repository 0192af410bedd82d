//! The peers' workloads W1 and W2 (`/work/shared/peers/README.md`) and one capstone epoch, as
//! divan benches. The workload code is `benches/support/mod.rs`, which `tests/workloads.rs` checks
//! against the peers' results.
//!
//!     cargo bench --bench workloads               # everything (~1 min)
//!     cargo bench --bench workloads -- w1         # one group (a substring filter)
//!     DOWNHILL_THREADS=1 cargo bench --bench workloads   # one thread
//!     bash scripts/bench_compare.sh               # + the Python peers, one table of ratios
//!
//! Groups:
//! - `w1/{f64,f32}`: one full-batch GD step of logistic regression on `churn_200k.csv`
//!   (200,000 × 12, standardized; forward, mean BCE-with-logits, backward, SGD update with lr 1)
//!   through `LogisticRegression::loss` (one fused node: X read once per step);
//!   `w1_composite/{f64,f32}` the same step with the loss spelled out (matmul, bias add, loss).
//!   Reads `$PEERS_WORK/data/churn_200k.csv` (default `$HOME/peers-work`, made by the peers'
//!   `make_data.py`) and panics if it is missing; after timing it checks the final loss of 200
//!   f64 steps from zero against the peers' 0.218255667.
//! - `w2/{a,b}`: one Adam step of the MLP (a: 64-128-10 batch 64; b: 784-256-10 batch 128, f32),
//!   cycling through the peers' 16 splitmix64 batches.
//! - `capstone_epoch`: one epoch of the capstone's digits MLP (64-32-10, ReLU, Adam, L2, batch 32,
//!   f64) through `downhill::train::fit`.
//! - `w1_bound/{f64,f32}/{1,2}`: W1's memory-traffic bound: the time to stream the same X
//!   (200,000 × 12 in `T`, row-major, as the W1 state holds it) once or twice with a vectorized
//!   sum, split over `DOWNHILL_THREADS` threads, i.e. this machine's read bandwidth on exactly
//!   that data. A W1 step reads X twice (`X·w` forward, `Xᵀ·g` backward); a step fused to read it
//!   once has the `/1` bound.
//! - `w1_rows` / `w2_hidden`: the scaling runs (W1 f64 at 25k..400k rows, W2 with hidden size
//!   64..1024 at W2b's other sizes).

mod support;

use divan::Bencher;
use divan::counter::ItemsCount;
use downhill::tensor::Float;
use support::{Logreg, LogregData, Mlp2, MlpShape, W1_FINAL_LOSS_F64, W1_STEPS, W2A, W2B};

fn main() {
    divan::main();
}

fn churn() -> LogregData {
    let path = support::churn_csv_path();
    LogregData::read_csv(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; make it with `PEERS_WORK=$HOME/peers-work bash /work/shared/peers/run_all.sh` \
             (or `python make_data.py` in the peers' venv)",
            path.display()
        )
    })
}

/// Times one W1 step of the state `make` builds, then checks that 200 steps of it from zero reach
/// the peers' final loss (so the timed step is the real one).
// As many warm-up and timed steps as the peers' scripts take (`/work/shared/peers/`), each step
// timed on its own (`sample_size = 1`), so that every median covers a window of the same length:
// on a shared machine the load changes within seconds, and a shorter window's median moves more
// (and the lowest of several rounds' medians is then lower) than a longer one's.
/// W1: `bench_logreg_fullbatch.py` takes 10 warm-up steps, then 3 runs of 200 timed steps.
const W1_WARMUP: usize = 10;
const W1_TIMED: u32 = 600;
/// W2a and W2b: `bench_mlp_minibatch.py` takes 50 warm-up and 1,000 timed steps of W2a, 20 and
/// 200 of W2b.
const W2A_WARMUP: usize = 50;
const W2A_TIMED: u32 = 1000;
const W2B_WARMUP: usize = 20;
const W2B_TIMED: u32 = 200;

fn w1_bench<T: Float>(bencher: Bencher, make: fn(&LogregData) -> Logreg<T>) {
    let data = churn();
    let mut lr = make(&data);
    for _ in 0..W1_WARMUP {
        lr.step();
    }
    bencher.bench_local(|| lr.step());
    let mut check = make(&data);
    for _ in 0..W1_STEPS {
        check.step();
    }
    let (w, b) = check.weights();
    let loss = data.loss64(&w, b);
    let tol = if T::BYTES == 8 { 1e-6 } else { 1e-4 };
    assert!(
        (loss - W1_FINAL_LOSS_F64).abs() < tol,
        "W1 {}: final loss {loss:.9}, peers {W1_FINAL_LOSS_F64}",
        T::DTYPE
    );
}

/// W1: one full-batch GD step on churn_200k through `LogisticRegression::loss` (the fused node).
#[divan::bench(types = [f64, f32], sample_count = W1_TIMED, sample_size = 1)]
fn w1<T: Float>(bencher: Bencher) {
    w1_bench::<T>(bencher, Logreg::new);
}

/// W1 with the loss spelled out (`bce_with_logits_loss(model.forward(x), y)`: matmul, bias add,
/// loss), as a graph without the fused node runs it.
#[divan::bench(types = [f64, f32], sample_count = W1_TIMED, sample_size = 1)]
fn w1_composite<T: Float>(bencher: Bencher) {
    w1_bench::<T>(bencher, Logreg::composite);
}

/// Sums `x` in 64 independent lanes, i.e. 4 to 16 vector accumulators, so the adds never wait on
/// each other and the loop runs at the speed the data arrives (more lanes measured no faster).
#[inline(always)]
fn stream_sum_body<T: Float>(x: &[T]) -> T {
    const LANES: usize = 64;
    let mut acc = [T::zero(); LANES];
    let mut rows = x.chunks_exact(LANES);
    for c in &mut rows {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(rows.remainder()) {
        *a += v;
    }
    acc.iter().fold(T::zero(), |s, &v| s + v)
}

/// [`stream_sum_body`] with the widest vectors the CPU has (chosen at run time, as downhill's
/// own kernels are).
fn stream_sum<T: Float>(x: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<T: Float>(x: &[T]) -> T {
            stream_sum_body(x)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<T: Float>(x: &[T]) -> T {
            stream_sum_body(x)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { avx512(x) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(x) };
        }
    }
    stream_sum_body(x)
}

/// W1's memory-traffic bound: stream X `reads` times (one vectorized sum per read), split into
/// `downhill::tensor::threads()` contiguous parts, one per thread. The helper threads live for
/// the whole bench and meet the caller at a barrier per iteration, as downhill's pool does.
#[divan::bench(types = [f64, f32], args = [1, 2], sample_count = W1_TIMED, sample_size = 1)]
fn w1_bound<T: Float>(bencher: Bencher, reads: usize) {
    use std::hint::black_box;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicBool, Ordering};
    let x = Logreg::<T>::new(&churn()).x;
    let x = x.data();
    let parts = downhill::tensor::threads().max(1);
    let part = |p: usize| &x[x.len() * p / parts..x.len() * (p + 1) / parts];
    let read = |p: usize| {
        let mut s = T::zero();
        for _ in 0..reads {
            s += stream_sum(black_box(part(p)));
        }
        black_box(s)
    };
    let (start, done, stop) = (Barrier::new(parts), Barrier::new(parts), AtomicBool::new(false));
    std::thread::scope(|scope| {
        for p in 1..parts {
            let (start, done, stop, read) = (&start, &done, &stop, &read);
            scope.spawn(move || {
                loop {
                    start.wait();
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    read(p);
                    done.wait();
                }
            });
        }
        let once = || {
            start.wait();
            let s = read(0);
            done.wait();
            s
        };
        for _ in 0..W1_WARMUP {
            once(); // warm-up, as `w1` takes before timing
        }
        let bytes = size_of_val(x) * reads;
        bencher.counter(divan::counter::BytesCount::new(bytes)).bench_local(once);
        stop.store(true, Ordering::Release);
        start.wait();
    });
}

fn w2_bench(bencher: Bencher, shape: MlpShape, warmup: usize) {
    let mut m = Mlp2::new(shape);
    for _ in 0..warmup {
        m.step();
    }
    bencher.counter(ItemsCount::new(shape.flop())).bench_local(|| m.step());
}

/// W2: one Adam step of the MLP (items = FLOP, so `item/s` reads as FLOP/s).
mod w2 {
    use super::*;

    /// W2a: 64-128-10, batch 64.
    #[divan::bench(sample_count = W2A_TIMED, sample_size = 1)]
    fn a(bencher: Bencher) {
        w2_bench(bencher, W2A, W2A_WARMUP);
    }

    /// W2b: 784-256-10, batch 128.
    #[divan::bench(sample_count = W2B_TIMED, sample_size = 1)]
    fn b(bencher: Bencher) {
        w2_bench(bencher, W2B, W2B_WARMUP);
    }
}

/// One epoch of the capstone's digits MLP through `fit`.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn capstone_epoch(bencher: Bencher) {
    use downhill::nn::{Activation, Init, L2, Mlp};
    use downhill::optim::{Adam, AdamConfig};
    use downhill::tensor::{Params, seeded_rng};
    use downhill::train::data::{Dataset, SplitOptions, digits};
    use downhill::train::fit::{FitConfig, Loss, fit};
    use downhill::train::progress::ProgressMode;
    let raw = digits().unwrap();
    let data = Dataset { x: raw.x.map(|v| v / 16.0), ..raw };
    let (tr, va, _) = data.split(&SplitOptions { val: 0.1, test: 0.2, seed: 0, stratify: true }).unwrap();
    let mut params = Params::<f64>::new();
    let sizes = [data.n_features(), 32, data.n_classes().unwrap()];
    let model =
        Mlp::new(&mut params, "mlp", &sizes, Activation::Relu, Init::HeNormal, &mut seeded_rng(0)).unwrap();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let cfg = FitConfig {
        epochs: 1,
        batch_size: 32,
        l2: Some(L2::new(1e-3)),
        progress: ProgressMode::Never,
        ..FitConfig::default()
    };
    bencher.bench_local(|| {
        fit(&model, &mut params, &mut opt, Loss::CrossEntropy, &tr, Some(&va), &cfg).unwrap()
    });
}

/// Scaling: W1 f64 step time against the row count (the churn rows repeated or cut).
#[divan::bench(args = [25_000, 50_000, 100_000, 200_000, 400_000], sample_count = 30, sample_size = 1)]
fn w1_rows(bencher: Bencher, rows: usize) {
    let data = churn().resized(rows);
    let mut lr = Logreg::<f64>::new(&data);
    lr.step();
    bencher.counter(ItemsCount::new(rows)).bench_local(|| lr.step());
}

/// Scaling: W2 step time against the hidden size (784 → hidden → 10, batch 128, f32).
#[divan::bench(args = [64, 128, 256, 512, 1024], sample_count = 40)]
fn w2_hidden(bencher: Bencher, hidden: usize) {
    w2_bench(bencher, MlpShape { nhid: hidden, ..W2B }, 5);
}

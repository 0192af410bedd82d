//! The benchmark workloads allocate nothing per step in steady state: W1 (logistic regression GD
//! on 60,000 rows, which takes the large-tensor kernels) makes no allocation at all, and a W2 step
//! (MLP + Adam) on one thread makes exactly the allocations of its five GEMM calls made directly
//! (the GEMM libraries' packing buffers) and nothing else. And W1 training holds at
//! most 1.5× its dataset's bytes plus a constant: the training state keeps one copy of `X` and `y`,
//! and the steps add at most half of that at their peak.
//!
//! A counting global allocator checks it: the number of allocations only on the thread that
//! switched counting on (the pool's worker threads allocate nothing per dispatch either: they
//! share no allocation with a step), the live and peak bytes over every thread. The tests run one
//! at a time (they share `SERIAL`), so no other test's allocations land in a measurement. No
//! timing here.

#[path = "../benches/support/mod.rs"]
mod support;

#[path = "../crates/tensor/tests/support/counting_alloc.rs"]
mod counting_alloc;

use std::sync::{Mutex, MutexGuard};

use counting_alloc::{allocations, live_bytes, peak_live_bytes, reset_peak};
use downhill::tensor::Float;

use support::{Logreg, LogregData, Mlp2, W2A, W2B};

/// Held by every test: the live/peak byte counts see every thread, and the thread count is global.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_w1_step_allocates_nothing_after_warm_up() {
    let _one_at_a_time = serial();
    for threads in [1, 2] {
        downhill::tensor::set_threads(threads);
        let data = LogregData::synthetic(60_000, 3);
        let mut f64_run = Logreg::<f64>::new(&data);
        let mut f32_run = Logreg::<f32>::new(&data);
        for _ in 0..2 {
            f64_run.step();
            f32_run.step();
        }
        let n = allocations(|| {
            for _ in 0..5 {
                f64_run.step();
                f32_run.step();
            }
        });
        assert_eq!(n, 0, "{threads} thread(s): 5 steady-state W1 steps in f64 and f32 allocated {n} times");
    }
}

/// The same MLP written with `downhill::nn` (`Mlp` of `Linear` layers, ReLU, softmax
/// cross-entropy, Adam) makes no allocation of its own either: a layer checks its input without
/// formatting its name unless the check fails.
#[test]
fn an_nn_mlp_step_allocates_only_what_its_gemm_calls_allocate() {
    use downhill::nn::loss::softmax_cross_entropy;
    use downhill::nn::{Activation, Init, Mlp, Module};
    use downhill::optim::{Adam, AdamConfig, Optimizer};
    use downhill::tensor::{Grads, Params, Tape, Tensor, seeded_rng};
    let _one_at_a_time = serial();
    downhill::tensor::set_threads(1);
    let s = W2A;
    let mut params = Params::<f32>::new();
    let sizes = [s.nin, s.nhid, s.nout];
    let mlp =
        Mlp::new(&mut params, "mlp", &sizes, Activation::Relu, Init::HeNormal, &mut seeded_rng(3)).unwrap();
    let x = Tensor::<f32>::rand_normal([s.batch, s.nin], 0.0, 1.0, &mut seeded_rng(4)).unwrap();
    let labels: Vec<usize> = (0..s.batch).map(|i| i % s.nout).collect();
    let (mut tape, mut grads) = (Tape::new(), Grads::new());
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut step = || {
        tape.clear();
        let loss = softmax_cross_entropy(mlp.forward(&tape, &params, tape.constant(&x)), &labels);
        loss.backward_into(&mut grads).unwrap();
        let value = loss.item().unwrap();
        tape.clear();
        opt.step(&mut params, &grads).unwrap();
        value
    };
    let first = step();
    for _ in 0..3 {
        step();
    }
    let n = allocations(|| {
        step();
    });
    let gemm = raw_gemm_allocations(s);
    assert_eq!(
        n, gemm,
        "a steady-state nn MLP step allocated {n} times; its 5 GEMM calls made directly allocate {gemm}"
    );
    assert!(step() < first, "the MLP trains");
}

/// Allocations of the five GEMM calls of one W2 step, issued directly (through the library the
/// tape picks for each layout).
fn raw_gemm_allocations(s: support::MlpShape) -> usize {
    let (b, i, h) = (s.batch, s.nin, s.nhid);
    let big = (b * i).max(i * h).max(b * h);
    let (x, y) = (vec![0.5f32; big], vec![0.25f32; big]);
    let mut c = vec![0.0f32; big];
    let mut run = || s.gemm_calls().into_iter().for_each(|call| support::raw_gemm(call, &x, &y, 0.0, &mut c));
    run();
    allocations(run)
}

#[test]
fn a_w2_step_allocates_only_what_its_gemm_calls_allocate() {
    let _one_at_a_time = serial();
    // One thread: each GEMM is one call. With more, a large GEMM is cut into blocks, one call (and
    // one packing buffer) each, on whichever thread takes the block.
    downhill::tensor::set_threads(1);
    for shape in [W2A, W2B] {
        let mut m = Mlp2::new(shape);
        for _ in 0..3 {
            m.step();
        }
        let n = allocations(|| {
            m.step();
        });
        let gemm = raw_gemm_allocations(shape);
        assert_eq!(
            n, gemm,
            "a steady-state W2 step ({}-{}-{}) allocated {n} times; its 5 GEMM calls made directly allocate {gemm}",
            shape.nin, shape.nhid, shape.nout
        );
        // At most two packing buffers per library call (matrixmultiply takes one, the gemm crate up
        // to two), and the gemm crate takes a product in calls of k ≤ 256: W2b's x·W1 (k = 784)
        // is four calls, so its step makes eight calls.
        let calls = if shape.nin > 256 { 8 } else { 5 };
        assert!(gemm <= 2 * calls, "the GEMM libraries allocated {gemm} times in {calls} calls");
        // On a CPU with AVX-512 downhill's own kernels (`gemm_wide`, `gemm_small`) take all five
        // products of both shapes and pack into the stack, so the step allocates nothing at all.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(n, 0, "a steady-state W2 step allocated {n} times on an AVX-512 CPU");
        }
        // Guards the guard: a first step on a fresh model allocates, so the counter is live.
        assert!(
            allocations(|| {
                let _ = Mlp2::new(shape).step();
            }) > 0,
            "the counting allocator saw nothing"
        );
    }
}

/// The W1 rows for the memory test: above `downhill::tensor::LARGE`, so the large-tensor kernels
/// (and, at 2 threads, the pool) run, and large enough that the per-row costs dwarf the constant.
const MEM_ROWS: usize = 60_000;
/// The constant of "1.5× the dataset's bytes plus a constant": what W1 training may hold beyond
/// its per-row buffers whatever the row count (the tape's node records, the `Grads` and optimizer
/// entries of `w` and `b`, the thread pool's first start).
const MEM_CONSTANT: usize = 64 * 1024;
/// Training steps measured from a fresh state (the first ones fill the tape's buffer pools).
const MEM_STEPS: usize = 5;

/// Live bytes around W1 training in `T` on `data`.
#[derive(Debug)]
struct W1Memory {
    /// `X` and `y` as the training state holds them (`(n·d + n) · size_of::<T>()`).
    dataset: usize,
    /// Bytes the training state took when built.
    state: usize,
    /// The most the steps held at once beyond the built state.
    extra_peak: usize,
    /// What the steps still hold after the last one (the tape's and `Grads`' reusable buffers).
    retained: usize,
    /// One `[n, 1]` column in `T`: the unit a step's buffers come in.
    column: usize,
}

/// W1 training's memory: through the model's fused loss (`Logreg::new`, which reads X once and
/// keeps no per-row buffer) or spelled out (`Logreg::composite`: matmul, bias add, loss).
fn w1_memory<T: Float>(data: &LogregData, fused: bool) -> W1Memory {
    let before = live_bytes();
    let mut lr = if fused { Logreg::<T>::new(data) } else { Logreg::<T>::composite(data) };
    let built = live_bytes();
    let dataset = (lr.x.data().len() + lr.y.data().len()) * size_of::<T>();
    reset_peak();
    for _ in 0..MEM_STEPS {
        lr.step();
    }
    let (peak, after) = (peak_live_bytes(), live_bytes());
    drop(lr);
    W1Memory {
        dataset,
        state: built - before,
        extra_peak: peak - built,
        retained: after - built,
        column: data.n * size_of::<T>(),
    }
}

#[test]
fn the_peak_counter_sees_a_freed_buffer() {
    let _one_at_a_time = serial();
    // The counts see every thread, and the thread of the test before may still be freeing its
    // thread-locals (a GEMM library's packing buffer, ~1 MiB) after it released `SERIAL`: one CI
    // run saw the peak only 1 KB above the live bytes before the buffer. So measure up to 20
    // times and require one clean measurement; a counter that misses the buffer fails them all.
    let mut seen = Vec::new();
    for _ in 0..20 {
        let base = live_bytes();
        reset_peak();
        drop(std::hint::black_box(vec![1u8; 1 << 20]));
        let peak = peak_live_bytes();
        // Other threads may free a little meanwhile: allow 64 KiB of it.
        if peak + (64 << 10) >= base + (1 << 20) {
            return;
        }
        seen.push((base, peak));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the peak never showed a freed 1 MiB buffer; (live before, peak) in bytes: {seen:?}");
}

#[test]
fn w1_training_holds_at_most_one_and_a_half_times_its_dataset() {
    let _one_at_a_time = serial();
    let data = LogregData::synthetic(MEM_ROWS, 3);
    for threads in [1, 2] {
        downhill::tensor::set_threads(threads);
        for (path, fused) in [("fused loss", true), ("composite loss", false)] {
            let runs = [("f64", w1_memory::<f64>(&data, fused)), ("f32", w1_memory::<f32>(&data, fused))];
            for (dtype, m) in runs {
                let what = format!(
                    "W1 {dtype} ({path}), {MEM_ROWS}×{}, {threads} thread(s): dataset {} B, state {} B, \
                     peak extra {} B ({:.2} columns of [n, 1], {:.3}× the dataset), retained after \
                     {MEM_STEPS} steps {} B",
                    data.d,
                    m.dataset,
                    m.state,
                    m.extra_peak,
                    m.extra_peak as f64 / m.column as f64,
                    m.extra_peak as f64 / m.dataset as f64,
                    m.retained
                );
                eprintln!("{what}");
                // The state holds X and y once (converted to T), not a second copy.
                assert!(
                    m.state >= m.dataset && m.state <= m.dataset + MEM_CONSTANT,
                    "{what}: the training state should hold the dataset once"
                );
                assert!(
                    m.extra_peak <= m.dataset / 2 + MEM_CONSTANT,
                    "{what}: the steps' peak exceeds half the dataset plus {MEM_CONSTANT} B"
                );
                assert!(
                    m.state + m.extra_peak <= m.dataset * 3 / 2 + MEM_CONSTANT,
                    "{what}: W1 training holds more than 1.5× the dataset plus {MEM_CONSTANT} B"
                );
            }
        }
    }
}

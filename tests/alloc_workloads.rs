//! The benchmark workloads allocate nothing per step in steady state: W1 (logistic regression GD
//! on 60,000 rows, which takes the large-tensor kernels) makes no allocation at all, and a W2 step
//! (MLP + Adam) makes exactly the allocations of its five GEMM calls made directly to
//! `matrixmultiply` (its packing buffer, one per call) and nothing else.
//!
//! A counting global allocator checks it, counting only on the thread that switched counting on
//! (the pool's worker threads allocate nothing per dispatch either: they share no allocation with
//! a step). No timing here.

#[path = "../benches/support/mod.rs"]
mod support;

#[path = "../crates/tensor/tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

use support::{Logreg, LogregData, Mlp2, W2A, W2B};

#[test]
fn a_w1_step_allocates_nothing_after_warm_up() {
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

/// Allocations of the five GEMM calls of one W2 step, issued straight to `matrixmultiply`.
fn raw_gemm_allocations(s: support::MlpShape) -> usize {
    let (b, i, h, o) = (s.batch, s.nin, s.nhid, s.nout);
    let big = (b * i).max(i * h).max(b * h);
    let (x, y) = (vec![0.5f32; big], vec![0.25f32; big]);
    let mut c = vec![0.0f32; big];
    // (m, k, n, a transposed, b transposed): x·W1, h·W2, dh = g·W2ᵀ, dW2 = hᵀ·g, dW1 = xᵀ·dh.
    let calls = [
        (b, i, h, false, false),
        (b, h, o, false, false),
        (b, o, h, false, true),
        (h, b, o, true, false),
        (i, b, h, true, false),
    ];
    let mut run = || {
        for &(m, k, n, ta, tb) in &calls {
            let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
            let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
            assert!(m * k <= x.len() && k * n <= y.len() && m * n <= c.len());
            // SAFETY: the operands fit their buffers with these strides; c is exclusively borrowed.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    x.as_ptr(),
                    rsa,
                    csa,
                    y.as_ptr(),
                    rsb,
                    csb,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        }
    };
    run();
    allocations(run)
}

#[test]
fn a_w2_step_allocates_only_what_its_gemm_calls_allocate() {
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
        assert!(gemm <= 5, "matrixmultiply allocated {gemm} times in 5 calls");
        // Guards the guard: a first step on a fresh model allocates, so the counter is live.
        assert!(
            allocations(|| {
                let _ = Mlp2::new(shape).step();
            }) > 0,
            "the counting allocator saw nothing"
        );
    }
}

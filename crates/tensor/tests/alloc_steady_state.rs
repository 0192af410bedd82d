//! A training loop that records the same graph every step must stop allocating after its first
//! step: the tape pools node values and gradient buffers, `backward_into` reuses the `Grads`
//! buffers, and the update writes the parameters in place.
//!
//! A counting global allocator checks it. It counts only on the thread that switched counting on,
//! so the test harness's own threads cannot disturb the count. (No timing here: that belongs in
//! the benches.)
//!
//! The one allocation downhill cannot remove is inside the GEMM libraries (matrixmultiply and the
//! `gemm` crate): a GEMM call allocates (and frees) its own packing buffer, whatever the caller
//! does. So a step with
//! matmuls must allocate exactly what the same GEMM calls made directly allocate, and a step
//! without matmuls must allocate nothing at all.

use downhill_tensor::{Grads, ParamId, Params, Tape, Tensor, seeded_rng};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

const LR: f64 = 0.1;

/// A small MLP, `x [8, 4] → 16 → 3`, and the stores a training loop reuses.
struct Mlp {
    params: Params<f64>,
    ids: [ParamId; 4],
    x: Tensor<f64>,
    y: Tensor<f64>,
    tape: Tape<f64>,
    grads: Grads<f64>,
}

impl Mlp {
    fn new() -> Self {
        let mut rng = seeded_rng(7);
        let mut u = |shape: [usize; 2]| Tensor::rand_uniform(shape, -0.5, 0.5, &mut rng).unwrap();
        let mut params = Params::new();
        let w1 = params.insert("w1", u([4, 16])).unwrap();
        let b1 = params.insert("b1", u([1, 16])).unwrap();
        let w2 = params.insert("w2", u([16, 3])).unwrap();
        let b2 = params.insert("b2", u([1, 3])).unwrap();
        let (x, y) = (u([8, 4]), u([8, 3]));
        Mlp { params, ids: [w1, b1, w2, b2], x, y, tape: Tape::new(), grads: Grads::new() }
    }

    /// One full training step (clear, record, `backward_into`, `item`, in-place update); returns
    /// the loss. With `matmul` false, the layers are elementwise stand-ins of the same shapes
    /// (row sums of `x` times column sums of `w` instead of `x · w`), so the step makes no GEMM call.
    fn step(&mut self, matmul: bool) -> f64 {
        self.tape.clear();
        let loss = {
            let t = &self.tape;
            let [w1, b1, w2, b2] = self.ids.map(|id| t.param(&self.params, id));
            let (x, y) = (t.constant(&self.x), t.constant(&self.y));
            let out = if matmul {
                let h = x.matmul(w1).broadcast_add(b1).relu();
                h.matmul(w2).broadcast_add(b2)
            } else {
                let xs = x.sum_axis(1, true).broadcast_to([8, 16]);
                let h = xs.broadcast_mul(w1.sum_axis(0, true)).broadcast_add(b1).relu();
                h.sum_axis(1, true).broadcast_to([8, 3]).broadcast_mul(w2.sum_axis(0, true)).broadcast_add(b2)
            };
            let loss = (out - y).square().sum() / 24.0 + w1.square().mean() * 1e-3;
            loss.backward_into(&mut self.grads).unwrap();
            loss.item().unwrap()
        };
        // Drop the tape's shares of the parameter buffers, so the update is in place.
        self.tape.clear();
        for &id in &self.ids {
            let g = self.grads.get(id).unwrap().data();
            for (p, &d) in self.params.get_mut(id).data_mut().iter_mut().zip(g) {
                *p -= LR * d;
            }
        }
        loss
    }
}

/// The GEMM calls one MLP step makes, as `(m, k, n, a transposed, b transposed)`: the two
/// forward products, then `dh = g·w2ᵀ`, `dw2 = hᵀ·g` and `dw1 = xᵀ·g` (`x` is a constant).
const STEP_GEMMS: [(usize, usize, usize, bool, bool); 5] = [
    (8, 4, 16, false, false),
    (8, 16, 3, false, false),
    (8, 3, 16, false, true),
    (16, 8, 3, true, false),
    (4, 8, 16, true, false),
];

/// Allocations made by the same GEMM calls issued directly (through the library the tape picks
/// for each layout).
fn raw_gemm_allocations(steps: usize) -> usize {
    let a = vec![0.5f64; 256];
    let b = vec![0.25f64; 256];
    let mut c = vec![0.0f64; 256];
    let call = |c: &mut [f64], (m, k, n, ta, tb): (usize, usize, usize, bool, bool)| {
        downhill_tensor::gemm_slices((m, k, n), (&a, ta), (&b, tb), 1.0, &mut c[..m * n]).unwrap();
    };
    STEP_GEMMS.iter().for_each(|&s| call(&mut c, s)); // warm-up (thread pool, thread-locals)
    allocations(|| {
        for _ in 0..steps {
            STEP_GEMMS.iter().for_each(|&s| call(&mut c, s));
        }
    })
}

#[test]
fn a_training_step_without_matmul_allocates_nothing_after_warm_up() {
    let mut m = Mlp::new();
    let first = m.step(false);
    m.step(false);
    let n = allocations(|| {
        for _ in 0..10 {
            m.step(false);
        }
    });
    assert_eq!(n, 0, "10 steady-state training steps allocated {n} times");
    let last = m.step(false);
    assert!(last.is_finite() && last < first, "training should make progress: {first} -> {last}");
}

#[test]
fn an_mlp_step_allocates_only_what_its_gemm_calls_allocate() {
    let mut m = Mlp::new();
    let first = m.step(true);
    m.step(true);
    let n = allocations(|| {
        for _ in 0..10 {
            m.step(true);
        }
    });
    let gemm = raw_gemm_allocations(10);
    assert_eq!(
        n, gemm,
        "10 steady-state MLP steps allocated {n} times; the same 50 GEMM calls made directly allocate {gemm} \
         (the GEMM libraries' packing buffers); everything else must allocate nothing"
    );
    let last = m.step(true);
    assert!(last.is_finite() && last < first, "training should make progress: {first} -> {last}");
}

#[test]
fn backward_into_a_reused_store_equals_a_fresh_backward() {
    let mut m = Mlp::new();
    for _ in 0..3 {
        m.step(true);
    }
    let t = Tape::new();
    let [w1, b1, w2, b2] = m.ids.map(|id| t.param(&m.params, id));
    let (x, y) = (t.constant(&m.x), t.constant(&m.y));
    let out = x.matmul(w1).broadcast_add(b1).relu().matmul(w2).broadcast_add(b2);
    let loss = (out - y).square().mean();
    let fresh = loss.backward().unwrap();
    assert_eq!(fresh, {
        let mut reused = m.grads.clone();
        loss.backward_into(&mut reused).unwrap();
        reused
    });
    // A pass that reaches fewer parameters leaves no stale gradient behind.
    let t2 = Tape::new();
    let only_b2 = t2.param(&m.params, m.ids[3]).sum();
    let mut reused = fresh.clone();
    only_b2.backward_into(&mut reused).unwrap();
    assert_eq!(reused, only_b2.backward().unwrap());
    assert!(reused.get(m.ids[0]).is_none() && reused.get(m.ids[3]).is_some());
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a step on a fresh tape must allocate (nodes, buffers, grads).
    let n = allocations(|| {
        Mlp::new().step(true);
    });
    assert!(n > 0);
}

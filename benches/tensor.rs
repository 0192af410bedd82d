//! downhill's tensor benches (divan): the per-step overhead of the tape, per-op overhead at 64×64,
//! and matmul on the tape against the raw GEMM call in the same run.
//!
//!     cargo bench --bench tensor                 # everything (~1 min)
//!     cargo bench --bench tensor -- gd_step      # one group (a substring filter)
//!     bash scripts/bench_compare.sh              # + the Python peers, one table of ratios
//!
//! Groups:
//! - `gd_step`: workload W3 of `/work/shared/peers/README.md`, one full gradient-descent step
//!   (record, backward into reused `Grads`, in-place update) on `f(v) = Σ c·(v − a)²`,
//!   `a = (1, −2)`, `c = (1, 5)`, lr 0.01, a 2-element tensor — i.e. `(x − 1)² + 5(y + 2)²`.
//! - `per_op_64`: one op on 64×64 f32 inputs. `forward` = `tape.clear()` + the leaves + the op;
//!   `forward_backward` = the same with trainable inputs, `.sum()` (unless the op is `sum`) and
//!   `backward_into`; `raw` = the same arithmetic as a plain loop into a preallocated buffer
//!   (the floor: `forward − raw` is the tape's overhead per op).
//! - `matmul`: `n × n · n × n` forward on the tape vs the same GEMM library call made directly
//!   (`downhill::tensor::gemm_slices`) on preallocated buffers; the items counter is 2n³ FLOP, so divan's `item/s` reads as FLOP/s.
//!   The tape's GEMM uses `DOWNHILL_THREADS` threads (default: the available cores) and the raw
//!   call one, so compare them with `DOWNHILL_THREADS=1`.
//! - `matmul::narrow`: W2b's products with ten output columns in f32 (`h·W2`, 128×256·256×10,
//!   and `hᵀ·g`, 256×128·128×10), through `gemm_slices` (which hands them to `gemm_small` on an
//!   AVX-512 CPU) and through matrixmultiply on the same strides, side by side.

use divan::Bencher;
use divan::counter::ItemsCount;
use downhill::tensor::{Float, Grads, ParamId, Params, Tape, Tensor};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn main() {
    divan::main();
}

/// The W3 problem: the parameter `v`, the constants `a` and `c`, and the reused stores.
struct Gd<T: Float> {
    params: Params<T>,
    v: ParamId,
    a: Tensor<T>,
    c: Tensor<T>,
    tape: Tape<T>,
    grads: Grads<T>,
    lr: T,
}

impl<T: Float> Gd<T> {
    fn new() -> Self {
        let mut params = Params::new();
        let v = params.insert("v", Tensor::zeros([2])).unwrap();
        Gd {
            params,
            v,
            a: Tensor::from_vec(vec![T::one(), T::of(-2.0)], [2]).unwrap(),
            c: Tensor::from_vec(vec![T::one(), T::of(5.0)], [2]).unwrap(),
            tape: Tape::new(),
            grads: Grads::new(),
            lr: T::of(0.01),
        }
    }

    /// One full step: record, backward, update.
    #[inline(never)]
    fn step(&mut self) {
        self.tape.clear();
        {
            let tape = &self.tape;
            let v = tape.param(&self.params, self.v);
            let (a, c) = (tape.constant(&self.a), tape.constant(&self.c));
            let loss = (c * (v - a).square()).sum();
            loss.backward_into(&mut self.grads).unwrap();
        }
        // Release the tape's share of the parameter buffer, so the update is in place.
        self.tape.clear();
        let g = self.grads.get(self.v).unwrap().data();
        let lr = self.lr;
        for (p, &d) in self.params.get_mut(self.v).data_mut().iter_mut().zip(g) {
            *p -= lr * d;
        }
    }
}

/// Workload W3: one gradient-descent step on a 2-element tensor.
#[divan::bench(types = [f64, f32])]
fn gd_step<T: Float>(bencher: Bencher) {
    let mut gd = Gd::<T>::new();
    for _ in 0..200 {
        gd.step();
    }
    bencher.bench_local(|| gd.step());
    // The step must still be the real one: from (0, 0) it converges to (1, −2).
    let mut check = Gd::<T>::new();
    for _ in 0..2000 {
        check.step();
    }
    let v = check.params.get(check.v).data();
    assert!((v[0].f64() - 1.0).abs() < 1e-4 && (v[1].f64() + 2.0).abs() < 1e-4, "did not converge");
}

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn uniform<T: Float>(shape: [usize; 2], seed: u64) -> Tensor<T> {
    Tensor::rand_uniform(shape, T::of(-1.0), T::one(), &mut rng(seed)).unwrap()
}

/// Per-op overhead on 64×64 f32 inputs.
mod per_op_64 {
    use super::*;

    const N: usize = 64;
    const OPS: [&str; 6] = ["add", "mul", "exp", "sigmoid", "sum", "matmul"];

    struct Inputs {
        params: Params<f32>,
        x: ParamId,
        y: ParamId,
        xt: Tensor<f32>,
        yt: Tensor<f32>,
    }

    fn inputs() -> Inputs {
        let (xt, yt) = (uniform::<f32>([N, N], 1), uniform::<f32>([N, N], 2));
        let mut params = Params::new();
        let x = params.insert("x", xt.clone()).unwrap();
        let y = params.insert("y", yt.clone()).unwrap();
        Inputs { params, x, y, xt, yt }
    }

    /// Records `op` on the tape: constants and the op, nothing else.
    #[divan::bench(args = OPS)]
    fn forward(bencher: Bencher, op: &str) {
        let inp = inputs();
        let mut tape = Tape::<f32>::new();
        bencher.bench_local(|| {
            tape.clear();
            let (x, y) = (tape.constant(&inp.xt), tape.constant(&inp.yt));
            let out = match op {
                "add" => x + y,
                "mul" => x * y,
                "exp" => x.exp(),
                "sigmoid" => x.sigmoid(),
                "sum" => x.sum(),
                "matmul" => x.matmul(y),
                _ => unreachable!(),
            };
            divan::black_box(out.is_valid());
        });
    }

    /// Records `op` on trainable inputs, reduces with `sum`, and runs `backward_into`.
    #[divan::bench(args = OPS)]
    fn forward_backward(bencher: Bencher, op: &str) {
        let inp = inputs();
        let mut tape = Tape::<f32>::new();
        let mut grads = Grads::new();
        bencher.bench_local(|| {
            tape.clear();
            let (x, y) = (tape.param(&inp.params, inp.x), tape.param(&inp.params, inp.y));
            let loss = match op {
                "add" => (x + y).sum(),
                "mul" => (x * y).sum(),
                "exp" => x.exp().sum(),
                "sigmoid" => x.sigmoid().sum(),
                "sum" => x.sum(),
                "matmul" => x.matmul(y).sum(),
                _ => unreachable!(),
            };
            loss.backward_into(&mut grads).unwrap();
        });
    }

    /// The same forward arithmetic as a plain loop into a preallocated buffer (the floor).
    #[divan::bench(args = OPS)]
    fn raw(bencher: Bencher, op: &str) {
        let inp = inputs();
        let (x, y) = (inp.xt.data(), inp.yt.data());
        let mut out = vec![0f32; N * N];
        bencher.bench_local(|| {
            let x = divan::black_box(x);
            match op {
                "add" => out.iter_mut().zip(x.iter().zip(y)).for_each(|(o, (&a, &b))| *o = a + b),
                "mul" => out.iter_mut().zip(x.iter().zip(y)).for_each(|(o, (&a, &b))| *o = a * b),
                "exp" => out.iter_mut().zip(x).for_each(|(o, &a)| *o = a.exp()),
                "sigmoid" => out.iter_mut().zip(x).for_each(|(o, &a)| *o = sigmoid(a)),
                "sum" => out[0] = x.iter().copied().sum(),
                // The same library call the tape makes, without the tape (x, y, out are N×N).
                "matmul" => downhill::tensor::gemm_slices((N, N, N), (x, false), (y, false), 0.0, &mut out)
                    .expect("N×N buffers"),
                _ => unreachable!(),
            }
            divan::black_box(&mut out);
        });
    }

    /// The same stable sigmoid the tape uses.
    fn sigmoid(x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }
}

/// Square matmul throughput: the tape's forward vs the raw GEMM call (items = FLOP). The two
/// kinds are the innermost level, so each size runs tape and raw back to back (less drift from
/// other load on a shared machine between the two sides of the ratio).
mod matmul {
    use super::*;

    /// `tape`: `x.matmul(y)` recorded on a tape (output buffer pooled across iterations);
    /// `raw`: the same single-threaded library call the tape makes (`gemm_slices`: for row-major
    /// operands the `gemm` crate, in `k` blocks of 256) into a preallocated buffer.
    #[divan::bench(types = [f32, f64], consts = [256, 1024], args = ["raw", "tape"])]
    fn n<T: Float, const N: usize>(bencher: Bencher, kind: &str) {
        let (xt, yt) = (uniform::<T>([N, N], 3), uniform::<T>([N, N], 4));
        let bencher = bencher.counter(ItemsCount::new(2 * N * N * N));
        match kind {
            "tape" => {
                let mut tape = Tape::<T>::new();
                bencher.bench_local(|| {
                    tape.clear();
                    let (x, y) = (tape.constant(&xt), tape.constant(&yt));
                    divan::black_box(x.matmul(y).is_valid());
                });
            }
            "raw" => {
                let mut out = vec![T::zero(); N * N];
                bencher.bench_local(|| {
                    downhill::tensor::gemm_slices(
                        (N, N, N),
                        (xt.data(), false),
                        (yt.data(), false),
                        T::zero(),
                        &mut out,
                    )
                    .expect("N×N buffers");
                    divan::black_box(&mut out);
                });
            }
            _ => unreachable!(),
        }
    }

    /// W2b's narrow products (f32): `"h·W2"` is 128×256·256×10 with both operands row-major,
    /// `"hT·g"` 256×128·128×10 with `a` the transpose of a row-major 128×256 matrix. `downhill`
    /// is `gemm_slices`; `matrixmultiply` its call with the same strides, the same bits.
    #[divan::bench(args = ["h·W2:downhill", "h·W2:matrixmultiply", "hT·g:downhill", "hT·g:matrixmultiply"])]
    fn narrow(bencher: Bencher, case: &str) {
        let ta = case.starts_with("hT");
        let (m, k, n) = if ta { (256, 128, 10) } else { (128, 256, 10) };
        let (a, b) = (uniform::<f32>([m, k], 5), uniform::<f32>([k, n], 6));
        let mut out = vec![0.0f32; m * n];
        let bencher = bencher.counter(ItemsCount::new(2 * m * k * n));
        if case.ends_with("downhill") {
            bencher.bench_local(|| {
                downhill::tensor::gemm_slices((m, k, n), (a.data(), ta), (b.data(), false), 0.0, &mut out)
                    .expect("buffers of the product's sizes");
                divan::black_box(&mut out);
            });
        } else {
            let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
            bencher.bench_local(|| {
                // SAFETY: `a` holds m·k values at strides (rsa, csa), `b` k × n row-major, `out`
                // m × n row-major, and `out` overlaps neither.
                unsafe {
                    f32::gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.data().as_ptr(),
                        rsa,
                        csa,
                        b.data().as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        out.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                divan::black_box(&mut out);
            });
        }
    }
}

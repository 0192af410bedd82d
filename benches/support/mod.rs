//! The peers' workloads W1 and W2 (`/work/shared/peers/README.md`) written with downhill, shared by
//! the benches (`benches/workloads.rs`) and the test that checks their results
//! (`tests/workloads.rs`), so the code that is timed is the code that is checked.
//!
//! - **W1**: full-batch logistic regression by gradient descent (w = 0, b = 0, lr 1.0, mean
//!   log-loss through `LogisticRegression::loss`, or spelled out with `bce_with_logits_loss`) on
//!   standardized features.
//! - **W2**: an MLP `in → hid (ReLU) → out`, softmax cross-entropy, Adam (lr 1e-3, β 0.9/0.999,
//!   ε 1e-8), f32, with the peers' splitmix64 weights and batches (`common.py`), so downhill sees
//!   the same numbers as numpy, PyTorch and JAX.

#![allow(dead_code)] // each includer uses a different part

use std::path::Path;

use downhill::nn::loss::{bce_with_logits_loss, softmax_cross_entropy};
use downhill::nn::{LogisticRegression, Module};
use downhill::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use downhill::tensor::{Float, Grads, ParamId, Params, Tape, Tensor};

// ------------------------------------------------------------------ splitmix64 (common.py)

/// Element `i` of the counter-based splitmix64 stream of `seed`.
pub fn splitmix64(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `det_uniform(seed, n, lo, hi)` of `common.py`, computed in f64.
pub fn det_uniform(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| lo + (hi - lo) * ((splitmix64(seed, i) >> 40) as f64 / (1u64 << 24) as f64))
        .collect()
}

/// `det_labels(seed, n, k)` of `common.py`.
pub fn det_labels(seed: u64, n: usize, k: usize) -> Vec<usize> {
    (0..n as u64).map(|i| ((splitmix64(seed, i) >> 32) % k as u64) as usize).collect()
}

fn tensor<T: Float>(v: &[f64], shape: impl Into<downhill::tensor::Shape>) -> Tensor<T> {
    Tensor::from_vec(v.iter().map(|&x| T::of(x)).collect(), shape).unwrap()
}

// ------------------------------------------------------------------ W2: MLP + Adam

/// A W2 shape: `(in, hidden, out, batch)`.
#[derive(Clone, Copy, Debug)]
pub struct MlpShape {
    pub nin: usize,
    pub nhid: usize,
    pub nout: usize,
    pub batch: usize,
}

/// W2a: 64 → 128 → 10, batch 64 (50 warm-up + 1000 timed steps in the peers' script).
pub const W2A: MlpShape = MlpShape { nin: 64, nhid: 128, nout: 10, batch: 64 };
/// W2b: 784 → 256 → 10, batch 128 (20 warm-up + 200 timed steps in the peers' script).
pub const W2B: MlpShape = MlpShape { nin: 784, nhid: 256, nout: 10, batch: 128 };
/// The peers cycle through 16 fixed batches.
pub const N_BATCHES: usize = 16;

/// One GEMM of a W2 step: `(name, m, k, n, a transposed, b transposed)`.
pub type GemmCall = (&'static str, usize, usize, usize, bool, bool);

impl MlpShape {
    /// FLOP of one step as the peers count them: `6 · batch · (in·hid + hid·out)`.
    pub fn flop(&self) -> usize {
        6 * self.batch * (self.nin * self.nhid + self.nhid * self.nout)
    }

    /// The step's five GEMMs, as the tape issues them (`x` needs no gradient, so no `dx`).
    pub fn gemm_calls(&self) -> [GemmCall; 5] {
        let (b, i, h, o) = (self.batch, self.nin, self.nhid, self.nout);
        [
            ("fwd  x·W1", b, i, h, false, false),
            ("fwd  h·W2", b, h, o, false, false),
            ("bwd  dh = g·W2ᵀ", b, o, h, false, true),
            ("bwd  dW2 = hᵀ·g", h, b, o, true, false),
            ("bwd  dW1 = xᵀ·dh", i, b, h, true, false),
        ]
    }
}

/// `c = a·b + beta·c` for one of [`MlpShape::gemm_calls`] issued directly, on one thread, through
/// the GEMM library the tape picks for that layout (matrixmultiply or the `gemm` crate), with `a`
/// and `b` read through the call's strides.
pub fn raw_gemm((_, m, k, n, ta, tb): GemmCall, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
    downhill::tensor::gemm_slices((m, k, n), (a, ta), (b, tb), beta, c).expect("buffers sized for the call")
}

/// The W2 training state: parameters, batches, and the stores a step reuses.
pub struct Mlp2 {
    pub shape: MlpShape,
    pub params: Params<f32>,
    /// `W1 [in, hid]`, `b1 [1, hid]`, `W2 [hid, out]`, `b2 [1, out]`.
    pub ids: [ParamId; 4],
    pub xs: Vec<Tensor<f32>>,
    pub ys: Vec<Vec<usize>>,
    tape: Tape<f32>,
    grads: Grads<f32>,
    opt: Adam<f32>,
    next: usize,
}

impl Mlp2 {
    /// `mlp_init` and `mlp_batches` of `common.py`.
    pub fn new(shape: MlpShape) -> Self {
        let MlpShape { nin, nhid, nout, batch } = shape;
        let (a1, a2) = (1.0 / (nin as f64).sqrt(), 1.0 / (nhid as f64).sqrt());
        let mut params = Params::new();
        let w1 = params.insert("W1", tensor(&det_uniform(101, nin * nhid, -a1, a1), [nin, nhid])).unwrap();
        let b1 = params.insert("b1", tensor(&det_uniform(102, nhid, -a1, a1), [1, nhid])).unwrap();
        let w2 = params.insert("W2", tensor(&det_uniform(103, nhid * nout, -a2, a2), [nhid, nout])).unwrap();
        let b2 = params.insert("b2", tensor(&det_uniform(104, nout, -a2, a2), [1, nout])).unwrap();
        let xs = (0..N_BATCHES as u64)
            .map(|j| tensor(&det_uniform(1000 + j, batch * nin, -1.0, 1.0), [batch, nin]))
            .collect();
        let ys = (0..N_BATCHES as u64).map(|j| det_labels(2000 + j, batch, nout)).collect();
        let opt =
            Adam::new(AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, ..AdamConfig::default() })
                .unwrap();
        Mlp2 {
            shape,
            params,
            ids: [w1, b1, w2, b2],
            xs,
            ys,
            tape: Tape::new(),
            grads: Grads::new(),
            opt,
            next: 0,
        }
    }

    /// One training step on the next batch (forward, loss, backward, Adam); returns the loss.
    pub fn step(&mut self) -> f32 {
        let k = self.next;
        self.next = (k + 1) % N_BATCHES;
        self.tape.clear();
        let loss = {
            let t = &self.tape;
            let [w1, b1, w2, b2] = self.ids.map(|id| t.param(&self.params, id));
            let x = t.constant(&self.xs[k]);
            let h = x.matmul(w1).broadcast_add(b1).relu();
            let logits = h.matmul(w2).broadcast_add(b2);
            let loss = softmax_cross_entropy(logits, &self.ys[k]);
            loss.backward_into(&mut self.grads).unwrap();
            loss.item().unwrap()
        };
        // Release the tape's shares of the parameters so Adam updates them in place.
        self.tape.clear();
        self.opt.step(&mut self.params, &self.grads).unwrap();
        loss
    }

    /// `eval_ce64` of the peers' script: the mean cross-entropy over the 16 batches, computed in
    /// f64 from the current parameters.
    pub fn eval_ce64(&self) -> f64 {
        let MlpShape { nin, nhid, nout, batch } = self.shape;
        let p: Vec<Vec<f64>> = self
            .ids
            .iter()
            .map(|&id| self.params.get(id).data().iter().map(|&v| f64::from(v)).collect())
            .collect();
        let (w1, b1, w2, b2) = (&p[0], &p[1], &p[2], &p[3]);
        let mut total = 0.0;
        for (x, y) in self.xs.iter().zip(&self.ys) {
            let x = x.data();
            let mut ce = 0.0;
            for r in 0..batch {
                let mut h = b1.clone();
                for i in 0..nin {
                    let xi = f64::from(x[r * nin + i]);
                    for (hj, &w) in h.iter_mut().zip(&w1[i * nhid..(i + 1) * nhid]) {
                        *hj += xi * w;
                    }
                }
                let mut lg = b2.clone();
                for (j, &hj) in h.iter().enumerate() {
                    let hj = hj.max(0.0);
                    for (l, &w) in lg.iter_mut().zip(&w2[j * nout..(j + 1) * nout]) {
                        *l += hj * w;
                    }
                }
                let m = lg.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = lg.iter().map(|&l| (l - m).exp()).sum();
                ce -= lg[y[r]] - m - s.ln();
            }
            total += ce / batch as f64;
        }
        total / self.xs.len() as f64
    }
}

// ------------------------------------------------------------------ W1: logistic regression GD

/// Standardized features `[n, d]` (row-major, f64) and 0/1 labels.
#[derive(Clone, Debug)]
pub struct LogregData {
    pub n: usize,
    pub d: usize,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

impl LogregData {
    /// Raw features and labels, standardized as `common.load_churn` does: every column minus its
    /// mean, over its population standard deviation (f64, over all rows).
    pub fn standardized(n: usize, d: usize, mut x: Vec<f64>, y: Vec<f64>) -> Self {
        assert_eq!(x.len(), n * d);
        assert_eq!(y.len(), n);
        for j in 0..d {
            let mean = (0..n).map(|i| x[i * d + j]).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (x[i * d + j] - mean).powi(2)).sum::<f64>() / n as f64;
            let sd = var.sqrt();
            for i in 0..n {
                x[i * d + j] = (x[i * d + j] - mean) / sd;
            }
        }
        LogregData { n, d, x, y }
    }

    /// The peers' `churn_200k.csv` (header row, features, label last).
    pub fn read_csv(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let cols = header.split(',').count();
        let d = cols - 1;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for line in lines.filter(|l| !l.is_empty()) {
            let mut n = 0;
            for (j, field) in line.split(',').enumerate() {
                let v: f64 =
                    field.trim().parse().map_err(|e| std::io::Error::other(format!("{field:?}: {e}")))?;
                if j < d {
                    x.push(v)
                } else {
                    y.push(v)
                }
                n += 1;
            }
            assert_eq!(n, cols, "{}: a row with {n} fields, expected {cols}", path.display());
        }
        let n = y.len();
        Ok(Self::standardized(n, d, x, y))
    }

    /// A synthetic churn-like set from the splitmix64 stream (12 features on different scales,
    /// ~10% positives drawn from a logistic model), for a test that needs no generated file.
    pub fn synthetic(n: usize, seed: u64) -> Self {
        const SCALES: [(f64, f64); 12] = [
            (1.0, 2190.0),
            (9.99, 199.99),
            (0.0, 47.0),
            (0.0, 400.0),
            (0.0, 15.0),
            (0.0, 365.0),
            (0.0, 12.0),
            (1.0, 5.0),
            (1.0, 300.0),
            (0.0, 50.0),
            (0.0, 24.0),
            (0.0, 1.0),
        ];
        const BETA: [f64; 12] =
            [-0.55, 0.30, -0.35, -0.45, 0.50, 0.70, 0.45, -0.20, -0.10, 0.15, -0.60, -0.35];
        let d = SCALES.len();
        let mut x = vec![0.0; n * d];
        for (j, &(lo, hi)) in SCALES.iter().enumerate() {
            // Squared uniforms: skewed columns, like counts and durations.
            for (i, u) in det_uniform(seed + j as u64, n, 0.0, 1.0).into_iter().enumerate() {
                x[i * d + j] = (lo + (hi - lo) * u * u).round();
            }
        }
        let noise = det_uniform(seed + 100, n, -1.0, 1.0);
        let u = det_uniform(seed + 101, n, 0.0, 1.0);
        let z = Self::standardized(n, d, x.clone(), vec![0.0; n]);
        let y = (0..n)
            .map(|i| {
                let eta: f64 = -2.6 + (0..d).map(|j| BETA[j] * z.x[i * d + j]).sum::<f64>() + noise[i];
                f64::from(u8::from(u[i] < 1.0 / (1.0 + (-eta).exp())))
            })
            .collect();
        Self::standardized(n, d, x, y)
    }

    /// The first `n` rows repeated or cut to `rows` rows (for the scaling runs).
    pub fn resized(&self, rows: usize) -> Self {
        let x =
            (0..rows).flat_map(|i| self.x[(i % self.n) * self.d..(i % self.n + 1) * self.d].iter().copied());
        let y = (0..rows).map(|i| self.y[i % self.n]);
        LogregData { n: rows, d: self.d, x: x.collect(), y: y.collect() }
    }

    /// The stable mean log-loss of `(w, b)` in f64 (`eval_loss64` of the peers' script).
    pub fn loss64(&self, w: &[f64], b: f64) -> f64 {
        let mut s = 0.0;
        for i in 0..self.n {
            let z: f64 =
                b + self.x[i * self.d..(i + 1) * self.d].iter().zip(w).map(|(&x, &w)| x * w).sum::<f64>();
            s += z.max(0.0) + (-z.abs()).exp().ln_1p() - self.y[i] * z;
        }
        s / self.n as f64
    }

    /// Plain-loop W1 in f64 with the hand-derived gradient `Xᵀ(σ(Xw + b) − y)/n` (the numpy peer's
    /// formula): the reference the tape's result is checked against.
    pub fn reference_gd(&self, steps: usize, lr: f64) -> (Vec<f64>, f64) {
        let (n, d) = (self.n, self.d);
        let (mut w, mut b) = (vec![0.0; d], 0.0);
        for _ in 0..steps {
            let mut gw = vec![0.0; d];
            let mut gb = 0.0;
            for i in 0..n {
                let row = &self.x[i * d..(i + 1) * d];
                let z: f64 = b + row.iter().zip(&w).map(|(&x, &w)| x * w).sum::<f64>();
                let r = 1.0 / (1.0 + (-z).exp()) - self.y[i];
                gw.iter_mut().zip(row).for_each(|(g, &x)| *g += x * r);
                gb += r;
            }
            w.iter_mut().zip(&gw).for_each(|(w, &g)| *w -= lr * g / n as f64);
            b -= lr * gb / n as f64;
        }
        (w, b)
    }
}

/// The W1 training state in `T`: `nn::LogisticRegression` (weight `[d, 1]` and bias `[1, 1]`,
/// both zero), plain GD with lr 1.0. `step` uses the model's own loss
/// (`LogisticRegression::loss`: one fused node that reads X once per step); the `composite`
/// state spells the same loss out as `bce_with_logits_loss(model.forward(x), y)` (matmul, bias
/// add, loss: X read twice per step), the way the graph looks without the fused node.
pub struct Logreg<T: Float> {
    pub params: Params<T>,
    pub model: LogisticRegression,
    pub w: ParamId,
    pub b: ParamId,
    pub x: Tensor<T>,
    pub y: Tensor<T>,
    fused: bool,
    tape: Tape<T>,
    grads: Grads<T>,
    opt: Sgd<T>,
}

/// W1's learning rate and step count.
pub const W1_LR: f64 = 1.0;
pub const W1_STEPS: usize = 200;
/// The peers' final loss after 200 f64 steps on `churn_200k.csv` (every implementation agrees).
pub const W1_FINAL_LOSS_F64: f64 = 0.218255667;

impl<T: Float> Logreg<T> {
    /// W1 through the model's fused loss.
    pub fn new(data: &LogregData) -> Self {
        Self::build(data, true)
    }

    /// W1 through the composite loss (`bce_with_logits_loss` of the model's logits).
    pub fn composite(data: &LogregData) -> Self {
        Self::build(data, false)
    }

    fn build(data: &LogregData, fused: bool) -> Self {
        let mut params = Params::new();
        let model = LogisticRegression::new(&mut params, "logreg", data.d).unwrap();
        let (w, b) = (model.linear().weight(), model.linear().bias().unwrap());
        Logreg {
            params,
            model,
            w,
            b,
            x: tensor(&data.x, [data.n, data.d]),
            y: tensor(&data.y, [data.n, 1]),
            fused,
            tape: Tape::new(),
            grads: Grads::new(),
            opt: Sgd::new(SgdConfig::lr(W1_LR)).unwrap(),
        }
    }

    /// One GD step (forward, mean BCE-with-logits, backward, update); returns the loss before it.
    pub fn step(&mut self) -> T {
        self.tape.clear();
        let loss = {
            let t = &self.tape;
            let (x, y) = (t.constant(&self.x), t.constant(&self.y));
            // ANCHOR: w1_loss
            let loss = if self.fused {
                // One node: x is read once per step.
                self.model.loss(t, &self.params, x, y)
            } else {
                // matmul, bias add, loss: x is read by the product and again by its backward.
                bce_with_logits_loss(self.model.forward(t, &self.params, x), y)
            };
            // ANCHOR_END: w1_loss
            loss.backward_into(&mut self.grads).unwrap();
            loss.item().unwrap()
        };
        self.tape.clear();
        self.opt.step(&mut self.params, &self.grads).unwrap();
        loss
    }

    /// `(w, b)` widened to f64.
    pub fn weights(&self) -> (Vec<f64>, f64) {
        let w = self.params.get(self.w).data().iter().map(|v| v.f64()).collect();
        (w, self.params.get(self.b).data()[0].f64())
    }
}

/// Where the peers' data lives: `$PEERS_WORK/data/churn_200k.csv` (default `$HOME/peers-work`).
pub fn churn_csv_path() -> std::path::PathBuf {
    let work = std::env::var_os("PEERS_WORK")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join("peers-work"));
    work.join("data").join("churn_200k.csv")
}

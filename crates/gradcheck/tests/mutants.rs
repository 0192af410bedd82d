//! The checker catches wrong backward passes: for every op family, an op with a deliberately
//! wrong derivative (written here through the extension points `UnaryOp`, `BinaryOp` and
//! `CustomOp`) must fail, while the correct op on the same inputs passes. A checker that passed
//! everything would fail every test in this file.

use downhill_gradcheck::{GradCheck, Report};
use downhill_tensor::{BinaryOp, CustomOp, Float, Params, Tape, Tensor, TensorRef, UnaryOp, seeded_rng};

fn uniform(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(dims, lo, hi, &mut seeded_rng(seed)).unwrap()
}

/// The mutant's report must fail; the reference's must pass.
fn caught(mutant: &Report, reference: &Report) {
    assert!(reference.passed(), "the correct op fails, so the test proves nothing:\n{reference}");
    assert!(!mutant.passed(), "the wrong backward was not caught:\n{mutant}");
    assert!(mutant.num_failures() > 0 && mutant.max_abs_error() > 1e-3, "{mutant}");
}

// ---------------------------------------------------------------------------------------------
// unary

/// `exp` whose derivative is `x` instead of `y = eˣ`.
struct ExpWrongDerivative;
impl UnaryOp for ExpWrongDerivative {
    const NAME: &'static str = "exp_wrong";
    fn f<T: Float>(x: T, _: T, _: T) -> T {
        x.exp()
    }
    fn df<T: Float>(x: T, _: T, _: T, _: T) -> T {
        x
    }
}

#[test]
fn unary_exp_with_derivative_x_is_caught_at_every_element() {
    let x = uniform(&[3, 4], -2.0, 2.0, 1);
    let gc = GradCheck::new();
    let mutant =
        gc.check(&[("x", x.clone())], |_, v| v[0].map_unary::<ExpWrongDerivative>(0.0, 0.0)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].exp()).unwrap();
    caught(&mutant, &reference);
    // x ≠ eˣ everywhere, so every element is reported, with its name and multi-index.
    assert_eq!(mutant.num_failures(), 12);
    assert!(mutant.failures().iter().all(|m| m.input == "x" && m.index.len() == 2 && !m.at_kink));
}

/// `sqrt` that forgets the ½: `dy/dx = 1/y`.
struct SqrtMissingHalf;
impl UnaryOp for SqrtMissingHalf {
    const NAME: &'static str = "sqrt_wrong";
    fn f<T: Float>(x: T, _: T, _: T) -> T {
        x.sqrt()
    }
    fn df<T: Float>(_: T, y: T, _: T, _: T) -> T {
        y.recip()
    }
}

#[test]
fn unary_sqrt_missing_a_factor_of_two_is_caught() {
    let x = uniform(&[5], 0.5, 3.0, 2);
    let gc = GradCheck::new();
    let mutant = gc.check(&[("x", x.clone())], |_, v| v[0].map_unary::<SqrtMissingHalf>(0.0, 0.0)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].sqrt()).unwrap();
    caught(&mutant, &reference);
    for m in mutant.failures() {
        assert!((m.analytic / m.numeric - 2.0).abs() < 1e-4, "analytic should be twice numeric: {m:?}");
    }
}

/// `relu` whose derivative at exactly 0 is 5: right everywhere except on the kink, where 5 is
/// no valid subgradient (the one-sided slopes are 0 and 1).
struct ReluBadAtZero;
impl UnaryOp for ReluBadAtZero {
    const NAME: &'static str = "relu_wrong";
    fn f<T: Float>(x: T, _: T, _: T) -> T {
        x.max(T::zero())
    }
    fn df<T: Float>(x: T, _: T, _: T, _: T) -> T {
        if x > T::zero() {
            T::one()
        } else if x == T::zero() {
            T::of(5.0)
        } else {
            T::zero()
        }
    }
}

#[test]
fn unary_wrong_subgradient_at_a_kink_is_a_failure_not_a_kink() {
    let x = Tensor::from_vec(vec![-1.0, 0.0, 0.5, 0.0, 2.0], [5]).unwrap();
    let gc = GradCheck::new();
    let mutant =
        gc.check(&[("x", x.clone())], |_, v| v[0].map_unary::<ReluBadAtZero>(0.0, 0.0).sum()).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].relu().sum()).unwrap();
    caught(&mutant, &reference);
    assert_eq!(reference.num_kinks(), 2);
    assert_eq!(mutant.num_kinks(), 2);
    assert_eq!(mutant.num_failures(), 2);
    assert!(mutant.failures().iter().all(|m| m.at_kink && (m.index == [1] || m.index == [3])));
    assert!(mutant.to_string().contains("kink, outside one-sided slopes"));
}

// ---------------------------------------------------------------------------------------------
// binary

/// `a·b` with the two partials swapped: `∂/∂a = a`, `∂/∂b = b`.
struct MulSwapped;
impl BinaryOp for MulSwapped {
    const NAME: &'static str = "mul_swapped";
    fn f<T: Float>(a: T, b: T) -> T {
        a * b
    }
    fn da<T: Float>(a: T, _: T, _: T) -> T {
        a
    }
    fn db<T: Float>(_: T, b: T, _: T) -> T {
        b
    }
}

#[test]
fn binary_mul_with_swapped_partials_is_caught_on_both_inputs() {
    let (a, b) = (uniform(&[2, 3], -2.0, 2.0, 3), uniform(&[2, 3], -2.0, 2.0, 4));
    let gc = GradCheck::new();
    let mutant =
        gc.check(&[("a", a.clone()), ("b", b.clone())], |_, v| v[0].map_binary::<MulSwapped>(v[1])).unwrap();
    let reference = gc.check(&[("a", a), ("b", b)], |_, v| v[0] * v[1]).unwrap();
    caught(&mutant, &reference);
    assert!(mutant.failures().iter().any(|m| m.input == "a"));
    assert!(mutant.failures().iter().any(|m| m.input == "b"));
}

/// `a + b` for `b` of shape `[1, n]` grown to `[m, n]`, whose backward gives `b` only the first
/// row's gradient instead of the sum over rows.
struct BroadcastAddFirstRowOnly;
impl CustomOp<f64> for BroadcastAddFirstRowOnly {
    fn name(&self) -> &'static str {
        "broadcast_add_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let n = x[1].data.len();
        let y = x[0].data.iter().enumerate().map(|(i, &a)| a + x[1].data[i % n]).collect();
        Tensor::from_vec(y, x[0].shape.clone()).map_err(|e| e.to_string())
    }
    fn backward(&self, x: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        let n = x[1].data.len();
        gx[0].iter_mut().zip(g).for_each(|(d, &s)| *d += s);
        gx[1].iter_mut().zip(&g[..n]).for_each(|(d, &s)| *d += s);
    }
}

#[test]
fn binary_broadcast_that_does_not_sum_over_the_grown_axis_is_caught() {
    let (a, b) = (uniform(&[3, 4], -2.0, 2.0, 5), uniform(&[1, 4], -2.0, 2.0, 6));
    let gc = GradCheck::new();
    let mutant = gc
        .check(&[("a", a.clone()), ("b", b.clone())], |t, v| t.custom(BroadcastAddFirstRowOnly, v))
        .unwrap();
    let reference = gc.check(&[("a", a), ("b", b)], |_, v| v[0].broadcast_add(v[1])).unwrap();
    caught(&mutant, &reference);
    assert!(mutant.failures().iter().all(|m| m.input == "b"), "only b's gradient is wrong:\n{mutant}");
}

// ---------------------------------------------------------------------------------------------
// reduce

/// `sum_axis(0)` of a square matrix whose backward broadcasts the gradient along the wrong axis:
/// `gx[i, j] = g[i]` instead of `g[j]`.
struct SumAxisWrongAxis;
impl CustomOp<f64> for SumAxisWrongAxis {
    fn name(&self) -> &'static str {
        "sum_axis_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let n = x[0].shape.dims()[0];
        let y = (0..n).map(|j| (0..n).map(|i| x[0].data[i * n + j]).sum()).collect();
        Tensor::from_vec(y, [n]).map_err(|e| e.to_string())
    }
    fn backward(&self, x: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        let n = x[0].shape.dims()[0];
        for i in 0..n {
            for j in 0..n {
                gx[0][i * n + j] += g[i];
            }
        }
    }
}

#[test]
fn reduce_sum_axis_broadcasting_along_the_wrong_axis_is_caught() {
    let x = uniform(&[4, 4], -2.0, 2.0, 7);
    let gc = GradCheck::new();
    let mutant = gc.check(&[("x", x.clone())], |t, v| t.custom(SumAxisWrongAxis, v)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].sum_axis(0, false)).unwrap();
    caught(&mutant, &reference);
}

/// `mean` whose backward forgets to divide by the element count.
struct MeanWithoutScale;
impl CustomOp<f64> for MeanWithoutScale {
    fn name(&self) -> &'static str {
        "mean_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        Ok(Tensor::scalar(x[0].data.iter().sum::<f64>() / x[0].data.len() as f64))
    }
    fn backward(&self, _: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        gx[0].iter_mut().for_each(|d| *d += g[0]);
    }
}

#[test]
fn reduce_mean_without_the_one_over_n_is_caught() {
    let x = uniform(&[2, 5], -2.0, 2.0, 8);
    let gc = GradCheck::new();
    let mutant = gc.check(&[("x", x.clone())], |t, v| t.custom(MeanWithoutScale, v)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].mean()).unwrap();
    caught(&mutant, &reference);
    assert_eq!(mutant.num_failures(), 10);
}

// ---------------------------------------------------------------------------------------------
// linalg

/// `C = A·B` for square matrices whose backward forgets a transpose: `dA = G·B` (not `G·Bᵀ`).
struct MatmulMissingTranspose;
impl CustomOp<f64> for MatmulMissingTranspose {
    fn name(&self) -> &'static str {
        "matmul_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let n = x[0].shape.dims()[0];
        Tensor::from_vec(square_product(x[0].data, x[1].data, n, false, false), [n, n])
            .map_err(|e| e.to_string())
    }
    fn backward(&self, x: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        let n = x[0].shape.dims()[0];
        let ga = square_product(g, x[1].data, n, false, false); // should transpose B
        let gb = square_product(x[0].data, g, n, true, false); // Aᵀ·G, correct
        gx[0].iter_mut().zip(ga).for_each(|(d, s)| *d += s);
        gx[1].iter_mut().zip(gb).for_each(|(d, s)| *d += s);
    }
}

/// `op(a)·op(b)` for `n × n` row-major matrices, `op` transposing when asked.
fn square_product(a: &[f64], b: &[f64], n: usize, ta: bool, tb: bool) -> Vec<f64> {
    let at = |i: usize, k: usize| if ta { a[k * n + i] } else { a[i * n + k] };
    let bt = |k: usize, j: usize| if tb { b[j * n + k] } else { b[k * n + j] };
    (0..n * n).map(|ij| (0..n).map(|k| at(ij / n, k) * bt(k, ij % n)).sum()).collect()
}

#[test]
fn linalg_matmul_backward_missing_a_transpose_is_caught() {
    let (a, b) = (uniform(&[3, 3], -2.0, 2.0, 9), uniform(&[3, 3], -2.0, 2.0, 10));
    let gc = GradCheck::new();
    let mutant =
        gc.check(&[("a", a.clone()), ("b", b.clone())], |t, v| t.custom(MatmulMissingTranspose, v)).unwrap();
    let reference = gc.check(&[("a", a), ("b", b)], |_, v| v[0].matmul(v[1])).unwrap();
    caught(&mutant, &reference);
    assert!(mutant.failures().iter().all(|m| m.input == "a"), "only dA is wrong:\n{mutant}");
}

// ---------------------------------------------------------------------------------------------
// movement

/// The transpose of a square matrix whose backward is the identity (it forgets to transpose the
/// gradient back).
struct TransposeIdentityBackward;
impl CustomOp<f64> for TransposeIdentityBackward {
    fn name(&self) -> &'static str {
        "transpose_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let n = x[0].shape.dims()[0];
        let y = (0..n * n).map(|ij| x[0].data[(ij % n) * n + ij / n]).collect();
        Tensor::from_vec(y, [n, n]).map_err(|e| e.to_string())
    }
    fn backward(&self, _: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        gx[0].iter_mut().zip(g).for_each(|(d, &s)| *d += s);
    }
}

#[test]
fn movement_transpose_with_identity_backward_is_caught() {
    let x = uniform(&[3, 3], -2.0, 2.0, 11);
    let gc = GradCheck::new();
    let mutant = gc.check(&[("x", x.clone())], |t, v| t.custom(TransposeIdentityBackward, v)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].t()).unwrap();
    caught(&mutant, &reference);
    // The diagonal maps to itself, so only the 6 off-diagonal elements are wrong.
    assert_eq!(mutant.num_failures(), 6);
    assert!(mutant.failures().iter().all(|m| m.index[0] != m.index[1]));
}

#[test]
fn the_random_cotangent_exposes_what_an_all_ones_cotangent_hides() {
    // Summing the output is the same as an all-ones cotangent, which is symmetric under the
    // transpose: the identity backward then happens to give the right answer.
    let x = uniform(&[3, 3], -2.0, 2.0, 12);
    let gc = GradCheck::new();
    let summed = gc.check(&[("x", x.clone())], |t, v| t.custom(TransposeIdentityBackward, v).sum()).unwrap();
    assert!(summed.passed() && !summed.contracted(), "{summed}");
    // Returned as is, the output is contracted with a seeded random cotangent, which is not.
    let raw = gc.check(&[("x", x)], |t, v| t.custom(TransposeIdentityBackward, v)).unwrap();
    assert!(raw.contracted() && !raw.passed(), "{raw}");
}

/// `index_select` along axis 0 that assigns gradients instead of adding them, so repeated
/// indices lose all but one contribution.
struct GatherWithoutAccumulation {
    indices: Vec<usize>,
}
impl CustomOp<f64> for GatherWithoutAccumulation {
    fn name(&self) -> &'static str {
        "gather_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let k = x[0].shape.dims()[1];
        let y = self.indices.iter().flat_map(|&i| x[0].data[i * k..(i + 1) * k].iter().copied()).collect();
        Tensor::from_vec(y, [self.indices.len(), k]).map_err(|e| e.to_string())
    }
    fn backward(&self, x: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        let k = x[0].shape.dims()[1];
        for (p, &i) in self.indices.iter().enumerate() {
            gx[0][i * k..(i + 1) * k].copy_from_slice(&g[p * k..(p + 1) * k]);
        }
    }
}

#[test]
fn movement_gather_that_drops_repeated_index_gradients_is_caught() {
    let x = uniform(&[4, 3], -2.0, 2.0, 13);
    let indices = vec![2, 0, 2, 3];
    let gc = GradCheck::new();
    let idx = indices.clone();
    let mutant = gc
        .check(&[("x", x.clone())], move |t, v| {
            t.custom(GatherWithoutAccumulation { indices: idx.clone() }, v)
        })
        .unwrap();
    let reference = gc.check(&[("x", x)], move |_, v| v[0].index_select(0, &indices)).unwrap();
    caught(&mutant, &reference);
    // Only row 2, selected twice, is wrong.
    assert_eq!(mutant.num_failures(), 3);
    assert!(mutant.failures().iter().all(|m| m.index[0] == 2));
}

// ---------------------------------------------------------------------------------------------
// custom and composite

/// Softmax over a vector whose backward forgets the coupling term: `dx = g·y` instead of
/// `y·(g − Σ g·y)`.
struct SoftmaxMissingCoupling;
impl CustomOp<f64> for SoftmaxMissingCoupling {
    fn name(&self) -> &'static str {
        "softmax_wrong"
    }
    fn forward(&self, x: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let m = x[0].data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = x[0].data.iter().map(|&v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        Tensor::from_vec(e.iter().map(|v| v / s).collect(), x[0].shape.clone()).map_err(|e| e.to_string())
    }
    fn backward(&self, _: &[TensorRef<'_, f64>], y: TensorRef<'_, f64>, g: &[f64], gx: &mut [Vec<f64>]) {
        for ((d, &gi), &yi) in gx[0].iter_mut().zip(g).zip(y.data) {
            *d += gi * yi;
        }
    }
}

#[test]
fn custom_softmax_missing_its_coupling_term_is_caught() {
    let x = uniform(&[5], -2.0, 2.0, 14);
    let gc = GradCheck::new();
    let mutant = gc.check(&[("x", x.clone())], |t, v| t.custom(SoftmaxMissingCoupling, v)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].softmax(0)).unwrap();
    caught(&mutant, &reference);
}

/// `tanh` whose derivative uses the input instead of the output: `1 − x²` instead of `1 − y²`.
struct TanhWrongDerivative;
impl UnaryOp for TanhWrongDerivative {
    const NAME: &'static str = "tanh_wrong";
    fn f<T: Float>(x: T, _: T, _: T) -> T {
        x.tanh()
    }
    fn df<T: Float>(x: T, _: T, _: T, _: T) -> T {
        T::one() - x * x
    }
}

/// A 2-layer MLP's MSE loss over `params`, with the hidden activation chosen by `bad`.
fn mlp_loss<'t>(
    tape: &'t Tape<f64>,
    p: &Params<f64>,
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    bad: bool,
) -> downhill_tensor::Var<'t, f64> {
    let id = |n: &str| p.id(n).unwrap();
    let (w1, b1, w2, b2) =
        (tape.param(p, id("w1")), tape.param(p, id("b1")), tape.param(p, id("w2")), tape.param(p, id("b2")));
    let pre = tape.constant(x).matmul(w1).broadcast_add(b1);
    let hidden = if bad { pre.map_unary::<TanhWrongDerivative>(0.0, 0.0) } else { pre.tanh() };
    (hidden.matmul(w2).broadcast_add(b2) - tape.constant(y)).square().mean()
}

#[test]
fn composite_mlp_with_a_wrong_activation_derivative_deep_inside_is_caught() {
    let mut p = Params::new();
    p.insert("w1", uniform(&[3, 5], -1.0, 1.0, 15)).unwrap();
    p.insert("b1", uniform(&[1, 5], -0.5, 0.5, 16)).unwrap();
    p.insert("w2", uniform(&[5, 2], -1.0, 1.0, 17)).unwrap();
    p.insert("b2", uniform(&[1, 2], -0.5, 0.5, 18)).unwrap();
    let (x, y) = (uniform(&[6, 3], -2.0, 2.0, 19), uniform(&[6, 2], -1.0, 1.0, 20));
    let gc = GradCheck::new();
    let mutant = gc.check_params(&p, |t, p| mlp_loss(t, p, &x, &y, true)).unwrap();
    let reference = gc.check_params(&p, |t, p| mlp_loss(t, p, &x, &y, false)).unwrap();
    caught(&mutant, &reference);
    // The bug sits below the second layer: only first-layer parameters get wrong gradients.
    assert!(mutant.failures().iter().all(|m| m.input == "w1" || m.input == "b1"), "{mutant}");
    assert!(mutant.failures().iter().any(|m| m.input == "w1"));
}

#[test]
fn f32_mutant_is_caught_with_f32_tolerances() {
    let x = uniform(&[6], -2.0, 2.0, 21).cast::<f32>();
    let gc = GradCheck::<f32>::with_tolerances(1e-2, 1e-2, 1e-2);
    let mutant =
        gc.check(&[("x", x.clone())], |_, v| v[0].map_unary::<ExpWrongDerivative>(0.0, 0.0)).unwrap();
    let reference = gc.check(&[("x", x)], |_, v| v[0].exp()).unwrap();
    caught(&mutant, &reference);
    assert_eq!(mutant.dtype(), "f32");
}

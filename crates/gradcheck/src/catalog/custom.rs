//! Ops defined outside the tensor crate through its extension points (`ops/custom.rs` and the
//! generic hooks `map_unary` / `map_binary`): the same checks apply to them as to built-ins.

use downhill_tensor::{BinaryOp, CustomOp, Float, SeededRng, Tensor, TensorRef, UnaryOp};
use rand::RngExt;

use super::draw::{dims, size, uniform};
use super::{Case, Entry, Expect, Family};

const fn entry(
    name: &'static str,
    methods: &'static [&'static str],
    records: &'static [&'static str],
    make: fn(&mut SeededRng) -> Case,
) -> Entry {
    Entry { name, family: Family::Custom, methods, records, expect: Expect::Gradient, make, kink: None }
}

pub(super) const ENTRIES: &[Entry] = &[
    entry("custom", &["custom"], &["row_dot"], |r| {
        let (n, k) = (size(r, 1, 4), size(r, 1, 5));
        let (a, b) = (uniform(&[n, k], r, -2.0, 2.0), uniform(&[n, k], r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "row_dot", |t, v| t.custom(RowDot, v))
    }),
    entry("map_unary", &["map_unary"], &["scaled_cube"], |r| {
        let x = uniform(&dims(r, 0, 3), r, -2.0, 2.0);
        let (p, q) = (r.random_range(-2.0..2.0), r.random_range(-2.0..2.0));
        Case::new(vec![("x", x)], format!("scaled_cube p {p:.3}, q {q:.3}"), move |_, v| {
            v[0].map_unary::<ScaledCube>(p, q)
        })
    }),
    entry("map_binary", &["map_binary"], &["mul_exp"], |r| {
        let d = dims(r, 0, 3);
        let (a, b) = (uniform(&d, r, -2.0, 2.0), uniform(&d, r, -2.0, 2.0));
        Case::new(vec![("a", a), ("b", b)], "mul_exp", |_, v| v[0].map_binary::<MulExp>(v[1]))
    }),
];

/// `y[i] = Σⱼ a[i, j] · b[i, j]` for `a, b` of shape `[n, k]`: a two-input custom op.
///
/// `∂y[i]/∂a[i, j] = b[i, j]`, `∂y[i]/∂b[i, j] = a[i, j]`.
pub struct RowDot;

impl<T: Float> CustomOp<T> for RowDot {
    fn name(&self) -> &'static str {
        "row_dot"
    }

    fn forward(&self, inputs: &[TensorRef<'_, T>]) -> Result<Tensor<T>, String> {
        let [a, b] = inputs else {
            return Err(format!("takes 2 inputs, got {}; pass [a, b]", inputs.len()));
        };
        if a.shape != b.shape || a.shape.rank() != 2 {
            return Err(format!(
                "needs two [n, k] inputs of the same shape, got {} and {}",
                a.shape, b.shape
            ));
        }
        let k = a.shape.dims()[1];
        let rows = a.shape.dims()[0];
        let y = (0..rows)
            .map(|i| (0..k).map(|j| a.data[i * k + j] * b.data[i * k + j]).fold(T::zero(), |s, x| s + x))
            .collect();
        Tensor::from_vec(y, [rows]).map_err(|e| e.to_string())
    }

    fn backward(
        &self,
        inputs: &[TensorRef<'_, T>],
        _: TensorRef<'_, T>,
        grad: &[T],
        input_grads: &mut [Vec<T>],
    ) {
        let ([a, b], [ga, gb]) = (inputs, input_grads) else { return };
        let k = a.shape.dims()[1];
        for (i, &g) in grad.iter().enumerate() {
            for j in i * k..(i + 1) * k {
                ga[j] += g * b.data[j];
                gb[j] += g * a.data[j];
            }
        }
    }
}

/// `y = p·x³ + q`; `dy/dx = 3p·x²`: an elementwise op with both scalar parameters.
pub struct ScaledCube;

impl UnaryOp for ScaledCube {
    const NAME: &'static str = "scaled_cube";
    fn f<T: Float>(x: T, p: T, q: T) -> T {
        p * x * x * x + q
    }
    fn df<T: Float>(x: T, _: T, p: T, _: T) -> T {
        T::of(3.0) * p * x * x
    }
}

/// `y = a·eᵇ`; `∂y/∂a = eᵇ`, `∂y/∂b = a·eᵇ = y`.
pub struct MulExp;

impl BinaryOp for MulExp {
    const NAME: &'static str = "mul_exp";
    fn f<T: Float>(a: T, b: T) -> T {
        a * b.exp()
    }
    fn da<T: Float>(_: T, b: T, _: T) -> T {
        b.exp()
    }
    fn db<T: Float>(_: T, _: T, y: T) -> T {
        y
    }
}

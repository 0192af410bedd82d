//! Book, chapter 2: gradients.
//!
//! ```sh
//! cargo run --release --example ch02_gradients            # writes book/src/generated/ch02/
//! cargo run --release --example ch02_gradients -- DIR     # or into DIR
//! ```
//!
//! The gradient of mean-squared-error linear regression three ways: derived by hand (plain loops),
//! from the tape, and by central differences; `downhill::gradcheck` on the tape, on the hand
//! formula wrapped as a custom op, and on a hand formula with a classic mistake. A scalar tape small
//! enough to print, walked in reverse over a diamond; the bias as a separate parameter and as a
//! column of ones; the `(n, 1)` vs `(n,)` bug: what numpy's broadcasting would compute and train,
//! and the errors downhill gives instead. Figures: finite-difference error against the step `h`,
//! the loss along the negative gradient against its linear approximation, and the loss histories
//! of the correct and the broadcast loss. `tests/book_ch02.rs` checks the committed output.

use std::error::Error;
use std::fmt::Write as _;

use downhill::gradcheck::GradCheck;
use downhill::nn::loss::mse_loss;
use downhill::prelude::{ParamId, Params, Tape, Tensor, Var, seeded_rng};
use downhill::tensor::{CustomOp, TensorRef};
use downhill::train::plot::{LineChart, Series};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// Rows in the chapter's dataset (change it to try other sizes; the output changes with it).
const N: usize = 100;

// ANCHOR: data
/// The chapter's data: `y = 2·x₁ − x₂ + 0.5·x₃ + 1.5 + noise`, 100 rows, from seed 2.
pub struct Data {
    /// Features, `[n, 3]`.
    pub x: Tensor<f64>,
    /// Targets, `[n, 1]`: one column, like the model's prediction.
    pub y: Tensor<f64>,
}

/// Draws the data from a seeded generator.
pub fn data(seed: u64, n: usize) -> Res<Data> {
    let mut rng = seeded_rng(seed);
    let x = Tensor::rand_normal([n, 3], 0.0, 1.0, &mut rng)?;
    let noise = Tensor::rand_normal([n, 1], 0.0, 0.5, &mut rng)?;
    let truth = Tensor::from_vec(vec![2.0, -1.0, 0.5], [3, 1])?;
    let tape = Tape::new();
    let y = (tape.constant(&x).matmul(tape.constant(&truth)) + 1.5 + tape.constant(&noise)).value()?;
    Ok(Data { x, y })
}
// ANCHOR_END: data

// ANCHOR: loss
/// The loss, in plain loops: `L(w, b) = (1/n) Σᵢ (xᵢ·w + b − yᵢ)²`.
pub fn loss(x: &Tensor<f64>, y: &Tensor<f64>, w: &[f64], b: f64) -> f64 {
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let (xs, ys) = (x.data(), y.data());
    let mut total = 0.0;
    for i in 0..n {
        let pred: f64 = (0..d).map(|j| xs[i * d + j] * w[j]).sum::<f64>() + b;
        total += (pred - ys[i]) * (pred - ys[i]);
    }
    total / n as f64
}
// ANCHOR_END: loss

// ANCHOR: hand
/// The gradient derived by hand, in plain loops: with residuals `rᵢ = xᵢ·w + b − yᵢ`,
/// `∂L/∂wⱼ = (2/n) Σᵢ xᵢⱼ rᵢ` (that is, `(2/n) Xᵀr`) and `∂L/∂b = (2/n) Σᵢ rᵢ`.
/// `two` is the factor 2 of the derivative of the square; the chapter also runs it with 1.
pub fn hand_gradient(x: &Tensor<f64>, y: &Tensor<f64>, w: &[f64], b: f64, two: f64) -> (Vec<f64>, f64) {
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let (xs, ys) = (x.data(), y.data());
    let (mut grad_w, mut grad_b) = (vec![0.0; d], 0.0);
    for i in 0..n {
        let r = (0..d).map(|j| xs[i * d + j] * w[j]).sum::<f64>() + b - ys[i];
        for j in 0..d {
            grad_w[j] += two / n as f64 * xs[i * d + j] * r;
        }
        grad_b += two / n as f64 * r;
    }
    (grad_w, grad_b)
}
// ANCHOR_END: hand

// ANCHOR: tape
/// The same gradient from the tape: record the forward computation, call `backward()`.
pub fn tape_gradient(data: &Data, w: &[f64], b: f64) -> Res<(Vec<f64>, f64)> {
    let mut params = Params::new();
    let w_id = params.insert("w", Tensor::from_slice(w, [w.len(), 1])?)?;
    let b_id = params.insert("b", Tensor::scalar(b))?;
    let tape = Tape::new();
    let (x, y) = (tape.constant(&data.x), tape.constant(&data.y));
    let pred = x.matmul(tape.param(&params, w_id)) + tape.param(&params, b_id);
    let loss = (pred - y).square().mean();
    let grads = loss.backward()?;
    Ok((grads.try_get(w_id)?.data().to_vec(), grads.try_get(b_id)?.item()?))
}
// ANCHOR_END: tape

// ANCHOR: central
/// Central differences: `∂L/∂θₖ ≈ (L(θ + h·eₖ) − L(θ − h·eₖ)) / 2h`, one parameter at a time.
/// `θ` is `w` followed by `b`.
pub fn central_differences(f: impl Fn(&[f64], f64) -> f64, w: &[f64], b: f64, h: f64) -> Vec<f64> {
    let mut theta: Vec<f64> = w.iter().copied().chain([b]).collect();
    let d = w.len();
    let mut out = Vec::new();
    for k in 0..theta.len() {
        let saved = theta[k];
        theta[k] = saved + h;
        let up = f(&theta[..d], theta[d]);
        theta[k] = saved - h;
        let down = f(&theta[..d], theta[d]);
        theta[k] = saved;
        out.push((up - down) / (2.0 * h));
    }
    out
}
// ANCHOR_END: central

// ANCHOR: custom_op
/// MSE linear regression as one op whose backward is the hand-derived gradient, so that
/// `gradcheck` can check the hand formula the way it checks any op. Inputs: `x [n, d]`,
/// `y [n, 1]`, `w [d, 1]`, `b []`.
pub struct HandMse {
    /// 2.0 for the correct derivative of the square; 1.0 reproduces a classic slip.
    pub two: f64,
}

impl CustomOp<f64> for HandMse {
    fn name(&self) -> &'static str {
        "hand_mse"
    }

    fn forward(&self, inputs: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        let [x, y, w, b] = inputs else { return Err("needs x, y, w, b".into()) };
        let x = Tensor::from_slice(x.data, x.shape).map_err(|e| e.to_string())?;
        let y = Tensor::from_slice(y.data, y.shape).map_err(|e| e.to_string())?;
        Ok(Tensor::scalar(loss(&x, &y, w.data, b.data[0])))
    }

    fn backward(
        &self,
        inputs: &[TensorRef<'_, f64>],
        _output: TensorRef<'_, f64>,
        grad: &[f64],
        input_grads: &mut [Vec<f64>],
    ) {
        let [x, y, w, b] = inputs else { return };
        let (Ok(x), Ok(y)) = (Tensor::from_slice(x.data, x.shape), Tensor::from_slice(y.data, y.shape))
        else {
            return;
        };
        let (grad_w, grad_b) = hand_gradient(&x, &y, w.data, b.data[0], self.two);
        // The chain rule: dL/dw = dL/d(output) · d(output)/dw. x and y are data: no gradient.
        for (dst, g) in input_grads[2].iter_mut().zip(&grad_w) {
            *dst += grad[0] * g;
        }
        input_grads[3][0] += grad[0] * grad_b;
    }
}
// ANCHOR_END: custom_op

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

/// An error's message as the example prints it. Errors name the source line; when the tests
/// compile this file from `tests/`, that path reads `tests/../examples/...`, so it is written the
/// way `cargo run --example` sees it.
fn shown(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace("tests/../examples/", "examples/")
}

fn fmt_vec(v: &[f64]) -> String {
    // A value that rounds to zero is printed as 0.000000, without a sign.
    let xs: Vec<String> =
        v.iter().map(|&x| if x.abs() < 5e-7 { 0.0 } else { x }).map(|x| format!("{x:.6}")).collect();
    format!("[{}]", xs.join(", "))
}

/// A difference at the level of rounding is printed as "< 1e-14": its exact digits depend on the
/// order of the additions (and on the CPU's matrix-multiply kernel), not on the math.
fn tiny(x: f64) -> String {
    if x < 1e-14 { "< 1e-14".to_string() } else { format!("{x:.1e}") }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// The point where the chapter takes its gradients: w from seed 3, b = 0.
fn start_point() -> Res<(Vec<f64>, f64)> {
    let mut rng = seeded_rng(3);
    let w = Tensor::<f64>::rand_normal([3], 0.0, 1.0, &mut rng)?;
    Ok((w.data().to_vec(), 0.0))
}

/// Section 1: hand, tape and central differences side by side.
fn gradient(data: &Data) -> Res<String> {
    let mut out = String::new();
    let (w, b) = start_point()?;
    // ANCHOR: three_ways
    let (hand_w, hand_b) = hand_gradient(&data.x, &data.y, &w, b, 2.0);
    let (tape_w, tape_b) = tape_gradient(data, &w, b)?;
    let numeric = central_differences(|w, b| loss(&data.x, &data.y, w, b), &w, b, 1e-6);
    // ANCHOR_END: three_ways
    writeln!(
        out,
        "n = {N} rows, 3 features; at w = {}, b = {b}: L = {:.6}",
        fmt_vec(&w),
        loss(&data.x, &data.y, &w, b)
    )?;
    writeln!(
        out,
        "{:>6}  {:>15}  {:>15}  {:>15}  {:>11}  {:>11}",
        "", "by hand", "tape", "central diff", "|hand-tape|", "|hand-cd|"
    )?;
    let hand: Vec<f64> = hand_w.iter().copied().chain([hand_b]).collect();
    let tape: Vec<f64> = tape_w.iter().copied().chain([tape_b]).collect();
    for (k, name) in ["dL/dw1", "dL/dw2", "dL/dw3", "dL/db"].iter().enumerate() {
        writeln!(
            out,
            "{name:>6}  {:>15.10}  {:>15.10}  {:>15.10}  {:>11}  {:>11.1e}",
            hand[k],
            tape[k],
            numeric[k],
            tiny((hand[k] - tape[k]).abs()),
            (hand[k] - numeric[k]).abs()
        )?;
    }
    writeln!(out, "max |hand - tape| < 1e-12: {}", max_abs_diff(&hand, &tape) < 1e-12)?;
    writeln!(out, "max |hand - central difference| < 1e-6: {}", max_abs_diff(&hand, &numeric) < 1e-6)?;
    Ok(out)
}

/// Section 2: gradcheck on the tape's model, on the hand formula, and on a wrong hand formula.
fn gradcheck(data: &Data) -> Res<String> {
    let mut out = String::new();
    let (w, b) = start_point()?;
    // ANCHOR: gradcheck
    let mut params = Params::new();
    let w_id = params.insert("w", Tensor::from_slice(&w, [3, 1])?)?;
    let b_id = params.insert("b", Tensor::scalar(b))?;
    let checker = GradCheck::new(); // f64, eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's numbers)
    // The model written with the tape's ops: checks the tape's backward rules.
    let tape_report = checker.check_params(&params, |tape, p| {
        let pred = tape.constant(&data.x).matmul(tape.param(p, w_id)) + tape.param(p, b_id);
        (pred - tape.constant(&data.y)).square().mean()
    })?;
    // The hand formula as the backward of one custom op, and the same with the factor 2 dropped.
    let hand = |two: f64| {
        checker.check_params(&params, move |tape, p| {
            let inputs =
                [tape.constant(&data.x), tape.constant(&data.y), tape.param(p, w_id), tape.param(p, b_id)];
            tape.custom(HandMse { two }, &inputs)
        })
    };
    let (hand_report, slip_report) = (hand(2.0)?, hand(1.0)?);
    // ANCHOR_END: gradcheck
    writeln!(out, "tape ops (matmul, add, sub, square, mean):\n{tape_report}")?;
    writeln!(out, "hand formula, (2/n) X^T r and (2/n) sum r:\n{hand_report}")?;
    write!(out, "hand formula without the factor 2, (1/n) X^T r and (1/n) sum r:\n{slip_report}")?;
    Ok(out)
}

// ANCHOR: mini_tape
/// One recorded node of the scalar tape.
pub struct MiniNode {
    /// Its name (`a`, `c`, `L`).
    pub name: String,
    /// How it was computed (`a * b`), empty for an input.
    pub expr: String,
    /// Its inputs, each with the local derivative ∂node/∂input computed when it was recorded.
    pub inputs: Vec<(usize, f64)>,
    /// Its value.
    pub value: f64,
}

/// A scalar tape small enough to print.
#[derive(Default)]
pub struct MiniTape {
    /// The nodes in recording (execution) order.
    pub nodes: Vec<MiniNode>,
}

impl MiniTape {
    fn push(&mut self, name: &str, expr: String, inputs: Vec<(usize, f64)>, value: f64) -> usize {
        self.nodes.push(MiniNode { name: name.to_string(), expr, inputs, value });
        self.nodes.len() - 1
    }
    /// An input.
    pub fn leaf(&mut self, name: &str, value: f64) -> usize {
        self.push(name, String::new(), vec![], value)
    }
    /// `a · b`: ∂/∂a = b, ∂/∂b = a.
    pub fn mul(&mut self, name: &str, a: usize, b: usize) -> usize {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        let expr = format!("{} * {}", x.name, y.name);
        self.push(name, expr, vec![(a, y.value), (b, x.value)], x.value * y.value)
    }
    /// `a + b`: ∂/∂a = 1, ∂/∂b = 1.
    pub fn add(&mut self, name: &str, a: usize, b: usize) -> usize {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        let expr = format!("{} + {}", x.name, y.name);
        self.push(name, expr, vec![(a, 1.0), (b, 1.0)], x.value + y.value)
    }
    /// `a²`: ∂/∂a = 2a.
    pub fn square(&mut self, name: &str, a: usize) -> usize {
        let x = &self.nodes[a];
        let expr = format!("{}^2", x.name);
        self.push(name, expr, vec![(a, 2.0 * x.value)], x.value * x.value)
    }

    /// The reverse sweep. The last node's gradient is 1; then every node, last to first, sends
    /// `its gradient × ∂node/∂input` to each input, **adding** it to what the input already has.
    /// (`accumulate = false` overwrites instead: the bug this chapter warns about.) Writes each
    /// step to `log`; returns d(last node)/d(node) for every node.
    pub fn backward(&self, accumulate: bool, log: &mut String) -> Vec<f64> {
        let mut grad = vec![0.0; self.nodes.len()];
        grad[self.nodes.len() - 1] = 1.0;
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let mut sent = Vec::new();
            for &(j, local) in &node.inputs {
                let g = grad[i] * local;
                grad[j] = if accumulate { grad[j] + g } else { g };
                sent.push(format!("{} x {local} = {g} to {} (now {})", grad[i], self.nodes[j].name, grad[j]));
            }
            if !sent.is_empty() {
                let _ = writeln!(log, "  #{i} {}: grad {}; sends {}", node.name, grad[i], sent.join("; "));
            }
        }
        grad
    }
}
// ANCHOR_END: mini_tape

/// Section 3: how a tape works, on L = (a·b + a)² at a = 2, b = 3.
fn tape_walk() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: diamond
    let mut t = MiniTape::default();
    let a = t.leaf("a", 2.0);
    let b = t.leaf("b", 3.0);
    let c = t.mul("c", a, b); // c = a·b
    let d = t.add("d", c, a); // d = c + a: `a` feeds two nodes (a diamond)
    t.square("L", d); // L = d²
    let mut sweep = String::new();
    let grads = t.backward(true, &mut sweep);
    let overwritten = t.backward(false, &mut String::new());
    // ANCHOR_END: diamond
    writeln!(out, "recorded, in execution order:")?;
    for (i, node) in t.nodes.iter().enumerate() {
        let locals: Vec<String> =
            node.inputs.iter().map(|&(j, l)| format!("d{}/d{} = {l}", node.name, t.nodes[j].name)).collect();
        let (expr, locals) = if node.expr.is_empty() {
            (node.name.clone(), "input".to_string())
        } else {
            (format!("{} = {}", node.name, node.expr), locals.join(", "))
        };
        writeln!(out, "  #{i} {expr:<10} = {:<3} {locals}", node.value)?;
    }
    writeln!(out, "reverse sweep, last node first, seeded with dL/dL = 1:")?;
    out.push_str(&sweep);
    writeln!(out, "tape:    dL/da = {}, dL/db = {}", grads[a], grads[b])?;
    let (va, vb) = (2.0f64, 3.0f64);
    writeln!(
        out,
        "by hand: L = a^2 (b + 1)^2, dL/da = 2a (b + 1)^2 = {}, dL/db = 2a^2 (b + 1) = {}",
        2.0 * va * (vb + 1.0).powi(2),
        2.0 * va * va * (vb + 1.0)
    )?;
    writeln!(
        out,
        "overwriting instead of adding: dL/da = {}, dL/db = {} (a's path through d is lost)",
        overwritten[a], overwritten[b]
    )?;
    let _ = c;

    // ANCHOR: downhill_diamond
    let mut params = Params::new();
    let a_id = params.insert("a", Tensor::scalar(2.0))?;
    let b_id = params.insert("b", Tensor::scalar(3.0))?;
    let tape = Tape::new();
    let (a, b) = (tape.param(&params, a_id), tape.param(&params, b_id));
    let c = a * b;
    let d = c + a;
    let loss = d.square();
    let grads = loss.backward()?;
    // ANCHOR_END: downhill_diamond
    writeln!(out, "downhill's tape records: {}", tape.op_names().join(", "))?;
    for v in [a, b, c, d, loss] {
        writeln!(out, "  {}", shown(&format!("{v:?}")))?;
    }
    writeln!(
        out,
        "downhill: dL/da = {}, dL/db = {}",
        grads.try_get(a_id)?.item()?,
        grads.try_get(b_id)?.item()?
    )?;
    Ok(out)
}

/// Section 4: the bias as its own parameter and as a column of ones.
fn bias(data: &Data) -> Res<String> {
    let mut out = String::new();
    let (w, b) = start_point()?;
    // ANCHOR: bias_column
    // X with a column of ones appended, and θ = [w; b]: the bias is just one more weight.
    let ones = Tensor::ones([N, 1]);
    let theta = Tensor::from_vec(w.iter().copied().chain([b]).collect(), [4, 1])?;
    let mut params = Params::new();
    let theta_id = params.insert("theta", theta)?;
    let tape = Tape::new();
    let x1 = tape.concat(&[tape.constant(&data.x), tape.constant(&ones)], 1); // [n, 4]
    let loss = (x1.matmul(tape.param(&params, theta_id)) - tape.constant(&data.y)).square().mean();
    let grads = loss.backward()?;
    let column = grads.try_get(theta_id)?.data().to_vec();
    // ANCHOR_END: bias_column
    let (tape_w, tape_b) = tape_gradient(data, &w, b)?;
    let separate: Vec<f64> = tape_w.iter().copied().chain([tape_b]).collect();
    writeln!(out, "bias as a scalar parameter: grad w = {}, grad b = {:.6}", fmt_vec(&tape_w), tape_b)?;
    writeln!(out, "bias as a column of ones:   grad theta = {}", fmt_vec(&column))?;
    writeln!(out, "max difference < 1e-12: {}", max_abs_diff(&separate, &column) < 1e-12)?;
    let mean_r = {
        let (_, g) = hand_gradient(&data.x, &data.y, &w, b, 2.0);
        g / 2.0
    };
    writeln!(out, "grad b = 2 * mean residual: 2 * {mean_r:.6} = {:.6}", 2.0 * mean_r)?;
    Ok(out)
}

// ANCHOR: model
/// Linear regression `x·w + b` with `w [3, 1]` and a scalar `b`, in a parameter store.
pub struct Model {
    /// The store holding `w` and `b`.
    pub params: Params<f64>,
    w: ParamId,
    b: ParamId,
}

impl Model {
    /// A model with the given weights and bias.
    pub fn new(w: &[f64], b: f64) -> Res<Model> {
        let mut params = Params::new();
        let w = params.insert("w", Tensor::from_slice(w, [w.len(), 1])?)?;
        let b = params.insert("b", Tensor::scalar(b))?;
        Ok(Model { params, w, b })
    }

    /// The prediction `x·w + b`, shape `[n, 1]`, recorded on `tape`.
    pub fn predict<'t>(&self, tape: &'t Tape<f64>, x: &Tensor<f64>) -> Var<'t, f64> {
        tape.constant(x).matmul(tape.param(&self.params, self.w)) + tape.param(&self.params, self.b)
    }
}
// ANCHOR_END: model

/// The error of a call that must fail (the example stops if it does not).
fn the_error<T>(r: downhill::prelude::Result<T>) -> Res<downhill::prelude::Error> {
    r.err().ok_or_else(|| "expected a shape error, got a value".into())
}

/// Section 5: the (n, 1) vs (n,) bug: numpy's silent result, and downhill's errors.
fn shapes(data: &Data, figures: &mut Vec<(&'static str, String)>) -> Res<(String, String)> {
    let (mut out, mut errors) = (String::new(), String::new());
    let (w, b) = start_point()?;
    let model = Model::new(&w, b)?;
    // ANCHOR: numpy_broadcast
    // The target as a flat list, as a CSV column or `df["y"].values` gives it: shape [n].
    let y_flat = data.y.reshape([N])?;
    // What numpy computes for `((pred - y) ** 2).mean()` with pred [n, 1] and y [n]: both are
    // stretched to [n, n], and entry (i, j) is pred_i − y_j, every prediction against every
    // target. Written out, since downhill never broadcasts silently:
    let tape = Tape::new();
    let pred = model.predict(&tape, &data.x);
    let y_row = tape.constant(&y_flat).reshape([1, N]);
    let all_pairs = pred.broadcast_to([N, N]) - y_row.broadcast_to([N, N]);
    let numpy_loss = all_pairs.square().mean().item()?;
    let right_loss = (pred - tape.constant(&data.y)).square().mean().item()?;
    // ANCHOR_END: numpy_broadcast
    let ys = data.y.data();
    let y_mean = ys.iter().sum::<f64>() / N as f64;
    let var_y = ys.iter().map(|v| (v - y_mean) * (v - y_mean)).sum::<f64>() / N as f64;
    let spread = pred.value()?.data().iter().map(|p| (p - y_mean) * (p - y_mean)).sum::<f64>() / N as f64;
    writeln!(out, "at w = {}, b = {b}:", fmt_vec(&w))?;
    writeln!(out, "  right loss,   pred [{N}, 1] - y [{N}, 1]:          {right_loss:.6}")?;
    writeln!(out, "  numpy's loss, pred [{N}, 1] - y [{N}] -> [{N}, {N}]: {numpy_loss:.6}")?;
    writeln!(out, "  = mean (pred_i - mean y)^2 + var y = {spread:.6} + {var_y:.6} = {:.6}", spread + var_y)?;

    // ANCHOR: strict
    // 1. Plain arithmetic records the first mistake on the tape; backward() returns it.
    let tape = Tape::new();
    let loss = (model.predict(&tape, &data.x) - tape.constant(&y_flat)).square().mean();
    let e1 = the_error(loss.backward())?;
    // 2. The losses check that the prediction and the target have the same shape.
    let tape = Tape::new();
    let loss = mse_loss(model.predict(&tape, &data.x), tape.constant(&y_flat));
    let e2 = the_error(loss.value())?;
    // 3. A row [1, n] against the column [n, 1]; a try_* op returns its error at once.
    let tape = Tape::new();
    let y_row = tape.constant(&y_flat).reshape([1, N]);
    let e3 = the_error(model.predict(&tape, &data.x).try_sub(y_row))?;
    // 4. The weights as a flat [3] instead of a column [3, 1].
    let tape = Tape::new();
    let e4 = the_error(tape.constant(&data.x).try_matmul(tape.constant(&Tensor::vector(&w))))?;
    // The fix: make the target a column, the same shape as the prediction.
    let tape = Tape::new();
    let y = tape.constant(&y_flat).reshape([N, 1]);
    let fixed = (model.predict(&tape, &data.x) - y).square().mean().item()?;
    // ANCHOR_END: strict
    writeln!(errors, "downhill, pred [{N}, 1] - y [{N}], from backward():\n  {}", shown(&e1))?;
    writeln!(errors, "downhill, mse_loss(pred [{N}, 1], y [{N}]):\n  {}", shown(&e2))?;
    writeln!(errors, "downhill, pred [{N}, 1] - y [1, {N}], from try_sub:\n  {}", shown(&e3))?;
    writeln!(errors, "downhill, x [{N}, 3] matmul w [3]:\n  {}", shown(&e4))?;
    writeln!(errors, "fixed with .reshape([{N}, 1]): loss {fixed:.6}")?;

    // What training on numpy's loss learns.
    let (right, wrong) = (train(data, false)?, train(data, true)?);
    writeln!(out, "gradient descent from w = 0, b = 0, lr 0.1, 100 steps:")?;
    for (name, run) in [("right loss  ", &right), ("numpy's loss", &wrong)] {
        writeln!(
            out,
            "  {name}: w = {}, b = {:.4}, loss {:.4}",
            fmt_vec(&run.w),
            run.b,
            run.losses.last().copied().unwrap_or(f64::NAN)
        )?;
    }
    writeln!(out, "  truth: w = [2, -1, 0.5], b = 1.5; mean y = {y_mean:.4}, var y = {var_y:.4}")?;
    let chart = LineChart {
        title: "Training on the right loss and on numpy's broadcast loss".into(),
        x_label: "step".into(),
        y_label: "loss (log scale)".into(),
        log_x: false,
        log_y: true,
        series: vec![
            Series::from_values("right loss, pred [n, 1] - y [n, 1]", &right.losses),
            Series::from_values("broadcast loss, pred [n, 1] - y [n] as [n, n]", &wrong.losses),
        ],
    };
    figures.push(("broadcast_training.svg", chart.to_svg()?));
    Ok((out, errors))
}

/// One run of plain gradient descent on the right loss or on numpy's broadcast loss.
struct Run {
    w: Vec<f64>,
    b: f64,
    losses: Vec<f64>,
}

fn train(data: &Data, broadcast: bool) -> Res<Run> {
    let y_flat = data.y.reshape([N])?;
    let mut model = Model::new(&[0.0; 3], 0.0)?;
    let mut losses = Vec::new();
    let mut tape = Tape::new();
    for step in 0..=100 {
        let pred = model.predict(&tape, &data.x);
        let loss = if broadcast {
            let y_row = tape.constant(&y_flat).reshape([1, N]);
            (pred.broadcast_to([N, N]) - y_row.broadcast_to([N, N])).square().mean()
        } else {
            (pred - tape.constant(&data.y)).square().mean()
        };
        losses.push(loss.item()?);
        if step == 100 {
            break;
        }
        let grads = loss.backward()?;
        tape.clear();
        for (id, g) in grads.iter() {
            for (p, g) in model.params.get_mut(id).data_mut().iter_mut().zip(g.data()) {
                *p -= 0.1 * g;
            }
        }
    }
    Ok(Run { w: model.params.get(model.w).data().to_vec(), b: model.params.get(model.b).item()?, losses })
}

/// Section 6 and the figures about finite differences: the error against the step h, and the
/// loss along the negative gradient.
fn finite_differences(data: &Data, figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    let (w, b) = start_point()?;
    let (hand_w, _) = hand_gradient(&data.x, &data.y, &w, b, 2.0);
    let mse = |w: &[f64], b: f64| loss(&data.x, &data.y, w, b);
    let rmse = |w: &[f64], b: f64| loss(&data.x, &data.y, w, b).sqrt();
    // ∂RMSE/∂w = ∂MSE/∂w / (2 RMSE): the chain rule through the square root.
    let rmse_grad = hand_w[0] / (2.0 * rmse(&w, b));
    // ANCHOR: step_sweep
    let forward = |f: &dyn Fn(&[f64], f64) -> f64, h: f64| {
        let mut moved = w.clone();
        moved[0] += h;
        (f(&moved, b) - f(&w, b)) / h
    };
    let central = |f: &dyn Fn(&[f64], f64) -> f64, h: f64| central_differences(f, &w, b, h)[0];
    // ANCHOR_END: step_sweep
    let (mut fwd, mut cen, mut cen_rmse) = (Vec::new(), Vec::new(), Vec::new());
    writeln!(out, "error of the finite-difference estimate of dL/dw1 (exact value {:.12}):", hand_w[0])?;
    writeln!(out, "{:>8}  {:>14}  {:>14}  {:>14}", "h", "forward, MSE", "central, MSE", "central, RMSE")?;
    // Errors of exactly 0 (possible when rounding cancels) are drawn at 1e-17 on the log axis.
    let floor = |e: f64| e.max(1e-17);
    // Steps 1, 2, 5 per decade from 0.1 down to 1e-13, parsed from text so that every
    // platform uses the same (correctly rounded) values.
    for e in 1..=13 {
        for m in [5, 2, 1] {
            if e == 1 && m != 1 {
                continue;
            }
            let h: f64 = format!("{m}e-{e}").parse()?;
            let ef = (forward(&mse, h) - hand_w[0]).abs();
            let ec = (central(&mse, h) - hand_w[0]).abs();
            let er = (central(&rmse, h) - rmse_grad).abs();
            fwd.push((h, floor(ef)));
            cen.push((h, floor(ec)));
            cen_rmse.push((h, floor(er)));
            if m == 1 {
                writeln!(out, "{h:>8.0e}  {ef:>14.2e}  {ec:>14.2e}  {er:>14.2e}")?;
            }
        }
    }
    let best =
        |s: &[(f64, f64)]| s.iter().copied().fold((0.0, f64::INFINITY), |a, p| if p.1 < a.1 { p } else { a });
    let (bf, bc, br) = (best(&fwd), best(&cen), best(&cen_rmse));
    writeln!(
        out,
        "smallest error: forward {:.1e} at h = {:.0e}; central MSE {:.1e} at h = {:.0e}; central RMSE {:.1e} at h = {:.0e}",
        bf.1, bf.0, bc.1, bc.0, br.1, br.0
    )?;
    let chart = LineChart {
        title: "Finite-difference error against the step h (dL/dw1)".into(),
        x_label: "step h (log scale)".into(),
        y_label: "|estimate - exact| (log scale)".into(),
        log_x: true,
        log_y: true,
        series: vec![
            Series::new("forward difference, MSE", fwd),
            Series::new("central difference, MSE (quadratic)", cen),
            Series::new("central difference, RMSE", cen_rmse),
        ],
    };
    figures.push(("fd_error.svg", chart.to_svg()?));

    // The loss along the line θ − t·g against its linear approximation L − t·|g|².
    let (hw, hb) = hand_gradient(&data.x, &data.y, &w, b, 2.0);
    let g2 = hw.iter().map(|g| g * g).sum::<f64>() + hb * hb;
    let l0 = mse(&w, b);
    let along = |t: f64| {
        let wt: Vec<f64> = w.iter().zip(&hw).map(|(w, g)| w - t * g).collect();
        mse(&wt, b - t * hb)
    };
    writeln!(
        out,
        "\nloss along theta - t g (|g|^2 = {g2:.6}) against the linear approximation L - t |g|^2:"
    )?;
    writeln!(out, "{:>8}  {:>12}  {:>12}  {:>12}", "t", "L(theta-tg)", "L - t|g|^2", "gap")?;
    for t in [0.4, 0.2, 0.1, 0.05, 0.025] {
        let (l, lin) = (along(t), l0 - t * g2);
        writeln!(out, "{t:>8}  {l:>12.6}  {lin:>12.6}  {:>12.6}", l - lin)?;
    }
    // The loss is quadratic in θ, so along a line it is a parabola l0 − t·|g|² + c·t².
    let c = (along(0.1) - l0 + 0.1 * g2) / 0.01;
    writeln!(
        out,
        "the gap is c t^2 with c = {c:.6}; the lowest point on the line is at t = |g|^2 / 2c = {:.6}, L = {:.6}",
        g2 / (2.0 * c),
        along(g2 / (2.0 * c))
    )?;
    let ts: Vec<f64> = (0..=60).map(|i| i as f64 * 0.01).collect();
    let line_chart = LineChart {
        title: "The loss along the negative gradient and its linear approximation".into(),
        x_label: "t (step along -gradient)".into(),
        y_label: "loss".into(),
        log_x: false,
        log_y: false,
        series: vec![
            Series::new("L(theta - t g)", ts.iter().map(|&t| (t, along(t))).collect()),
            Series::new("L - t |g|^2 (tangent)", ts.iter().take(31).map(|&t| (t, l0 - t * g2)).collect()),
        ],
    };
    figures.push(("line.svg", line_chart.to_svg()?));
    Ok(out)
}

/// The checkpoint: a fixed seeded dataset, the gradient both ways, their largest difference.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    let data = data(11, 50)?;
    let (w, b) = (vec![0.5, 0.5, 0.5], -1.0);
    let (hand_w, hand_b) = hand_gradient(&data.x, &data.y, &w, b, 2.0);
    let (tape_w, tape_b) = tape_gradient(&data, &w, b)?;
    let numeric = central_differences(|w, b| loss(&data.x, &data.y, w, b), &w, b, 1e-6);
    let hand: Vec<f64> = hand_w.iter().copied().chain([hand_b]).collect();
    let tape: Vec<f64> = tape_w.iter().copied().chain([tape_b]).collect();
    // ANCHOR_END: checkpoint
    writeln!(out, "seed 11, 50 rows, w = {w:?}, b = {b}")?;
    writeln!(out, "loss                   {:.6}", loss(&data.x, &data.y, &w, b))?;
    writeln!(out, "by hand  [w1, w2, w3, b] = {}", fmt_vec(&hand))?;
    writeln!(out, "tape     [w1, w2, w3, b] = {}", fmt_vec(&tape))?;
    writeln!(out, "central  [w1, w2, w3, b] = {}", fmt_vec(&numeric))?;
    writeln!(out, "max |hand - tape| < 1e-12: {}", max_abs_diff(&hand, &tape) < 1e-12)?;
    writeln!(out, "max |hand - central| < 1e-6: {}", max_abs_diff(&hand, &numeric) < 1e-6)?;
    Ok(out)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let data = data(2, N)?;
    let mut figures = Vec::new();
    let (broadcast, shape_errors) = shapes(&data, &mut figures)?;
    let texts = vec![
        ("gradient.txt", gradient(&data)?),
        ("finite_differences.txt", finite_differences(&data, &mut figures)?),
        ("gradcheck.txt", gradcheck(&data)?),
        ("tape.txt", tape_walk()?),
        ("bias.txt", bias(&data)?),
        ("broadcast.txt", broadcast),
        ("shape_errors.txt", shape_errors),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch02")
}

//! Extending downhill from outside its crates: a new loss and a new layer, a few lines each.
//!
//! - **A loss**, `log_cosh_loss`: a new elementwise op (`LogCosh`, its forward and its
//!   derivative side by side via [`UnaryOp`]) averaged over the residuals, with the same typed
//!   shape check as the built-in losses. log-cosh is ½r² near zero and |r| − ln 2 far away, so
//!   it is smooth like MSE yet robust to outliers like Huber.
//! - **A layer**, `PReLU`: ReLU with one learnable slope per feature for negative inputs,
//!   `max(0, x) + a·min(0, x)`, written as a [`Module`] from existing tape ops.
//!
//! No backward pass is written by hand for the layer, and one derivative for the op; the
//! gradient checker then proves both right (`tests/nn_extending.rs`).
//!
//! Run it: `cargo run --release --example extending`.

use downhill::nn::loss::{check_same_shape, mse_loss};
use downhill::nn::{Init, Linear, Module, Sequential};
use downhill::prelude::*;
use downhill::tensor::UnaryOp;

/// `y = ln cosh x`, computed as `|x| + ln(1 + e^(−2|x|)) − ln 2` (no overflow for large `|x|`);
/// `dy/dx = tanh x`.
pub struct LogCosh;

impl UnaryOp for LogCosh {
    const NAME: &'static str = "log_cosh";
    fn f<T: Float>(x: T, _: T, _: T) -> T {
        let a = x.abs();
        a + (-(a + a)).exp().ln_1p() - T::of(std::f64::consts::LN_2)
    }
    fn df<T: Float>(x: T, _y: T, _: T, _: T) -> T {
        x.tanh()
    }
}

/// The mean of `ln cosh(pred − target)`; a shape mismatch is a typed error naming this loss.
#[track_caller]
pub fn log_cosh_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    match check_same_shape("log_cosh_loss", pred, target) {
        Ok(_) => (pred - target).map_unary::<LogCosh>(T::zero(), T::zero()).mean(),
        Err(e) => pred.tape().record(Err(e)),
    }
}

/// Parametric ReLU: `max(0, x) + a·min(0, x)` with a learnable slope `a` per feature, stored
/// as `{name}.slope` of shape `[1, features]`.
pub struct PReLU {
    slope: ParamId,
}

impl PReLU {
    /// Registers `{name}.slope`, every slope starting at `init` (PyTorch starts at 0.25).
    pub fn new<T: Float>(params: &mut Params<T>, name: &str, features: usize, init: f64) -> Result<Self> {
        let slope = params.insert(format!("{name}.slope"), Tensor::full([1, features], T::of(init)))?;
        Ok(PReLU { slope })
    }
}

impl<T: Float> Module<T> for PReLU {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        let a = tape.param(params, self.slope);
        x.relu() - (-x).relu().broadcast_mul(a)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.slope]
    }
}

/// A loss function as a value (so the same training loop runs with either loss).
pub type Loss = for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;

/// Fits `Linear → PReLU → Linear` to a line with outliers by plain gradient descent, with
/// `loss`; returns the lines to print and the fitted `f(−1), f(0), f(1)`.
pub fn fit(loss: Loss, steps: usize) -> Result<(Vec<String>, Vec<f64>)> {
    let mut rng = seeded_rng(42);
    let mut params = Params::<f64>::new();
    let net = Sequential::new()
        .with(Linear::new(&mut params, "fc1", 1, 8, Init::HeNormal, &mut rng)?)
        .with(PReLU::new(&mut params, "act", 8, 0.25)?)
        .with(Linear::new(&mut params, "fc2", 8, 1, Init::XavierUniform, &mut rng)?);

    // y = 2x + 1 on 64 points, with every 8th target thrown off by +20.
    let x = Tensor::rand_uniform([64, 1], -2.0, 2.0, &mut rng)?;
    let y: Vec<f64> = x
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| 2.0 * v + 1.0 + if i % 8 == 0 { 20.0 } else { 0.0 })
        .collect();
    let y = Tensor::from_vec(y, [64, 1])?;

    let mut lines = Vec::new();
    let mut tape = Tape::new();
    for step in 0..=steps {
        let l = loss(net.forward(&tape, &params, tape.constant(&x)), tape.constant(&y));
        let grads = l.backward()?;
        if step % (steps / 4).max(1) == 0 {
            lines.push(format!("step {step:4}: loss {:.6}", l.item()?));
        }
        tape.clear();
        for (id, g) in grads.iter() {
            for (p, g) in params.get_mut(id).data_mut().iter_mut().zip(g.data()) {
                *p -= 0.05 * g;
            }
        }
    }
    let probe = net.predict(&params, &Tensor::from_vec(vec![-1.0, 0.0, 1.0], [3, 1])?)?;
    let f = probe.data().to_vec();
    lines.push(format!(
        "f(-1), f(0), f(1) = {:.3}, {:.3}, {:.3} (the clean line: -1, 1, 3)",
        f[0], f[1], f[2]
    ));
    Ok((lines, f))
}

fn main() -> Result<()> {
    println!("log-cosh loss (robust):");
    for line in fit(log_cosh_loss, 400)?.0 {
        println!("  {line}");
    }
    println!("mean squared error, for comparison (the outliers pull the fit off the line):");
    for line in fit(mse_loss, 400)?.0 {
        println!("  {line}");
    }
    Ok(())
}

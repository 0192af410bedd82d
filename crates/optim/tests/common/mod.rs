//! The small problem shared by the golden and resume tests, and helpers to run it.

#![allow(dead_code)]

use downhill_optim::Optimizer;
use downhill_tensor::{Grads, ParamId, Params, Result, Tape, Tensor};
use serde_json::Value;

pub const GOLDEN: &str = include_str!("../fixtures/golden.json");

pub fn golden() -> Value {
    serde_json::from_str(GOLDEN).expect("golden.json parses")
}

pub fn matrix(v: &Value) -> (Vec<f64>, usize, usize) {
    let rows = v.as_array().expect("rows");
    let cols = rows[0].as_array().expect("row").len();
    let data = rows
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().expect("number")))
        .collect();
    (data, rows.len(), cols)
}

/// The golden problem: loss = mean((tanh(x·W + b) − y)²), W [3, 2] "fc.weight", b [1, 2] "fc.bias".
pub struct Problem {
    pub x: Tensor<f64>,
    pub y: Tensor<f64>,
    pub params: Params<f64>,
    pub w: ParamId,
    pub b: ParamId,
}

impl Problem {
    pub fn new() -> Self {
        let g = golden();
        let t = |key: &str| {
            let (d, r, c) = matrix(&g[key]);
            Tensor::from_vec(d, [r, c]).expect("shape")
        };
        let mut params = Params::new();
        let w = params.insert("fc.weight", t("weight")).expect("insert");
        let b = params.insert("fc.bias", t("bias")).expect("insert");
        Problem { x: t("x"), y: t("y"), params, w, b }
    }

    /// Loss and gradients at `params`.
    pub fn eval(&self, params: &Params<f64>) -> Result<(f64, Grads<f64>)> {
        let tape = Tape::new();
        let z = tape
            .constant(&self.x)
            .matmul(tape.param(params, self.w))
            .broadcast_add(tape.param(params, self.b));
        let loss = (z.tanh() - tape.constant(&self.y)).square().mean();
        Ok((loss.item()?, loss.backward()?))
    }

    /// One optimizer step; returns the loss before it.
    pub fn step(&mut self, opt: &mut dyn Optimizer<f64>) -> Result<f64> {
        let (loss, grads) = self.eval(&self.params)?;
        opt.step(&mut self.params, &grads)?;
        Ok(loss)
    }

    /// The parameters, weight then bias, row-major.
    pub fn flat(&self) -> Vec<f64> {
        self.params.iter().flat_map(|(_, _, t)| t.data().to_vec()).collect()
    }

    pub fn bits(&self) -> Vec<u64> {
        self.flat().iter().map(|x| x.to_bits()).collect()
    }
}

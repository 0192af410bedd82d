//! Case study (churn): correlated features slow plain gradient descent, L-BFGS does not care.
//!
//! `cargo run --release --example churn_lbfgs [rows]` fits a logistic regression on the
//! standardized churn data with its 8 correlated interaction features, first with L-BFGS, then
//! with plain full-batch gradient descent until its loss is within 1e-6 of L-BFGS's, and prints
//! both counts.

use downhill::nn::{LogisticRegression, Module, loss};
use downhill::optim::{Lbfgs, LbfgsConfig, LineSearch, Optimizer, Sgd, SgdConfig};
use downhill::prelude::*;
use downhill::train::data::{StandardScaler, churn};

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let d = churn(rows, 7, true)?;
    let x = StandardScaler::fit(&d.x)?.transform(&d.x)?;
    let y = d.y.clone();
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", d.n_features())?;
    let objective = |p: &Params<f64>| -> Result<(f64, Grads<f64>)> {
        let tape = Tape::new();
        let l = loss::bce_with_logits_loss(model.forward(&tape, p, tape.constant(&x)), tape.constant(&y));
        let g = l.backward()?;
        Ok((l.item()?, g))
    };
    let start = params.clone();
    let mut lbfgs = Lbfgs::new(LbfgsConfig {
        line_search: LineSearch::StrongWolfe,
        max_iter: 1000,
        tolerance_grad: 1e-9,
        tolerance_change: 1e-15,
        ..Default::default()
    })?;
    lbfgs.step(&mut params, objective)?;
    let (best, _) = objective(&params)?;
    println!("rows {rows}, features {}", d.n_features());
    println!(
        "L-BFGS: {} iterations, {} evaluations, loss {best:.9}",
        lbfgs.iterations(),
        lbfgs.evaluations()
    );

    // The same L-BFGS, one iteration per call (its history carries over), counted until its loss
    // is within 1e-6 of the optimum: the criterion gradient descent gets below.
    let mut params_l = start.clone();
    let mut one = Lbfgs::new(LbfgsConfig {
        line_search: LineSearch::StrongWolfe,
        max_iter: 1,
        tolerance_grad: 1e-9,
        tolerance_change: 1e-15,
        ..Default::default()
    })?;
    let mut iters = 0u64;
    while objective(&params_l)?.0 - best >= 1e-6 && iters < 10_000 {
        one.step(&mut params_l, objective)?;
        iters += 1;
    }
    println!("L-BFGS: {iters} iterations to within 1e-6 of the optimum");

    let mut params = start;
    let mut gd = Sgd::new(SgdConfig::lr(1.0))?;
    let mut steps = 0u64;
    loop {
        let (l, g) = objective(&params)?;
        if l - best < 1e-6 || steps == 100_000 {
            println!("gradient descent (lr 1.0): {steps} steps to loss {l:.9}");
            break;
        }
        gd.step(&mut params, &g)?;
        steps += 1;
    }
    Ok(())
}

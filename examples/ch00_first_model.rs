//! Book, chapter 0: a first model, trained without a hand-derived gradient.
//!
//! ```sh
//! cargo run --release --example ch00_first_model            # writes book/src/generated/ch00/
//! cargo run --release --example ch00_first_model -- DIR     # or into DIR
//! ```
//!
//! A linear regression (`downhill::nn::LinearRegression`) fitted by full-batch gradient descent
//! (`downhill::optim::Sgd`) to 200 seeded rows of y = 3·x₁ − 2·x₂ + 1 + noise. The gradient comes
//! from the tape; nothing is derived by hand. Writes its printed output and a loss curve;
//! `tests/book_ch00.rs` checks that the committed copies are up to date.

use std::error::Error;
use std::fmt::Write as _;

use downhill::nn::loss::mse_loss;
use downhill::prelude::*;
use downhill::train::plot::{LineChart, Series};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

/// Trains the model and returns the printed output and the loss curve.
pub fn chapter() -> Res<Chapter> {
    let mut out = String::new();
    // ANCHOR: data
    // y = 3·x₁ − 2·x₂ + 1 + noise: 200 rows from a seeded generator, so every run sees the same.
    let mut rng = seeded_rng(42);
    let x = Tensor::<f64>::rand_normal([200, 2], 0.0, 1.0, &mut rng)?;
    let noise = Tensor::rand_normal([200, 1], 0.0, 0.1, &mut rng)?;
    let rows = x.data().chunks(2).zip(noise.data());
    let y = Tensor::from_vec(rows.map(|(r, e)| 3.0 * r[0] - 2.0 * r[1] + 1.0 + e).collect(), [200, 1])?;
    // ANCHOR_END: data

    // ANCHOR: train
    let mut params = Params::new();
    let model = LinearRegression::new(&mut params, "model", 2)?; // w = 0, b = 0
    let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
    let mut losses = Vec::new();
    let mut tape = Tape::new();
    for step in 0..=100 {
        let pred = model.forward(&tape, &params, tape.constant(&x));
        let loss = mse_loss(pred, tape.constant(&y));
        let grads = loss.backward()?; // d loss / d every parameter, from the tape
        losses.push(loss.item()?);
        if step % 25 == 0 {
            writeln!(out, "step {step:3}: loss {:.5}", loss.item()?)?;
        }
        tape.clear(); // release the tape's view of the parameters before updating them
        opt.step(&mut params, &grads)?; // every parameter: p ← p − 0.1·grad
    }
    // ANCHOR_END: train
    let w = params.get(model.linear().weight());
    let b = params.get(model.linear().bias().ok_or("the model has a bias")?);
    writeln!(out, "w = [{:.4}, {:.4}]  (true: [3, -2])", w.data()[0], w.data()[1])?;
    writeln!(out, "b = {:.4}  (true: 1)", b.data()[0])?;

    let chart = LineChart {
        title: "Linear regression by gradient descent, lr 0.1".into(),
        x_label: "step".into(),
        y_label: "mean squared error (log scale)".into(),
        log_x: false,
        log_y: true,
        series: vec![Series::from_values("training loss", &losses)],
    };
    Ok(Chapter { texts: vec![("train.txt", out)], figures: vec![("loss.svg", chart.to_svg()?)] })
}

fn main() -> Res<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/generated/ch00").into());
    std::fs::create_dir_all(&dir)?;
    let ch = chapter()?;
    for (name, text) in &ch.texts {
        print!("{text}");
        std::fs::write(format!("{dir}/{name}"), text)?;
    }
    for (name, svg) in &ch.figures {
        std::fs::write(format!("{dir}/{name}"), svg)?;
    }
    println!("wrote {} text files and {} figures to {dir}", ch.texts.len(), ch.figures.len());
    Ok(())
}

//! Quick start: linear regression by gradient descent, gradients from the tape.
//!
//! `cargo run --release --example quickstart` (the same code as the README's quick start).

use downhill::prelude::*;

fn main() -> Result<()> {
    // Data: y = 3·x₁ − 2·x₂ + 1 + noise, 200 rows, from a seeded generator.
    let mut rng = seeded_rng(42);
    let x = Tensor::<f64>::rand_normal([200, 2], 0.0, 1.0, &mut rng)?;
    let noise = Tensor::rand_normal([200, 1], 0.0, 0.1, &mut rng)?;
    let truth = Tensor::from_vec(vec![3.0, -2.0], [2, 1])?;
    let tape = Tape::new();
    let y = (tape.constant(&x).matmul(tape.constant(&truth)) + 1.0 + tape.constant(&noise)).value()?;

    // Parameters live outside the tape, in a named, ordered store.
    let mut params = Params::new();
    let w = params.insert("w", Tensor::zeros([2, 1]))?;
    let b = params.insert("b", Tensor::scalar(0.0))?;

    let mut tape = Tape::new();
    for step in 0..=100 {
        let pred = tape.constant(&x).matmul(tape.param(&params, w)) + tape.param(&params, b);
        let loss = (pred - tape.constant(&y)).square().mean();
        let grads = loss.backward()?;
        if step % 25 == 0 {
            println!("step {step:3}: loss {:.5}", loss.item()?);
        }
        tape.clear(); // release the tape's view of the parameters before updating them
        for (id, g) in grads.iter() {
            for (p, g) in params.get_mut(id).data_mut().iter_mut().zip(g.data()) {
                *p -= 0.1 * g;
            }
        }
    }
    println!("w = {}", params.get(w));
    println!("b = {}", params.get(b));
    Ok(())
}

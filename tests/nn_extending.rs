//! The extension path of `examples/extending.rs`, proven with the gradient checker: a loss built
//! on a new `UnaryOp` and a layer written as a `Module` outside the crates get correct gradients,
//! the new loss refuses mismatched shapes like the built-in ones, and the checker catches a wrong
//! derivative written the same way (so these checks can fail).

#[allow(dead_code)]
#[path = "../examples/extending.rs"]
mod extending;

use downhill::gradcheck::GradCheck;
use downhill::nn::loss::mse_loss;
use downhill::nn::{Init, Linear, Module};
use downhill::prelude::*;
use downhill::tensor::UnaryOp;
use extending::{LogCosh, PReLU, fit, log_cosh_loss};

#[test]
fn log_cosh_op_matches_its_definition_and_stays_finite() {
    for x in [-30.0f64, -2.5, -0.1, 0.0, 0.7, 3.0, 800.0] {
        let y = LogCosh::f(x, 0.0, 0.0);
        if x.abs() < 20.0 {
            assert!((y - x.cosh().ln()).abs() < 1e-14, "{x}: {y}");
        }
        assert!(y.is_finite());
        assert_eq!(LogCosh::df(x, y, 0.0, 0.0), x.tanh());
    }
}

#[test]
fn log_cosh_loss_passes_gradcheck() {
    let mut rng = seeded_rng(1);
    let p = Tensor::rand_normal([6, 2], 0.0, 2.0, &mut rng).unwrap();
    let y = Tensor::rand_normal([6, 2], 0.0, 2.0, &mut rng).unwrap();
    let r = GradCheck::new().check(&[("pred", p), ("target", y)], |_, v| log_cosh_loss(v[0], v[1])).unwrap();
    assert!(r.passed(), "{r}");
    assert_eq!(r.checked(), 24);
}

#[test]
fn prelu_layer_passes_gradcheck_in_a_model() {
    let mut rng = seeded_rng(2);
    let mut params = Params::new();
    let fc = Linear::new(&mut params, "fc", 3, 4, Init::XavierNormal, &mut rng).unwrap();
    let act = PReLU::new(&mut params, "act", 4, 0.25).unwrap();
    let out = Linear::new(&mut params, "out", 4, 1, Init::XavierNormal, &mut rng).unwrap();
    // Distinct slopes per feature, so a mixed-up broadcast would show.
    let slope = params.id("act.slope").unwrap();
    params.set(slope, Tensor::from_vec(vec![0.1, -0.3, 0.5, 1.5], [1, 4]).unwrap()).unwrap();
    assert_eq!(Module::<f64>::params(&act), vec![slope]);
    let x = Tensor::rand_normal([8, 3], 0.0, 1.0, &mut rng).unwrap();
    let y = Tensor::rand_normal([8, 1], 0.0, 1.0, &mut rng).unwrap();
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            let h = act.forward(tape, p, fc.forward(tape, p, tape.constant(&x)));
            log_cosh_loss(out.forward(tape, p, h), tape.constant(&y))
        })
        .unwrap();
    assert!(r.passed(), "{r}");
    assert_eq!(r.checked(), params.numel());
}

#[test]
fn prelu_computes_max_plus_slope_times_min() {
    let mut params = Params::new();
    let act = PReLU::new(&mut params, "act", 2, 0.25).unwrap();
    let x = Tensor::from_vec(vec![-2.0, 3.0, 4.0, -8.0], [2, 2]).unwrap();
    assert_eq!(act.predict(&params, &x).unwrap().data(), &[-0.5, 3.0, 4.0, -2.0]);
}

#[test]
fn the_new_loss_refuses_mismatched_shapes_at_the_callers_line() {
    let tape = Tape::<f64>::new();
    let (p, t) = (tape.constant(&Tensor::zeros([5, 1])), tape.constant(&Tensor::zeros([5])));
    let line = line!() + 1;
    let loss = log_cosh_loss(p, t);
    match loss.backward() {
        Err(Error::LossShape { loss, at, .. }) => {
            assert_eq!(loss, "log_cosh_loss");
            assert_eq!((at.file(), at.line()), (file!(), line));
        }
        other => panic!("{other:?}"),
    }
}

/// log-cosh with a deliberately wrong derivative (`sinh` instead of `tanh`).
struct WrongLogCosh;
impl UnaryOp for WrongLogCosh {
    const NAME: &'static str = "wrong_log_cosh";
    fn f<T: Float>(x: T, p: T, q: T) -> T {
        LogCosh::f(x, p, q)
    }
    fn df<T: Float>(x: T, _: T, _: T, _: T) -> T {
        x.sinh()
    }
}

#[test]
fn the_checker_catches_a_wrong_derivative_written_the_same_way() {
    let x = Tensor::from_vec(vec![-1.5, -0.4, 0.8, 2.0], [4]).unwrap();
    let r =
        GradCheck::new().check(&[("x", x)], |_, v| v[0].map_unary::<WrongLogCosh>(0.0, 0.0).sum()).unwrap();
    assert!(!r.passed());
    assert_eq!(r.num_failures(), 4);
}

#[test]
fn the_example_runs_and_log_cosh_resists_the_outliers() {
    let (lines, robust) = fit(log_cosh_loss, 400).unwrap();
    let (_, mse) = fit(mse_loss, 400).unwrap();
    assert_eq!(lines.len(), 6);
    insta::assert_snapshot!("extending_log_cosh_run", lines.join("\n"));
    // Mean distance of f(−1), f(0), f(1) from the clean line's −1, 1, 3.
    let off = |f: &[f64]| f.iter().zip([-1.0, 1.0, 3.0]).map(|(a, b)| (a - b).abs()).sum::<f64>() / 3.0;
    assert!(off(&robust) < 0.3, "{robust:?}");
    assert!(off(&mse) > 3.0 * off(&robust), "MSE {mse:?} vs log-cosh {robust:?}");
}

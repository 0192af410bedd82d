use downhill_tensor::{Params, Tape, Tensor};

#[test]
fn linear_regression_gradient_matches_hand_derivation() {
    let mut params = Params::new();
    let w = params.insert("w", Tensor::from_vec(vec![0.5f64, -1.0], [2, 1]).unwrap()).unwrap();
    let b = params.insert("b", Tensor::scalar(0.25f64)).unwrap();
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5], [3, 2]).unwrap();
    let y = Tensor::from_vec(vec![1.0, 0.0, 2.0], [3, 1]).unwrap();
    let tape = Tape::new();
    let (xv, yv, wv, bv) =
        (tape.constant(&x), tape.constant(&y), tape.param(&params, w), tape.param(&params, b));
    let loss = ((xv.matmul(wv) + bv) - yv).square().mean();
    let g = loss.backward().unwrap();
    // hand: r = Xw + b - y; dL/dw = 2/n X^T r; dL/db = 2/n sum r
    let r: Vec<f64> =
        (0..3).map(|i| x.data()[2 * i] * 0.5 - x.data()[2 * i + 1] + 0.25 - y.data()[i]).collect();
    let gw0: f64 = (0..3).map(|i| 2.0 / 3.0 * x.data()[2 * i] * r[i]).sum();
    let gw1: f64 = (0..3).map(|i| 2.0 / 3.0 * x.data()[2 * i + 1] * r[i]).sum();
    let gb: f64 = r.iter().map(|v| 2.0 / 3.0 * v).sum();
    let gwt = g.get(w).unwrap();
    assert!((gwt.data()[0] - gw0).abs() < 1e-12 && (gwt.data()[1] - gw1).abs() < 1e-12);
    assert!((g.get(b).unwrap().item().unwrap() - gb).abs() < 1e-12);
    assert_eq!(loss.backward().unwrap(), g);
}

#[test]
fn shape_mismatch_is_recorded_not_panicked() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(&Tensor::zeros([200, 1]));
    let b = tape.constant(&Tensor::zeros([200]));
    let c = (a - b).square().mean();
    let e = c.backward().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "sub: shapes [200, 1] and [200] differ (rank 2 vs 1) at crates/tensor/tests/smoke.rs:"
        ),
        "{msg}"
    );
    assert!(msg.ends_with("reshape one side, e.g. the right operand with .reshape([200, 1])"), "{msg}");
}

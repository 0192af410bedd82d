//! Every error the nn crate produces, snapshotted: each names the loss or layer, the shapes,
//! the caller's source line and a fix. The site assertions prove the line is the user's call,
//! not a line inside downhill-nn (also through `Sequential`'s dynamic dispatch).

use downhill_nn::loss::{
    bce_loss, bce_with_logits_loss, half_mse_loss, huber_loss, mse_loss, softmax_cross_entropy,
    softmax_cross_entropy_probs, try_bce_loss_eps, try_huber_loss, try_mse_loss, try_softmax_cross_entropy,
};
use downhill_nn::{Activation, Init, L2, Linear, Mlp, Module, ReLU, Sequential};
use downhill_tensor::{Error, Params, Tape, Tensor, Var, seeded_rng};
use insta::assert_snapshot;

fn z(shape: &[usize]) -> Tensor<f64> {
    Tensor::zeros(shape)
}

fn msg<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loss_shape_mismatch_names_loss_shapes_site_and_fix() {
    let tape = Tape::new();
    let (pred, target) = (tape.constant(&z(&[32, 1])), tape.constant(&z(&[32])));
    let line = line!() + 1;
    let loss = mse_loss(pred, target);
    assert!(!loss.is_valid());
    let e = loss.backward().unwrap_err();
    match &e {
        Error::LossShape { loss, pred, target, at } => {
            assert_eq!(*loss, "mse_loss");
            assert_eq!(pred.dims(), &[32, 1]);
            assert_eq!(target.dims(), &[32]);
            assert_eq!(at.file(), file!());
            assert_eq!(at.line(), line);
        }
        other => panic!("wrong variant {other:?}"),
    }
    assert_snapshot!("mse_pred_column_target_vector", e.to_string());
    let tape = Tape::new();
    let (p, t) = (tape.constant(&z(&[32, 1])), tape.constant(&z(&[16, 1])));
    assert_snapshot!("mse_different_counts", msg(try_mse_loss(p, t)));
}

#[test]
fn every_loss_refuses_mismatched_shapes_under_its_own_name() {
    let tape = Tape::new();
    let (p, t) = (tape.constant(&z(&[4, 1])), tape.constant(&z(&[1, 4])));
    let cases = [
        ("mse_loss", mse_loss(p, t)),
        ("half_mse_loss", half_mse_loss(p, t)),
        ("bce_loss", bce_loss(p, t)),
        ("bce_with_logits_loss", bce_with_logits_loss(p, t)),
        ("huber_loss", huber_loss(p, t, 1.0)),
        ("softmax_cross_entropy_probs", softmax_cross_entropy_probs(p, t)),
    ];
    for (name, v) in cases {
        assert!(!v.is_valid(), "{name}");
    }
    // The tape keeps the first error; check each loss on its own tape.
    type Loss = for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>;
    let losses: [(&str, Loss); 5] = [
        ("mse_loss", mse_loss),
        ("half_mse_loss", half_mse_loss),
        ("bce_loss", bce_loss),
        ("bce_with_logits_loss", bce_with_logits_loss),
        ("softmax_cross_entropy_probs", softmax_cross_entropy_probs),
    ];
    for (name, f) in losses {
        let tape = Tape::<f64>::new();
        let v = f(tape.constant(&z(&[4, 1])), tape.constant(&z(&[1, 4])));
        match v.value() {
            Err(Error::LossShape { loss, .. }) => assert_eq!(loss, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let tape = Tape::<f64>::new();
    let v = huber_loss(tape.constant(&z(&[4, 1])), tape.constant(&z(&[1, 4])), 1.0);
    assert!(matches!(v.value(), Err(Error::LossShape { loss: "huber_loss", .. })));
    assert_snapshot!("huber_row_vs_column", msg(v.value()));
}

#[test]
fn classification_label_errors() {
    let tape = Tape::new();
    let logits = tape.constant(&z(&[3, 4]));
    assert_snapshot!("ce_label_count", msg(try_softmax_cross_entropy(logits, &[0, 1])));
    let e = try_softmax_cross_entropy(logits, &[0, 4, 1]).unwrap_err();
    assert!(matches!(e, Error::LabelOutOfRange { label: 4, row: 1, classes: 4, .. }), "{e:?}");
    assert_snapshot!("ce_label_out_of_range", e.to_string());
    let vector = tape.constant(&z(&[4]));
    assert_snapshot!("ce_logits_vector", msg(try_softmax_cross_entropy(vector, &[1])));
    // The plain form records the error instead.
    let tape = Tape::new();
    let loss = softmax_cross_entropy(tape.constant(&z(&[3, 4])), &[0, 1, 9]);
    assert!(matches!(loss.backward(), Err(Error::LabelOutOfRange { label: 9, row: 2, .. })));
}

#[test]
fn bad_loss_arguments() {
    let tape = Tape::new();
    let (p, t) = (tape.constant(&z(&[2, 1])), tape.constant(&z(&[2, 1])));
    assert_snapshot!("bce_bad_eps", msg(try_bce_loss_eps(p, t, 0.0)));
    assert!(try_bce_loss_eps(p, t, 0.5).is_err());
    assert!(try_bce_loss_eps(p, t, f64::NAN).is_err());
    assert_snapshot!("huber_bad_delta", msg(try_huber_loss(p, t, -1.0)));
    assert!(try_huber_loss(p, t, f64::INFINITY).is_err());
}

#[test]
fn layer_input_errors_point_at_the_users_line_even_through_sequential() {
    let mut params = Params::<f64>::new();
    let mut rng = seeded_rng(0);
    let fc = Linear::new(&mut params, "fc1", 3, 4, Init::XavierUniform, &mut rng).unwrap();
    let tape = Tape::new();
    let line = line!() + 1;
    let y = fc.forward(&tape, &params, tape.constant(&z(&[32, 5])));
    let e = y.value().unwrap_err();
    match &e {
        Error::LayerInput { at, .. } => assert_eq!((at.file(), at.line()), (file!(), line)),
        other => panic!("{other:?}"),
    }
    assert_snapshot!("linear_wrong_width", e.to_string());
    let e = fc.try_forward(&tape, &params, tape.constant(&z(&[3]))).unwrap_err();
    assert_snapshot!("linear_single_example", e.to_string());
    let e = fc.try_forward(&tape, &params, tape.constant(&z(&[3, 32]))).unwrap_err();
    assert_snapshot!("linear_transposed", e.to_string());
    let e = fc.try_forward(&tape, &params, tape.constant(&z(&[2, 3, 3]))).unwrap_err();
    assert_snapshot!("linear_rank3", e.to_string());

    let net = Sequential::new().with(fc.clone()).with(ReLU);
    let tape = Tape::new();
    let line = line!() + 1;
    let y = net.forward(&tape, &params, tape.constant(&z(&[8, 2])));
    match y.value() {
        Err(Error::LayerInput { at, .. }) => assert_eq!((at.file(), at.line()), (file!(), line)),
        other => panic!("{other:?}"),
    }

    let mlp = Mlp::new(&mut params, "mlp", &[2, 5, 1], Activation::Relu, Init::HeNormal, &mut rng).unwrap();
    let tape = Tape::new();
    let y = mlp.forward(&tape, &params, tape.constant(&z(&[8, 3])));
    assert_snapshot!("mlp_first_layer_wrong_width", msg(y.value()));
}

#[test]
fn constructor_errors() {
    let mut params = Params::<f64>::new();
    let mut rng = seeded_rng(0);
    Linear::new(&mut params, "fc", 2, 2, Init::Zeros, &mut rng).unwrap();
    let e = Linear::new(&mut params, "fc", 2, 2, Init::Zeros, &mut rng).unwrap_err();
    assert!(matches!(&e, Error::DuplicateParam { name } if name == "fc.weight"));
    assert_eq!(params.len(), 2, "a refused layer registers nothing");
    assert_snapshot!("linear_zero_width", msg(Linear::new(&mut params, "g", 0, 2, Init::Zeros, &mut rng)));
    assert_snapshot!(
        "mlp_too_few_sizes",
        msg(Mlp::new(&mut params, "m", &[3], Activation::Relu, Init::HeNormal, &mut rng))
    );
    assert_snapshot!("init_bad_std", msg(Init::Normal { std: -1.0 }.sample::<f64, _>([2, 2], &mut rng)));
    assert_snapshot!(
        "init_bad_uniform",
        msg(Init::Uniform { low: 1.0, high: 1.0 }.sample::<f64, _>([2, 2], &mut rng))
    );
    let tape = Tape::new();
    assert_snapshot!("l2_bad_lambda", msg(L2::new(-0.1).try_penalty(&tape, &params)));
}

#[test]
fn cross_entropy_of_no_rows_is_an_error() {
    let tape = Tape::<f64>::new();
    let e = try_softmax_cross_entropy(tape.constant(&z(&[0, 4])), &[]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { op: "softmax_cross_entropy", .. }), "{e:?}");
    assert!(e.to_string().contains("no rows") && e.to_string().contains("at least one example"), "{e}");
}

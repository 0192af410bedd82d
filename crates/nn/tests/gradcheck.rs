//! Every loss and every model of the crate against central finite differences (f64), through the
//! public gradient checker: a test per loss and per model, plus property tests over random sizes.
//!
//! Inputs are drawn away from the non-differentiable points where that matters (Huber's `|r| = δ`,
//! BCE's clip), and ReLU networks are checked too: elements sitting on a kink are reported by the
//! checker, not failed, and `report.passed()` still requires every smooth element to agree.

use downhill_gradcheck::{GradCheck, Report};
use downhill_nn::loss::*;
use downhill_nn::{
    Activation, Init, L2, LeakyReLU, Linear, LinearRegression, LogisticRegression, Mlp, Module, ReLU,
    Sequential, Sigmoid, SoftmaxRegression, Tanh,
};
use downhill_tensor::{Params, SeededRng, Tensor, seeded_rng};
use proptest::prelude::*;

fn normal(shape: &[usize], rng: &mut SeededRng) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, rng).unwrap()
}

fn uniform(shape: &[usize], lo: f64, hi: f64, rng: &mut SeededRng) -> Tensor<f64> {
    Tensor::rand_uniform(shape, lo, hi, rng).unwrap()
}

#[track_caller]
fn assert_passed(report: &Report, expected_checked: usize) {
    assert!(report.passed(), "{report}");
    assert_eq!(report.checked(), expected_checked, "every element is checked");
}

#[test]
fn mse_and_half_mse() {
    let mut rng = seeded_rng(1);
    let (p, y) = (normal(&[6, 2], &mut rng), normal(&[6, 2], &mut rng));
    let inputs = [("pred", p), ("target", y)];
    assert_passed(&GradCheck::new().check(&inputs, |_, v| mse_loss(v[0], v[1])).unwrap(), 24);
    assert_passed(&GradCheck::new().check(&inputs, |_, v| half_mse_loss(v[0], v[1])).unwrap(), 24);
}

#[test]
fn huber_in_both_regimes() {
    let mut rng = seeded_rng(2);
    // Residuals spread over ±3 with delta 1: both the quadratic and the linear pieces are hit.
    let p = uniform(&[10, 1], -3.0, 3.0, &mut rng);
    let y = Tensor::zeros([10, 1]);
    let r: Vec<f64> = p.data().to_vec();
    assert!(r.iter().any(|x| x.abs() < 0.9) && r.iter().any(|x| x.abs() > 1.1));
    assert!(r.iter().all(|x| (x.abs() - 1.0).abs() > 1e-3), "no residual on the seam");
    let report =
        GradCheck::new().check(&[("pred", p), ("target", y)], |_, v| huber_loss(v[0], v[1], 1.0)).unwrap();
    assert_passed(&report, 20);
    assert_eq!(report.num_kinks(), 0);
}

#[test]
fn bce_on_probabilities_and_on_logits() {
    let mut rng = seeded_rng(3);
    let p = uniform(&[8, 1], 0.05, 0.95, &mut rng);
    let y = uniform(&[8, 1], 0.0, 1.0, &mut rng);
    let z = normal(&[8, 1], &mut rng);
    let r =
        GradCheck::new().check(&[("prob", p), ("target", y.clone())], |_, v| bce_loss(v[0], v[1])).unwrap();
    assert_passed(&r, 16);
    let r = GradCheck::new()
        .check(&[("logits", z.clone()), ("target", y.clone())], |_, v| bce_with_logits_loss(v[0], v[1]))
        .unwrap();
    assert_passed(&r, 16);
    // Large logits: the stable form keeps exact gradients where a naive log(σ(z)) would not.
    let big = Tensor::from_vec(vec![40.0, -40.0, 25.0, -60.0], [4, 1]).unwrap();
    let yb = Tensor::from_vec(vec![0.0, 1.0, 0.3, 0.9], [4, 1]).unwrap();
    let r = GradCheck::new()
        .check(&[("logits", big), ("target", yb)], |_, v| bce_with_logits_loss(v[0], v[1]))
        .unwrap();
    assert_passed(&r, 8);
}

#[test]
fn softmax_cross_entropy_with_labels_and_with_probabilities() {
    let mut rng = seeded_rng(4);
    let logits = normal(&[5, 4], &mut rng);
    let labels = [3, 0, 2, 2, 1];
    let r = GradCheck::new()
        .check(&[("logits", logits.clone())], |_, v| softmax_cross_entropy(v[0], &labels))
        .unwrap();
    assert_passed(&r, 20);
    let soft = Tensor::rand_uniform([5, 4], 0.0, 1.0, &mut rng).unwrap();
    let r = GradCheck::new()
        .check(&[("logits", logits), ("target", soft)], |_, v| softmax_cross_entropy_probs(v[0], v[1]))
        .unwrap();
    assert_passed(&r, 40);
}

#[test]
fn l2_penalty_selected_parameters_only() {
    let mut rng = seeded_rng(5);
    let mut params = Params::new();
    let fc =
        Linear::with_bias_init(&mut params, "fc", 3, 2, Init::HeNormal, Some(Init::SmallRandom), &mut rng)
            .unwrap();
    // The bias is excluded, so its analytic gradient is zero, and so is its true one.
    let r = GradCheck::new().check_params(&params, |tape, p| L2::new(0.3).penalty(tape, p)).unwrap();
    assert_passed(&r, 8);
    let r = GradCheck::new()
        .check_params(&params, |tape, p| L2::new(0.3).include_biases().only(fc.params()).penalty(tape, p))
        .unwrap();
    assert_passed(&r, 8);
}

#[test]
fn linear_layer_with_and_without_bias() {
    let mut rng = seeded_rng(6);
    let mut params = Params::new();
    let a = Linear::new(&mut params, "a", 3, 4, Init::XavierNormal, &mut rng).unwrap();
    let b = Linear::no_bias(&mut params, "b", 4, 2, Init::XavierNormal, &mut rng).unwrap();
    // Non-zero biases, so the check is not helped by symmetric zeros.
    params.set(a.bias().unwrap(), normal(&[1, 4], &mut rng)).unwrap();
    let x = normal(&[5, 3], &mut rng);
    let y = normal(&[5, 2], &mut rng);
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            let h = a.forward(tape, p, tape.constant(&x));
            mse_loss(b.forward(tape, p, h), tape.constant(&y))
        })
        .unwrap();
    assert_passed(&r, 12 + 4 + 8);
}

#[test]
fn sequential_with_every_activation_module() {
    let mut rng = seeded_rng(7);
    let mut params = Params::new();
    let net = Sequential::new()
        .with(Linear::new(&mut params, "l0", 3, 4, Init::XavierNormal, &mut rng).unwrap())
        .with(Tanh)
        .with(Linear::new(&mut params, "l1", 4, 4, Init::XavierNormal, &mut rng).unwrap())
        .with(Sigmoid)
        .with(Linear::new(&mut params, "l2", 4, 4, Init::HeNormal, &mut rng).unwrap())
        .with(LeakyReLU { slope: 0.1 })
        .with(Linear::new(&mut params, "l3", 4, 4, Init::HeNormal, &mut rng).unwrap())
        .with(ReLU)
        .with(Linear::new(&mut params, "l4", 4, 2, Init::XavierNormal, &mut rng).unwrap());
    for id in params.ids().collect::<Vec<_>>() {
        let shape = params.get(id).dims().to_vec();
        if params.name(id).ends_with("bias") {
            params.set(id, uniform(&shape, -0.5, 0.5, &mut rng)).unwrap();
        }
    }
    let x = normal(&[6, 3], &mut rng);
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            let out = net.forward(tape, p, tape.constant(&x));
            softmax_cross_entropy(out, &[0, 1, 1, 0, 1, 0])
        })
        .unwrap();
    assert_passed(&r, 12 + 4 + 3 * (16 + 4) + 8 + 2);
}

#[test]
fn mlp_with_each_activation() {
    for (k, act) in [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::LeakyRelu(0.05),
        Activation::Identity,
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = seeded_rng(10 + k as u64);
        let mut params = Params::new();
        let mlp = Mlp::new(&mut params, "mlp", &[3, 5, 4, 2], act, Init::XavierUniform, &mut rng).unwrap();
        let x = normal(&[7, 3], &mut rng);
        let y = normal(&[7, 2], &mut rng);
        let r = GradCheck::new()
            .check_params(&params, |tape, p| {
                mse_loss(mlp.forward(tape, p, tape.constant(&x)), tape.constant(&y))
            })
            .unwrap();
        assert!(r.passed(), "{act:?}: {r}");
        assert_eq!(r.checked(), 15 + 5 + 20 + 4 + 8 + 2, "{act:?}");
    }
}

#[test]
fn linear_regression_with_mse() {
    let mut rng = seeded_rng(20);
    let mut params = Params::new();
    let model =
        LinearRegression::with_init(&mut params, "lin", 4, Init::Normal { std: 1.0 }, &mut rng).unwrap();
    let (x, y) = (normal(&[9, 4], &mut rng), normal(&[9, 1], &mut rng));
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            mse_loss(model.forward(tape, p, tape.constant(&x)), tape.constant(&y))
        })
        .unwrap();
    assert_passed(&r, 5);
}

#[test]
fn logistic_regression_with_bce_on_logits_and_on_probabilities_plus_l2() {
    let mut rng = seeded_rng(21);
    let mut params = Params::new();
    let model =
        LogisticRegression::with_init(&mut params, "logreg", 3, Init::Normal { std: 0.5 }, &mut rng).unwrap();
    let x = normal(&[10, 3], &mut rng);
    let y = Tensor::from_vec((0..10).map(|i| f64::from(i % 2)).collect(), [10, 1]).unwrap();
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            let logits = model.forward(tape, p, tape.constant(&x));
            bce_with_logits_loss(logits, tape.constant(&y)) + L2::new(0.1).penalty(tape, p)
        })
        .unwrap();
    assert_passed(&r, 4);
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            bce_loss(model.predict_proba(tape, p, tape.constant(&x)), tape.constant(&y))
        })
        .unwrap();
    assert_passed(&r, 4);
}

#[test]
fn softmax_regression_with_cross_entropy() {
    let mut rng = seeded_rng(22);
    let mut params = Params::new();
    let model =
        SoftmaxRegression::with_init(&mut params, "softmax", 4, 3, Init::XavierNormal, &mut rng).unwrap();
    let x = normal(&[8, 4], &mut rng);
    let labels = [0, 1, 2, 0, 2, 2, 1, 0];
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            softmax_cross_entropy(model.forward(tape, p, tape.constant(&x)), &labels)
        })
        .unwrap();
    assert_passed(&r, 12 + 3);
}

#[test]
fn the_checks_above_can_fail() {
    // The same whole-model check, with a loss whose gradient is wrong (a detached term that still
    // changes the value), must fail: the tests above are not vacuous.
    let mut rng = seeded_rng(23);
    let mut params = Params::new();
    let model =
        LinearRegression::with_init(&mut params, "lin", 2, Init::Normal { std: 1.0 }, &mut rng).unwrap();
    let (x, y) = (normal(&[4, 2], &mut rng), normal(&[4, 1], &mut rng));
    let r = GradCheck::new()
        .check_params(&params, |tape, p| {
            let pred = model.forward(tape, p, tape.constant(&x));
            mse_loss(pred, tape.constant(&y)) + pred.detach().square().sum()
        })
        .unwrap();
    assert!(!r.passed());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn regression_losses_over_random_shapes(rows in 1usize..6, cols in 1usize..4, seed in 0u64..1000) {
        let mut rng = seeded_rng(seed);
        let (p, y) = (normal(&[rows, cols], &mut rng), normal(&[rows, cols], &mut rng));
        let inputs = [("pred", p), ("target", y)];
        let n = 2 * rows * cols;
        let r = GradCheck::new().check(&inputs, |_, v| mse_loss(v[0], v[1])).unwrap();
        prop_assert!(r.passed() && r.checked() == n, "{}", r);
        let r = GradCheck::new().check(&inputs, |_, v| huber_loss(v[0], v[1], 0.7)).unwrap();
        prop_assert!(r.passed() && r.checked() == n, "{}", r);
        let r = GradCheck::new().check(&inputs, |_, v| bce_with_logits_loss(v[0], v[1].sigmoid())).unwrap();
        prop_assert!(r.passed() && r.checked() == n, "{}", r);
    }

    #[test]
    fn mlps_of_random_sizes_with_cross_entropy(
        sizes in proptest::collection::vec(1usize..5, 2..5),
        classes in 2usize..4,
        batch in 1usize..5,
        act in 0usize..4,
        seed in 0u64..1000,
    ) {
        let act = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu(0.1)][act];
        let mut sizes = sizes;
        sizes.push(classes);
        let mut rng = seeded_rng(seed);
        let mut params = Params::new();
        let mlp = Mlp::new(&mut params, "mlp", &sizes, act, Init::XavierNormal, &mut rng).unwrap();
        let x = normal(&[batch, sizes[0]], &mut rng);
        let labels: Vec<usize> = (0..batch).map(|i| (i * 7 + seed as usize) % classes).collect();
        let r = GradCheck::new()
            .check_params(&params, |tape, p| softmax_cross_entropy(mlp.forward(tape, p, tape.constant(&x)), &labels))
            .unwrap();
        prop_assert!(r.passed(), "{:?} {:?}: {}", sizes, act, r);
        prop_assert_eq!(r.checked(), params.numel());
    }
}

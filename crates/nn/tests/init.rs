//! Initializers: fans, the documented distributions (mean, spread, bounds), determinism.

use downhill_nn::init::fans;
use downhill_nn::{Init, Linear};
use downhill_tensor::{Params, Shape, Tensor, seeded_rng};

fn stats(t: &Tensor<f64>) -> (f64, f64, f64, f64) {
    let n = t.numel() as f64;
    let mean = t.data().iter().sum::<f64>() / n;
    let var = t.data().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let min = t.data().iter().copied().fold(f64::INFINITY, f64::min);
    let max = t.data().iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), min, max)
}

#[test]
fn fans_follow_the_in_out_layout() {
    assert_eq!(fans(&Shape::from([3, 5])), (3, 5));
    assert_eq!(fans(&Shape::from([2, 3, 5])), (6, 10));
    assert_eq!(fans(&Shape::from([7])), (7, 7));
    assert_eq!(fans(&Shape::scalar()), (1, 1));
}

#[test]
fn every_rule_draws_its_documented_distribution() {
    let (fi, fo) = (400usize, 200usize);
    let shape = [fi, fo];
    let n = (fi * fo) as f64;
    let cases: Vec<(Init, f64, Option<f64>)> = vec![
        // (rule, expected std, uniform bound if any)
        (Init::Normal { std: 0.3 }, 0.3, None),
        (Init::SmallRandom, 0.01, None),
        (Init::XavierNormal, (2.0 / (fi + fo) as f64).sqrt(), None),
        (Init::HeNormal, (2.0 / fi as f64).sqrt(), None),
        (
            Init::XavierUniform,
            (6.0 / (fi + fo) as f64).sqrt() / 3f64.sqrt(),
            Some((6.0 / (fi + fo) as f64).sqrt()),
        ),
        (Init::HeUniform, (6.0 / fi as f64).sqrt() / 3f64.sqrt(), Some((6.0 / fi as f64).sqrt())),
    ];
    let mut rng = seeded_rng(11);
    for (init, std, bound) in cases {
        let w: Tensor<f64> = init.sample(shape, &mut rng).unwrap();
        assert_eq!(w.dims(), &shape);
        let (mean, s, min, max) = stats(&w);
        assert!(mean.abs() < 5.0 * std / n.sqrt(), "{init:?}: mean {mean}");
        assert!((s / std - 1.0).abs() < 0.02, "{init:?}: std {s} vs {std}");
        if let Some(a) = bound {
            assert!(min >= -a && max < a, "{init:?}: [{min}, {max}] outside ±{a}");
            assert!(max > 0.99 * a && min < -0.99 * a, "{init:?}: does not fill ±{a}");
        }
    }
    let u: Tensor<f64> = Init::Uniform { low: 2.0, high: 5.0 }.sample([1000], &mut rng).unwrap();
    let (mean, _, min, max) = stats(&u);
    assert!(min >= 2.0 && max < 5.0 && (mean - 3.5).abs() < 0.15, "{mean} {min} {max}");
    let z: Tensor<f64> = Init::Zeros.sample([3, 2], &mut rng).unwrap();
    assert!(z.data().iter().all(|&x| x == 0.0));
    let c: Tensor<f32> = Init::Constant(0.25).sample([3, 2], &mut rng).unwrap();
    assert!(c.data().iter().all(|&x| x == 0.25));
}

#[test]
fn explicit_fans_override_the_shape() {
    let mut rng = seeded_rng(3);
    let w: Tensor<f64> = Init::HeUniform.sample_with_fans([10_000], 6, 1, &mut rng).unwrap();
    let (_, _, min, max) = stats(&w);
    assert!(min >= -1.0 && max < 1.0 && max > 0.99, "bound √(6/6) = 1: [{min}, {max}]");
    assert_eq!(Init::HeNormal.scale(8, 99), Some(0.5));
    assert_eq!(Init::XavierUniform.scale(2, 1), Some(2f64.sqrt()));
    assert_eq!(Init::Zeros.scale(2, 1), None);
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let build = |seed| {
        let mut params = Params::<f64>::new();
        let mut rng = seeded_rng(seed);
        let a = Linear::new(&mut params, "a", 5, 4, Init::HeNormal, &mut rng).unwrap();
        let b = Linear::new(&mut params, "b", 4, 3, Init::XavierUniform, &mut rng).unwrap();
        let bits: Vec<u64> = [a.params(), b.params()]
            .concat()
            .into_iter()
            .flat_map(|id: downhill_tensor::ParamId| params.get(id).data().to_vec())
            .map(f64::to_bits)
            .collect();
        bits
    };
    assert_eq!(build(5), build(5));
    assert_ne!(build(5), build(6));
}

#[test]
fn linear_weights_use_in_and_out_as_fans_and_biases_start_at_zero() {
    let mut params = Params::<f64>::new();
    let mut rng = seeded_rng(1);
    let fc = Linear::new(&mut params, "fc", 100, 50, Init::XavierUniform, &mut rng).unwrap();
    let a = (6.0f64 / 150.0).sqrt();
    let (_, _, min, max) = stats(params.get(fc.weight()));
    assert!(min >= -a && max < a && max > 0.95 * a);
    let bias = params.get(fc.bias().unwrap());
    assert_eq!(bias.dims(), &[1, 50]);
    assert!(bias.data().iter().all(|&b| b == 0.0));
    let pt = Linear::with_bias_init(
        &mut params,
        "pt",
        100,
        50,
        Init::HeUniform,
        Some(Init::Uniform { low: -0.1, high: 0.1 }),
        &mut rng,
    )
    .unwrap();
    let (_, _, min, max) = stats(params.get(pt.bias().unwrap()));
    assert!(min >= -0.1 && max < 0.1 && max > min);
}

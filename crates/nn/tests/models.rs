//! Layers and models: forward values against hand computation, parameter names and order, and
//! training with plain gradient descent to the known answer.

use downhill_nn::loss::{bce_with_logits_loss, mse_loss, softmax_cross_entropy};
use downhill_nn::{
    Activation, Identity, Init, L2, LeakyReLU, Linear, LinearRegression, LogisticRegression, Mlp, Module,
    ReLU, Sequential, Sigmoid, SoftmaxRegression, Tanh, is_bias,
};
use downhill_tensor::{Params, Result, Tape, Tensor, Var, seeded_rng};

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

/// Plain gradient descent: `steps` updates of every parameter; returns the last loss.
fn descend(
    params: &mut Params<f64>,
    steps: usize,
    lr: f64,
    loss: impl for<'t> Fn(&'t Tape<f64>, &Params<f64>) -> Var<'t, f64>,
) -> Result<f64> {
    let mut tape = Tape::new();
    let mut last = f64::NAN;
    for _ in 0..steps {
        let l = loss(&tape, params);
        let grads = l.backward()?;
        last = l.item()?;
        tape.clear();
        for (id, g) in grads.iter() {
            for (p, g) in params.get_mut(id).data_mut().iter_mut().zip(g.data()) {
                *p -= lr * g;
            }
        }
    }
    Ok(last)
}

#[test]
fn linear_computes_x_w_plus_b_with_documented_shapes() {
    let mut params = Params::new();
    let fc = Linear::new(&mut params, "fc1", 3, 2, Init::Zeros, &mut seeded_rng(0)).unwrap();
    assert_eq!(fc.params(), vec![fc.weight(), fc.bias().unwrap()]);
    assert_eq!(fc.param_names(&params), ["fc1.weight", "fc1.bias"]);
    assert_eq!(params.get(fc.weight()).dims(), &[3, 2]);
    assert_eq!(params.get(fc.bias().unwrap()).dims(), &[1, 2]);
    params.set(fc.weight(), t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])).unwrap();
    params.set(fc.bias().unwrap(), t(&[0.5, -1.0], &[1, 2])).unwrap();
    let x = t(&[1.0, 0.0, -1.0, 2.0, 1.0, 0.0], &[2, 3]);
    let y = fc.predict(&params, &x).unwrap();
    // Row 0: [1,0,-1]·W = [1-5, 2-6] = [-4, -4]; row 1: [2,1,0]·W = [2+3, 4+4] = [5, 8].
    assert_eq!(y.data(), &[-3.5, -5.0, 5.5, 7.0]);
    assert_eq!(fc.num_params(&params), 8);

    let nb = Linear::no_bias(&mut params, "nb", 3, 2, Init::Constant(1.0), &mut seeded_rng(0)).unwrap();
    assert_eq!(nb.params(), vec![nb.weight()]);
    assert_eq!(nb.predict(&params, &x).unwrap().data(), &[0.0, 0.0, 3.0, 3.0]);
}

#[test]
fn activation_modules_are_the_tape_ops() {
    let x = t(&[-2.0, -0.5, 0.0, 0.5, 3.0], &[1, 5]);
    let params = Params::new();
    let tape = Tape::new();
    let v = tape.constant(&x);
    let same = |a: Var<'_, f64>, b: Var<'_, f64>| assert_eq!(a.value().unwrap(), b.value().unwrap());
    same(ReLU.forward(&tape, &params, v), v.relu());
    same(Tanh.forward(&tape, &params, v), v.tanh());
    same(Sigmoid.forward(&tape, &params, v), v.sigmoid());
    same(LeakyReLU { slope: 0.2 }.forward(&tape, &params, v), v.leaky_relu(0.2));
    same(LeakyReLU::default().forward(&tape, &params, v), v.leaky_relu(0.01));
    same(Identity.forward(&tape, &params, v), v);
    same(Activation::LeakyRelu(0.3).forward(&tape, &params, v), v.leaky_relu(0.3));
    assert_eq!(LeakyReLU { slope: 0.2 }.forward(&tape, &params, v).value().unwrap().data()[0], -0.4);
}

#[test]
fn mlp_is_linear_activation_linear_with_ordered_names() {
    let mut params = Params::new();
    let mut rng = seeded_rng(4);
    let mlp =
        Mlp::new(&mut params, "mlp", &[3, 5, 4, 2], Activation::Tanh, Init::XavierNormal, &mut rng).unwrap();
    assert_eq!(
        mlp.param_names(&params),
        ["mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias", "mlp.2.weight", "mlp.2.bias"]
    );
    let dims: Vec<Vec<usize>> = mlp.params().iter().map(|&id| params.get(id).dims().to_vec()).collect();
    assert_eq!(dims, [vec![3, 5], vec![1, 5], vec![5, 4], vec![1, 4], vec![4, 2], vec![1, 2]]);
    let x = Tensor::rand_normal([6, 3], 0.0, 1.0, &mut rng).unwrap();
    let l = mlp.layers();
    let manual =
        Sequential::new().with(l[0].clone()).with(Tanh).with(l[1].clone()).with(Tanh).with(l[2].clone());
    assert_eq!(mlp.predict(&params, &x).unwrap(), manual.predict(&params, &x).unwrap());
    assert_eq!(manual.params(), mlp.params());
    assert_eq!(manual.len(), 5);
}

#[test]
fn mlp_learns_xor() {
    let mut params = Params::new();
    let mut rng = seeded_rng(1);
    let mlp =
        Mlp::new(&mut params, "xor", &[2, 8, 1], Activation::Tanh, Init::XavierUniform, &mut rng).unwrap();
    let x = t(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]);
    let y = t(&[0.0, 1.0, 1.0, 0.0], &[4, 1]);
    let loss = descend(&mut params, 2000, 0.5, |tape, p| {
        bce_with_logits_loss(mlp.forward(tape, p, tape.constant(&x)), tape.constant(&y))
    })
    .unwrap();
    assert!(loss < 0.05, "loss {loss}");
    let logits = mlp.predict(&params, &x).unwrap();
    let classes: Vec<bool> = logits.data().iter().map(|&z| z > 0.0).collect();
    assert_eq!(classes, [false, true, true, false]);
}

#[test]
fn linear_regression_recovers_the_coefficients() {
    let mut rng = seeded_rng(2);
    let x = Tensor::rand_normal([50, 3], 0.0, 1.0, &mut rng).unwrap();
    let w = [1.5, -2.0, 0.25];
    let y: Vec<f64> =
        x.data().chunks(3).map(|r| r.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + 0.7).collect();
    let y = t(&y, &[50, 1]);
    let mut params = Params::new();
    let model = LinearRegression::new(&mut params, "lin", 3).unwrap();
    let loss = descend(&mut params, 500, 0.1, |tape, p| {
        mse_loss(model.forward(tape, p, tape.constant(&x)), tape.constant(&y))
    })
    .unwrap();
    assert!(loss < 1e-12, "{loss}");
    for (a, b) in params.get(model.linear().weight()).data().iter().zip(w) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    assert!((params.get(model.linear().bias().unwrap()).data()[0] - 0.7).abs() < 1e-6);
    assert_eq!(model.param_names(&params), ["lin.weight", "lin.bias"]);
}

#[test]
fn logistic_regression_separates_and_reports_probabilities() {
    let mut rng = seeded_rng(3);
    let x = Tensor::rand_normal([80, 2], 0.0, 1.0, &mut rng).unwrap();
    let labels: Vec<usize> = x.data().chunks(2).map(|r| usize::from(r[0] + 2.0 * r[1] > 0.3)).collect();
    let y = t(&labels.iter().map(|&l| l as f64).collect::<Vec<_>>(), &[80, 1]);
    let mut params = Params::new();
    let model = LogisticRegression::new(&mut params, "logreg", 2).unwrap();
    // Untrained: every probability is exactly 0.5.
    assert!(model.classify(&params, &x, 0.5).unwrap().iter().all(|&c| c == 1));
    let before = descend(&mut params, 1, 0.0, |tape, p| {
        bce_with_logits_loss(model.forward(tape, p, tape.constant(&x)), tape.constant(&y))
    })
    .unwrap();
    assert!((before - 2f64.ln()).abs() < 1e-12);
    descend(&mut params, 3000, 1.0, |tape, p| {
        bce_with_logits_loss(model.forward(tape, p, tape.constant(&x)), tape.constant(&y))
    })
    .unwrap();
    assert_eq!(model.classify(&params, &x, 0.5).unwrap(), labels);
    let tape = Tape::new();
    let xv = tape.constant(&x);
    let proba = model.predict_proba(&tape, &params, xv).value().unwrap();
    let logits = model.forward(&tape, &params, xv).sigmoid().value().unwrap();
    assert_eq!(proba, logits);
    assert!(proba.data().iter().all(|&p| p > 0.0 && p < 1.0));
}

/// `LogisticRegression::loss` is `bce_with_logits_loss(forward)`: to the bit on a small batch
/// (the composite), to 1e-12 on a large one (the fused one-pass node), with the same gradients.
#[test]
fn logistic_regression_loss_is_the_bce_of_its_logits() {
    for rows in [50, 6_000] {
        let mut rng = seeded_rng(11);
        let x = Tensor::rand_normal([rows, 6], 0.0, 1.0, &mut rng).unwrap();
        let y = x.data().chunks(6).map(|r| f64::from(r[0] - r[3] > 0.2)).collect::<Vec<_>>();
        let y = t(&y, &[rows, 1]);
        let mut params = Params::new();
        let model =
            LogisticRegression::with_init(&mut params, "m", 6, Init::Normal { std: 0.5 }, &mut rng).unwrap();
        let run = |fused: bool| {
            let tape = Tape::new();
            let (xv, yv) = (tape.constant(&x), tape.constant(&y));
            let loss = if fused {
                model.loss(&tape, &params, xv, yv)
            } else {
                bce_with_logits_loss(model.forward(&tape, &params, xv), yv)
            };
            let g = loss.backward().unwrap();
            let grads: Vec<f64> =
                model.params().into_iter().flat_map(|id| g.get(id).unwrap().data().to_vec()).collect();
            (loss.item().unwrap(), grads, tape.op_names().contains(&"linear_bce_with_logits"))
        };
        let ((lf, gf, fused_node), (lc, gc, _)) = (run(true), run(false));
        assert_eq!(fused_node, rows * 6 >= downhill_tensor::LARGE, "{rows} rows");
        if fused_node {
            assert!((lf - lc).abs() < 1e-12 * lc, "{lf} vs {lc}");
            for (a, b) in gf.iter().zip(&gc) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        } else {
            assert_eq!((lf, gf), (lc, gc));
        }
    }
    // A target of the wrong shape is the usual typed error, whichever path.
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "m", 6).unwrap();
    for rows in [50, 6_000] {
        let tape = Tape::new();
        let (xv, yv) = (tape.constant(&Tensor::zeros([rows, 6])), tape.constant(&Tensor::zeros([rows])));
        let e = model.try_loss(&tape, &params, xv, yv).unwrap_err().to_string();
        assert!(e.contains(&format!("target is [{rows}]")), "{e}");
    }
}

/// `Module::bce_with_logits_loss` of a `Linear` layer: the fused one-pass node exactly when the
/// layer has one output and a bias and the input is large, the composite (to the bit) otherwise;
/// the same value and gradients either way; a bad input is the layer's own typed error on both
/// paths.
#[test]
fn a_one_output_linear_layer_fuses_its_bce_loss_on_large_inputs() {
    let rows = 6_000;
    let mut rng = seeded_rng(12);
    let x = Tensor::rand_normal([rows, 6], 0.0, 1.0, &mut rng).unwrap();
    let mut params = Params::new();
    let one = Linear::new(&mut params, "one", 6, 1, Init::Normal { std: 0.5 }, &mut rng).unwrap();
    let two = Linear::new(&mut params, "two", 6, 2, Init::Normal { std: 0.5 }, &mut rng).unwrap();
    let nobias =
        Linear::with_bias_init(&mut params, "nb", 6, 1, Init::Normal { std: 0.5 }, None, &mut rng).unwrap();
    let target = |cols: usize| {
        let v: Vec<f64> = (0..rows * cols).map(|i| f64::from(x.data()[i % (rows * 6)] > 0.1)).collect();
        t(&v, &[rows, cols])
    };
    for (layer, cols, fused) in [(&one, 1, true), (&two, 2, false), (&nobias, 1, false)] {
        let y = target(cols);
        for n in [50, rows] {
            let xs = t(&x.data()[..n * 6], &[n, 6]);
            let ys = t(&y.data()[..n * cols], &[n, cols]);
            let run = |hook: bool| {
                let tape = Tape::new();
                let (xv, yv) = (tape.constant(&xs), tape.constant(&ys));
                let loss = if hook {
                    Module::<f64>::bce_with_logits_loss(layer, &tape, &params, xv, yv)
                } else {
                    bce_with_logits_loss(layer.forward(&tape, &params, xv), yv)
                };
                let g = loss.backward().unwrap();
                let grads: Vec<f64> = Module::<f64>::params(layer)
                    .into_iter()
                    .flat_map(|id| g.get(id).unwrap().data().to_vec())
                    .collect();
                (loss.item().unwrap(), grads, tape.op_names().contains(&"linear_bce_with_logits"))
            };
            let ((lh, gh, node), (lc, gc, _)) = (run(true), run(false));
            let name = layer.name();
            assert_eq!(node, fused && n == rows, "{name}, {n} rows");
            if node {
                assert!((lh - lc).abs() < 1e-12 * lc, "{name}: {lh} vs {lc}");
                for (a, b) in gh.iter().zip(&gc) {
                    assert!((a - b).abs() < 1e-12, "{name}: {a} vs {b}");
                }
            } else {
                assert_eq!((lh, gh), (lc, gc), "{name}, {n} rows: the composite, to the bit");
            }
        }
    }
    // Seven columns for a six-input layer: the layer's error (its name, the fix), on both paths.
    for n in [50, rows] {
        let tape = Tape::new();
        let xv = tape.constant(&Tensor::<f64>::zeros([n, 7]));
        let yv = tape.constant(&Tensor::zeros([n, 1]));
        let e = one.try_bce_with_logits_loss(&tape, &params, xv, yv).unwrap_err().to_string();
        assert!(e.contains("linear one (6 -> 1)") && e.contains("7 columns"), "{n} rows: {e}");
    }
}

#[test]
fn softmax_regression_classifies_three_blobs() {
    let mut rng = seeded_rng(9);
    let centers = [[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]];
    let mut xs = Vec::new();
    let mut labels = Vec::new();
    for i in 0..90 {
        let c = i % 3;
        let noise = Tensor::<f64>::rand_normal([2], 0.0, 0.7, &mut rng).unwrap();
        xs.extend([centers[c][0] + noise.data()[0], centers[c][1] + noise.data()[1]]);
        labels.push(c);
    }
    let x = t(&xs, &[90, 2]);
    let mut params = Params::new();
    let model = SoftmaxRegression::new(&mut params, "softmax", 2, 3).unwrap();
    assert_eq!(model.classes(), 3);
    let before = descend(&mut params, 1, 0.0, |tape, p| {
        softmax_cross_entropy(model.forward(tape, p, tape.constant(&x)), &labels)
    })
    .unwrap();
    assert!((before - 3f64.ln()).abs() < 1e-12, "uniform start: ln 3");
    descend(&mut params, 300, 0.5, |tape, p| {
        softmax_cross_entropy(model.forward(tape, p, tape.constant(&x)), &labels)
    })
    .unwrap();
    let predicted = model.classify(&params, &x).unwrap();
    let correct = predicted.iter().zip(&labels).filter(|(a, b)| a == b).count();
    assert!(correct >= 88, "{correct}/90");
    let tape = Tape::new();
    let p = model.predict_proba(&tape, &params, tape.constant(&x)).value().unwrap();
    for row in p.data().chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn l2_covers_weights_not_biases_and_its_gradient_is_lambda_w() {
    let mut params = Params::new();
    let mut rng = seeded_rng(0);
    let a = Linear::new(&mut params, "a", 2, 2, Init::Constant(2.0), &mut rng).unwrap();
    let b = Linear::with_bias_init(
        &mut params,
        "b",
        2,
        1,
        Init::Constant(-1.0),
        Some(Init::Constant(3.0)),
        &mut rng,
    )
    .unwrap();
    let lone_bias = params.insert("bias", t(&[5.0], &[1])).unwrap();
    assert!(is_bias("fc.bias") && is_bias("bias") && !is_bias("fc.biases") && !is_bias("unbiased"));
    assert_eq!(L2::new(0.1).selected(&params), vec![a.weight(), b.weight()]);
    assert_eq!(
        L2::new(0.1).include_biases().selected(&params),
        vec![a.weight(), a.bias().unwrap(), b.weight(), b.bias().unwrap(), lone_bias]
    );
    assert_eq!(L2::new(0.1).only(b.params()).selected(&params), vec![b.weight()]);
    assert_eq!(L2::new(0.1).only(b.params()).include_biases().selected(&params), b.params());

    let tape = Tape::new();
    // (λ/2)·(4·2² + 2·1²) = 0.05·18.
    let pen = L2::new(0.1).penalty(&tape, &params);
    assert!((pen.item().unwrap() - 0.9).abs() < 1e-12);
    let grads = pen.backward().unwrap();
    assert!(grads.get(a.weight()).unwrap().data().iter().all(|&g| (g - 0.2).abs() < 1e-15));
    assert!(grads.get(b.weight()).unwrap().data().iter().all(|&g| (g + 0.1).abs() < 1e-15));
    assert!(grads.get(a.bias().unwrap()).is_none(), "biases are never brought onto the tape");
    // Nothing selected: zero.
    let empty = Params::<f64>::new();
    assert_eq!(L2::new(1.0).penalty(&Tape::new(), &empty).item().unwrap(), 0.0);
    // Added to a loss that also uses the weights, the gradients accumulate.
    let tape = Tape::new();
    let x = tape.constant(&Tensor::ones([1, 2]));
    let out = a.forward(&tape, &params, x).sum();
    let total = out + downhill_nn::l2_penalty(&tape, &params, 0.1);
    let g = total.backward().unwrap();
    assert!(g.get(a.weight()).unwrap().data().iter().all(|&g| (g - 1.2).abs() < 1e-15));
}

#[test]
fn models_work_in_f32() {
    let mut params = Params::<f32>::new();
    let mut rng = seeded_rng(0);
    let mlp = Mlp::new(&mut params, "m", &[2, 4, 3], Activation::Relu, Init::HeUniform, &mut rng).unwrap();
    let x = Tensor::<f32>::rand_normal([5, 2], 0.0, 1.0, &mut rng).unwrap();
    let tape = Tape::new();
    let loss = softmax_cross_entropy(mlp.forward(&tape, &params, tape.constant(&x)), &[0, 1, 2, 0, 1]);
    let grads = loss.backward().unwrap();
    assert_eq!(grads.len(), 4);
    assert!(loss.item().unwrap().is_finite());
}

//! Book, chapter 9: every extension of `examples/ch09_extending.rs` tested on its own (the op and
//! its gradient check, the wrong backward caught, the layer's names and gradients, the loss's
//! values, minimizer and errors, Lion's hand-computed steps and state), the checkpoint output as a
//! snapshot, and the committed output and figures under `book/src/generated/ch09/` equal to what
//! the example produces now (regenerate them with `scripts/book.sh --regenerate`).

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch09_extending.rs"]
mod chapter;

use chapter::{
    Glu, L2Normalize, Lion, LionConfig, WrongL2Normalize, l2_normalize, pinball_loss, quantile_line,
};
use downhill::gradcheck::GradCheck;
use downhill::nn::Module;
use downhill::optim::{Optimizer, OptimizerState};
use downhill::prelude::{Error, Params, Tape, Tensor, seeded_rng};

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch09", "ch09_extending", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch09_checkpoint", ch.text("checkpoint.txt"));
}

#[test]
fn no_absolute_paths_in_the_output() {
    let ch = chapter::chapter().unwrap();
    for (name, text) in &ch.texts {
        assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{name}");
        assert!(!text.contains("tests/../"), "{name}");
    }
}

#[test]
fn the_op_normalizes_rows_and_passes_gradcheck_on_random_shapes() {
    let tape = Tape::new();
    let x = Tensor::from_vec(vec![3.0, 4.0, 0.0, -2.0], [2, 2]).unwrap();
    let y = l2_normalize(tape.constant(&x)).value().unwrap();
    assert_eq!(y.data(), &[0.6, 0.8, 0.0, -1.0]);
    let mut rng = seeded_rng(1);
    for (n, k) in [(1, 1), (1, 5), (3, 2), (6, 4)] {
        let x = Tensor::rand_normal([n, k], 0.0, 2.0, &mut rng).unwrap();
        let r = GradCheck::new().check(&[("x", x)], |_, v| l2_normalize(v[0])).unwrap();
        assert!(r.passed(), "[{n}, {k}]: {r}");
        assert_eq!(r.checked(), n * k);
    }
    // Inside a larger graph (the op's output re-used twice: gradients accumulate).
    let x = Tensor::rand_normal([3, 3], 0.0, 1.0, &mut rng).unwrap();
    let r = GradCheck::new()
        .check(&[("x", x)], |_, v| {
            let u = l2_normalize(v[0]);
            (u * u.exp()).sum()
        })
        .unwrap();
    assert!(r.passed(), "{r}");
}

#[test]
fn the_op_rejects_zero_rows_and_other_ranks_with_typed_errors() {
    let tape = Tape::<f64>::new();
    let zero = tape.constant(&Tensor::from_vec(vec![0.0, 0.0], [1, 2]).unwrap());
    match tape.try_custom(L2Normalize, &[zero]) {
        Err(Error::InvalidArgument { op, message, .. }) => {
            assert_eq!(op, "l2_normalize");
            assert!(message.contains("row 0 is all zeros"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let v = tape.constant(&Tensor::vector(&[1.0, 2.0]));
    let err = tape.try_custom(L2Normalize, &[v]).unwrap_err();
    assert!(err.to_string().contains("needs a [rows, columns] matrix, got shape [2]"), "{err}");
}

#[test]
fn the_checker_catches_the_wrong_backward() {
    let mut rng = seeded_rng(4);
    let x = Tensor::rand_normal([3, 4], 0.0, 1.0, &mut rng).unwrap();
    let r = GradCheck::new().check(&[("x", x)], |t, v| t.custom(WrongL2Normalize, &[v[0]])).unwrap();
    assert!(!r.passed());
    assert!(r.num_failures() > 6, "{r}");
}

#[test]
fn the_layer_has_four_named_params_in_order_and_correct_gradients() {
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(8));
    let glu = Glu::new(&mut params, "g", 4, 3, &mut rng).unwrap();
    assert_eq!(glu.param_names(&params), ["g.weight", "g.bias", "g.gate.weight", "g.gate.bias"]);
    assert_eq!(Module::<f64>::params(&glu), params.ids().collect::<Vec<_>>());
    assert_eq!(glu.num_params(&params), 4 * 3 * 2 + 3 * 2);
    // A second layer of the same name is refused, not silently shared.
    assert!(matches!(Glu::new(&mut params, "g", 4, 3, &mut rng), Err(Error::DuplicateParam { .. })));
    let x = Tensor::rand_normal([7, 4], 0.0, 1.0, &mut rng).unwrap();
    let r = GradCheck::new()
        .check_params(&params, |tape, p| glu.forward(tape, p, tape.constant(&x)).square().mean())
        .unwrap();
    assert!(r.passed(), "{r}");
    assert_eq!(r.checked(), params.numel());
}

#[test]
fn the_layer_computes_value_times_gate() {
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(0));
    let glu = Glu::new(&mut params, "g", 1, 1, &mut rng).unwrap();
    for (name, v) in [("g.weight", 2.0), ("g.bias", 1.0), ("g.gate.weight", 0.0), ("g.gate.bias", 0.0)] {
        let id = params.id(name).unwrap();
        params.set(id, Tensor::full(params.get(id).shape().clone(), v)).unwrap();
    }
    // Gate σ(0) = 1/2, value 2x + 1.
    let y = glu.predict(&params, &Tensor::from_vec(vec![1.0, -3.0], [2, 1]).unwrap()).unwrap();
    assert_eq!(y.data(), &[1.5, -2.5]);
    let err = glu.predict(&params, &Tensor::zeros([2])).unwrap_err();
    assert!(matches!(err, Error::LayerInput { .. }), "{err}");
}

#[test]
fn the_loss_matches_hand_values_and_its_minimizer_is_the_quantile() {
    let tape = Tape::<f64>::new();
    let pred = tape.constant(&Tensor::vector(&[1.0, 1.0, 2.0]));
    let target = tape.constant(&Tensor::vector(&[3.0, 0.0, 2.0]));
    // Residuals 2, −1, 0: (0.25·2 + 0.75·1 + 0) / 3.
    let l = pinball_loss(pred, target, 0.25).item().unwrap();
    assert!((l - (0.5 + 0.75) / 3.0).abs() < 1e-15, "{l}");
    // The best constant for 1..=10 at tau 0.3 lies in [3, 4] (the 0.3-quantile).
    let targets = Tensor::from_vec((1..=10).map(f64::from).collect(), [10]).unwrap();
    let at = |c: f64| {
        let tape = Tape::new();
        pinball_loss(tape.constant(&Tensor::full([10], c)), tape.constant(&targets), 0.3).item().unwrap()
    };
    assert!(at(3.5) < at(2.9) && at(3.5) < at(4.1));
    assert!((at(3.0) - at(4.0)).abs() < 1e-12, "flat between the 3rd and 4th target");
}

#[test]
fn the_loss_passes_gradcheck_and_refuses_bad_arguments() {
    let mut rng = seeded_rng(6);
    for tau in [0.05, 0.5, 0.8] {
        let p = Tensor::rand_normal([5, 2], 0.0, 1.0, &mut rng).unwrap();
        let t = Tensor::rand_normal([5, 2], 0.0, 1.0, &mut rng).unwrap();
        let r = GradCheck::new().check(&[("p", p), ("t", t)], |_, v| pinball_loss(v[0], v[1], tau)).unwrap();
        assert!(r.passed(), "tau {tau}: {r}");
    }
    for tau in [0.0, 1.0, -0.5, f64::NAN] {
        let tape = Tape::<f64>::new();
        let p = tape.constant(&Tensor::zeros([2]));
        let err = pinball_loss(p, p, tau).backward().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { op: "pinball_loss", .. }), "{err}");
    }
    let tape = Tape::<f64>::new();
    let line = line!() + 1;
    let l = pinball_loss(tape.constant(&Tensor::zeros([3, 1])), tape.constant(&Tensor::zeros([3])), 0.5);
    match l.backward() {
        Err(Error::LossShape { loss: "pinball_loss", at, .. }) => assert_eq!(at.line(), line),
        other => panic!("{other:?}"),
    }
}

/// Lion's first three steps on f(w) = w0² + w1² from (0.15, −3), lr 0.1, β1 0.9, β2 0.99,
/// worked by hand (see chapter 9): c = β1·m + (1 − β1)·g, w ← w − lr·sign(c), m ← β2·m + (1 − β2)·g.
#[test]
fn lion_matches_three_steps_worked_by_hand() {
    let mut params = Params::<f64>::new();
    let w = params.insert("w", Tensor::vector(&[0.15, -3.0])).unwrap();
    let mut opt = Lion::new(LionConfig { lr: 0.1, ..LionConfig::default() }).unwrap();
    // g = (0.3, −6):   c = (0.03, −0.6)          → w = (0.05, −2.9),  m = (0.003, −0.06)
    // g = (0.1, −5.8): c = (0.0127, −0.634)      → w = (−0.05, −2.8), m = (0.00397, −0.1174)
    // g = (−0.1, −5.6): c = (−0.006427, −0.6657) → w = (0.05, −2.7),  m = (0.0029303, −0.172226)
    let expected = [
        ([0.05, -2.9], [0.003, -0.06]),
        ([-0.05, -2.8], [0.00397, -0.1174]),
        ([0.05, -2.7], [0.0029303, -0.172226]),
    ];
    let mut tape = Tape::new();
    for (k, (w_hand, m_hand)) in expected.iter().enumerate() {
        let grads = tape.param(&params, w).square().sum().backward().unwrap();
        tape.clear();
        opt.step(&mut params, &grads).unwrap();
        let st = opt.state(&params).unwrap();
        let m = st.get("exp_avg/w").unwrap().data();
        for i in 0..2 {
            assert!(
                (params.get(w).data()[i] - w_hand[i]).abs() < 1e-12,
                "step {}: {:?}",
                k + 1,
                params.get(w)
            );
            assert!((m[i] - m_hand[i]).abs() < 1e-12, "step {}: m {m:?}", k + 1);
        }
    }
    assert_eq!(opt.step_count(), 3);
    let norm = opt.last_grad_norm().unwrap();
    assert!((norm - (0.01f64 + 5.6 * 5.6).sqrt()).abs() < 1e-12, "{norm}");
}

#[test]
fn lion_weight_decay_lr_scale_and_zero_gradients() {
    let mut params = Params::<f64>::new();
    let w = params.insert("w", Tensor::vector(&[2.0, 0.0])).unwrap();
    let mut opt = Lion::new(LionConfig { lr: 0.1, weight_decay: 0.5, ..LionConfig::default() }).unwrap();
    opt.set_lr_scale(0.5).unwrap();
    assert_eq!(opt.lr(), 0.05);
    let tape = Tape::new();
    // Gradient (1, 0): w0 ← 2 − 0.05·0.5·2 − 0.05 = 1.9; w1 has sign(0) = 0 and no decay to apply.
    let c = tape.constant(&Tensor::vector(&[1.0, 0.0]));
    let grads = (tape.param(&params, w) * c).sum().backward().unwrap();
    drop(tape);
    opt.step(&mut params, &grads).unwrap();
    assert!((params.get(w).data()[0] - 1.9).abs() < 1e-15, "{:?}", params.get(w));
    assert_eq!(params.get(w).data()[1], 0.0);
    assert!(opt.set_lr_scale(-1.0).is_err());
    for bad in [
        LionConfig { lr: 0.0, ..LionConfig::default() },
        LionConfig { beta1: 1.0, ..LionConfig::default() },
        LionConfig { beta2: -0.1, ..LionConfig::default() },
        LionConfig { weight_decay: f64::NAN, ..LionConfig::default() },
    ] {
        assert!(matches!(Lion::<f64>::new(bad), Err(Error::Hyperparameter { owner: "lion", .. })), "{bad:?}");
    }
}

#[test]
fn lion_state_round_trips_and_refuses_mismatches_without_changing_anything() {
    let mut params = Params::<f64>::new();
    let a = params.insert("a", Tensor::vector(&[1.0, -1.0])).unwrap();
    params.insert("b", Tensor::scalar(0.5)).unwrap();
    let config = LionConfig { lr: 0.01, ..LionConfig::default() };
    let mut opt = Lion::new(config).unwrap();
    let mut tape = Tape::new();
    for _ in 0..3 {
        let grads = tape.param(&params, a).exp().sum().backward().unwrap();
        tape.clear();
        opt.step(&mut params, &grads).unwrap();
    }
    let st = OptimizerState::from_bytes(&opt.state(&params).unwrap().to_bytes().unwrap()).unwrap();
    assert_eq!(st.kind(), Some("lion"));
    assert_eq!(st.step().unwrap(), 3);
    let mut fresh = Lion::new(config).unwrap();
    fresh.load_state(&st, &params).unwrap();
    assert_eq!(fresh.state(&params).unwrap().tensors, opt.state(&params).unwrap().tensors);
    assert_eq!(fresh.step_count(), 3);

    let mut other = Lion::<f64>::new(LionConfig { lr: 0.02, ..config }).unwrap();
    assert!(matches!(other.load_state(&st, &params), Err(Error::StateMismatch { .. })));
    assert_eq!(other.step_count(), 0);
    let mut renamed = Params::<f64>::new();
    renamed.insert("a", Tensor::vector(&[1.0, -1.0])).unwrap();
    renamed.insert("c", Tensor::scalar(0.5)).unwrap();
    assert!(matches!(fresh.load_state(&st, &renamed), Err(Error::StateUnknownParam { .. })));
    let mut wider = Params::<f64>::new();
    wider.insert("a", Tensor::vector(&[1.0, -1.0, 0.0])).unwrap();
    wider.insert("b", Tensor::scalar(0.5)).unwrap();
    assert!(matches!(fresh.load_state(&st, &wider), Err(Error::StateShape { .. })));
    let mut more = params.clone();
    more.insert("z", Tensor::scalar(0.0)).unwrap();
    assert!(matches!(fresh.load_state(&st, &more), Err(Error::StateMissingParam { .. })));
    let adam = downhill::optim::Adam::<f64>::new(Default::default()).unwrap();
    let adam_state = adam.state(&params).unwrap();
    assert!(matches!(fresh.load_state(&adam_state, &params), Err(Error::StateKind { .. })));
    assert_eq!(fresh.state(&params).unwrap().tensors, opt.state(&params).unwrap().tensors, "unchanged");
}

#[test]
fn quantile_lines_cover_their_quantile() {
    let mut rng = seeded_rng(2);
    let x = Tensor::<f64>::rand_uniform([300, 1], -1.0, 1.0, &mut rng).unwrap();
    let e = Tensor::<f64>::rand_normal([300, 1], 0.0, 1.0, &mut rng).unwrap();
    let y = Tensor::from_vec(x.data().iter().zip(e.data()).map(|(x, e)| 3.0 - x + e).collect(), [300, 1])
        .unwrap();
    for tau in [0.2, 0.75] {
        let (w, _, below) = quantile_line(&x, &y, tau, 1200).unwrap();
        assert!((below - tau).abs() < 0.04, "tau {tau}: {below}");
        assert!((w + 1.0).abs() < 0.3, "tau {tau}: slope {w}");
    }
}

#[test]
fn lion_runs_in_the_trainer_and_resumes_from_its_checkpoint_bit_for_bit() {
    let (straight, resumed) = chapter::lion_in_trainer().unwrap();
    assert_eq!(straight.len(), 3);
    assert_eq!(
        straight.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        resumed.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Sign updates: after 12 steps of lr 0.01 no coordinate is further than 0.12 from 0.
    assert!(straight.iter().all(|x| x.abs() <= 0.12 + 1e-12), "{straight:?}");
}

//! Semantics beyond the golden trajectories: the two momentum forms, Nesterov's lookahead form,
//! skipped parameters, weight decay and groups, clipping in the pipeline, schedules driving the
//! learning rate, validation, and f32.

mod common;

use common::Problem;
use downhill_optim::schedule::{LinearWarmup, StepDecay};
use downhill_optim::*;
use downhill_tensor::{Error, Params, Tape, Tensor};

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn nesterov_lookahead_form_is_equivalent() {
    // Lookahead form (Sutskever et al. 2013): v ← βv − lr·∇f(θ + βv), θ ← θ + v.
    // PyTorch form on φ = θ + βv: b ← βb + ∇f(φ), φ ← φ − lr·(∇f(φ) + βb).
    let (lr, beta) = (0.1, 0.9);
    let mut look = Problem::new();
    let mut v: Vec<f64> = vec![0.0; look.flat().len()];
    let mut torch_form = Problem::new();
    let mut opt = Nesterov::new(NesterovConfig { lr, beta, ..Default::default() }).unwrap();
    for step in 0..8 {
        // Gradient at the lookahead point θ + βv.
        let mut ahead = look.params.clone();
        let mut k = 0;
        for id in ahead.ids().collect::<Vec<_>>() {
            for x in ahead.get_mut(id).data_mut() {
                *x += beta * v[k];
                k += 1;
            }
        }
        let (_, g) = look.eval(&ahead).unwrap();
        let g: Vec<f64> = look.params.ids().flat_map(|id| g.get(id).unwrap().data().to_vec()).collect();
        let mut k = 0;
        for id in look.params.ids().collect::<Vec<_>>() {
            for x in look.params.get_mut(id).data_mut() {
                v[k] = beta * v[k] - lr * g[k];
                *x += v[k];
                k += 1;
            }
        }
        torch_form.step(&mut opt).unwrap();
        let phi: Vec<f64> = look.flat().iter().zip(&v).map(|(t, v)| t + beta * v).collect();
        let d = max_diff(&phi, &torch_form.flat());
        assert!(d < 1e-14, "step {step}: lookahead point and PyTorch-form iterate differ by {d:e}");
    }
}

#[test]
fn ema_momentum_equals_classical_momentum_with_scaled_lr() {
    let beta = 0.9;
    let mut a = Problem::new();
    let mut b = Problem::new();
    let mut ema =
        Momentum::new(MomentumConfig { lr: 0.3, beta, form: MomentumForm::Ema, ..Default::default() })
            .unwrap();
    let mut classical = Momentum::new(MomentumConfig {
        lr: 0.3 * (1.0 - beta),
        beta,
        form: MomentumForm::Classical,
        ..Default::default()
    })
    .unwrap();
    for _ in 0..10 {
        a.step(&mut ema).unwrap();
        b.step(&mut classical).unwrap();
    }
    assert!(max_diff(&a.flat(), &b.flat()) < 1e-14);
    // And the forms really differ at the same lr.
    let mut c = Problem::new();
    let mut same_lr = Momentum::new(MomentumConfig { lr: 0.3, beta, ..Default::default() }).unwrap();
    for _ in 0..10 {
        c.step(&mut same_lr).unwrap();
    }
    assert!(max_diff(&a.flat(), &c.flat()) > 1e-3);
}

#[test]
fn adam_first_step_is_lr_in_every_coordinate() {
    // Bias correction: m/(1 − β₁) = g and √(v/(1 − β₂)) = |g|, so the first step is lr·sign(g).
    let mut p = Problem::new();
    let before = p.flat();
    let mut opt = Adam::new(AdamConfig { lr: 0.01, eps: 1e-12, ..Default::default() }).unwrap();
    p.step(&mut opt).unwrap();
    for (x, y) in before.iter().zip(p.flat()) {
        assert!(((x - y).abs() - 0.01).abs() < 1e-9, "{x} -> {y}");
    }
}

/// A store with "w" and "fc.bias" (both on the tape with zero gradient) and "frozen" (never on
/// the tape, so it has no gradient at all).
fn zero_grad_store() -> (Params<f64>, downhill_tensor::Grads<f64>) {
    let mut params = Params::new();
    let w = params.insert("w", Tensor::vector(&[1.0, -2.0])).unwrap();
    let b = params.insert("fc.bias", Tensor::vector(&[0.5])).unwrap();
    params.insert("frozen", Tensor::vector(&[3.0])).unwrap();
    let tape = Tape::new();
    let loss = (tape.param(&params, w) * 0.0).sum() + (tape.param(&params, b) * 0.0).sum();
    let grads = loss.backward().unwrap();
    (params, grads)
}

#[test]
fn parameters_without_gradient_are_skipped() {
    let (mut params, grads) = zero_grad_store();
    let frozen = params.id("frozen").unwrap();
    assert!(grads.get(frozen).is_none());
    let mut opt =
        Adam::new(AdamConfig { weight_decay: WeightDecay::Decoupled(0.5), ..Default::default() }).unwrap();
    for _ in 0..3 {
        opt.step(&mut params, &grads).unwrap();
    }
    assert_eq!(params.get(frozen).data(), &[3.0], "no gradient: not updated, not decayed");
    let st = opt.state(&params).unwrap();
    assert!(st.get("exp_avg/frozen").is_none() && st.get("exp_avg/w").is_some());
    assert!(st.metadata["params"].contains("frozen"), "the state still lists every parameter name");
    assert_eq!(st.metadata["slot_steps"], r#"{"fc.bias":3,"w":3}"#);
}

#[test]
fn decoupled_decay_and_groups_by_name() {
    // Zero gradients isolate the decay: decoupled shrinks by (1 − lr·λ) per step; the bias group
    // turns it off.
    let (mut params, grads) = zero_grad_store();
    let mut opt = Sgd::new(SgdConfig { lr: 0.1, weight_decay: WeightDecay::Decoupled(0.5) })
        .unwrap()
        .with_group(ParamGroup::no_decay_on_biases())
        .unwrap();
    opt.step(&mut params, &grads).unwrap();
    assert_eq!(params.get(params.id("w").unwrap()).data(), &[0.95, -1.9]);
    assert_eq!(params.get(params.id("fc.bias").unwrap()).data(), &[0.5]);

    // L2 goes through the update rule: under Adam, λθ is normalized to a step of about lr.
    let (mut l2, grads) = zero_grad_store();
    let mut adam =
        Adam::new(AdamConfig { lr: 0.01, weight_decay: WeightDecay::L2(0.5), ..Default::default() }).unwrap();
    adam.step(&mut l2, &grads).unwrap();
    let w = l2.get(l2.id("w").unwrap()).data();
    assert!((w[0] - 0.99).abs() < 1e-7 && (w[1] + 1.99).abs() < 1e-7, "{w:?}");
    let (mut dec, grads) = zero_grad_store();
    let mut adamw = AdamW::new(AdamWConfig { lr: 0.01, weight_decay: 0.5, ..Default::default() }).unwrap();
    adamw.step(&mut dec, &grads).unwrap();
    assert_eq!(dec.get(dec.id("w").unwrap()).data(), &[1.0 * (1.0 - 0.005), -2.0 * (1.0 - 0.005)]);

    // First matching group wins; the lr scale applies.
    let (mut p, grads) = zero_grad_store();
    let mut opt = Sgd::new(SgdConfig { lr: 0.1, weight_decay: WeightDecay::Decoupled(0.5) })
        .unwrap()
        .with_group(ParamGroup::new(Select::Exact("w".into())).lr_scale(2.0))
        .unwrap()
        .with_group(ParamGroup::new(Select::Prefix("w".into())).weight_decay(WeightDecay::None))
        .unwrap();
    opt.step(&mut p, &grads).unwrap();
    assert_eq!(p.get(p.id("w").unwrap()).data(), &[0.9, -1.8]);
}

#[test]
fn clipping_in_the_pipeline_reports_the_pre_clip_norm() {
    let mut p = Problem::new();
    let (_, g) = p.eval(&p.params).unwrap();
    let norm = g.global_norm();
    let before = p.flat();
    let mut opt = Sgd::new(SgdConfig::lr(1.0)).unwrap().with_clip(Clip::GlobalNorm(norm / 4.0)).unwrap();
    p.step(&mut opt).unwrap();
    assert_eq!(opt.last_grad_norm(), Some(norm));
    let flat_g: Vec<f64> = g.iter().flat_map(|(_, t)| t.data().to_vec()).collect();
    let step: Vec<f64> = before.iter().zip(p.flat()).map(|(a, b)| a - b).collect();
    // The step is g / 4: same direction, a quarter of the norm.
    let expected: Vec<f64> = flat_g.iter().map(|x| x / 4.0).collect();
    assert!(max_diff(&step, &expected) < 1e-15);
}

#[test]
fn schedules_drive_the_learning_rate_and_lr_scale_multiplies() {
    let mut p = Problem::new();
    let mut opt =
        Sgd::new(SgdConfig::lr(1.0)).unwrap().with_schedule(StepDecay::with_gamma(0.4, 2, 0.5).unwrap());
    let mut lrs = Vec::new();
    for _ in 0..5 {
        lrs.push(opt.lr());
        p.step(&mut opt).unwrap();
    }
    assert_eq!(lrs, vec![0.4, 0.4, 0.2, 0.2, 0.1]);
    opt.set_lr_scale(0.5).unwrap();
    assert_eq!(opt.lr(), 0.05);
    assert!(matches!(opt.set_lr_scale(-1.0), Err(Error::Hyperparameter { .. })));
    // A warmup starting at zero: the first step leaves the parameters unchanged.
    let mut q = Problem::new();
    let before = q.bits();
    let mut warm =
        Adam::new(AdamConfig::default()).unwrap().with_schedule(LinearWarmup::with(0.01, 4, 0.0).unwrap());
    q.step(&mut warm).unwrap();
    assert_eq!(q.bits(), before);
    q.step(&mut warm).unwrap();
    assert_ne!(q.bits(), before);
}

#[test]
fn gradient_shape_mismatch_is_an_error_and_changes_nothing() {
    let mut other = Params::new();
    let x = other.insert("x", Tensor::vector(&[1.0f64, 2.0, 3.0])).unwrap();
    let tape = Tape::new();
    let grads = tape.param(&other, x).square().sum().backward().unwrap();
    let mut p = Problem::new();
    let before = p.bits();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let err = opt.step(&mut p.params, &grads).unwrap_err();
    assert!(matches!(err, Error::ParamShape { .. }), "{err}");
    assert_eq!(p.bits(), before);
    assert_eq!(opt.step_count(), 0);
}

#[test]
fn hyperparameters_are_validated_with_typed_errors() {
    let hp = |r: Result<(), Error>| matches!(r, Err(Error::Hyperparameter { .. }));
    assert!(hp(Sgd::<f64>::new(SgdConfig::lr(0.0)).map(drop)));
    assert!(hp(Sgd::<f64>::new(SgdConfig::lr(f64::NAN)).map(drop)));
    assert!(hp(Sgd::<f64>::new(SgdConfig { lr: 0.1, weight_decay: WeightDecay::L2(-1.0) }).map(drop)));
    assert!(hp(Momentum::<f64>::new(MomentumConfig { beta: 1.0, ..Default::default() }).map(drop)));
    assert!(hp(Nesterov::<f64>::new(NesterovConfig { beta: -0.1, ..Default::default() }).map(drop)));
    assert!(hp(Adagrad::<f64>::new(AdagradConfig { eps: 0.0, ..Default::default() }).map(drop)));
    assert!(hp(Adagrad::<f64>::new(AdagradConfig { initial_accumulator_value: -1.0, ..Default::default() })
        .map(drop)));
    assert!(hp(RmsProp::<f64>::new(RmsPropConfig { alpha: 1.0, ..Default::default() }).map(drop)));
    assert!(hp(RmsProp::<f64>::new(RmsPropConfig { momentum: 1.5, ..Default::default() }).map(drop)));
    assert!(hp(Adam::<f64>::new(AdamConfig { beta1: 1.0, ..Default::default() }).map(drop)));
    assert!(hp(Adam::<f64>::new(AdamConfig { beta2: 1.0, ..Default::default() }).map(drop)));
    assert!(hp(Adam::<f64>::new(AdamConfig { eps: -1e-8, ..Default::default() }).map(drop)));
    assert!(hp(
        AdamW::<f64>::new(AdamWConfig { weight_decay: f64::INFINITY, ..Default::default() }).map(drop)
    ));
    assert!(hp(Lbfgs::<f64>::new(LbfgsConfig { lr: -1.0, ..Default::default() }).map(drop)));
    assert!(hp(Sgd::<f64>::new(SgdConfig::lr(0.1)).unwrap().with_clip(Clip::GlobalNorm(0.0)).map(drop)));
    assert!(hp(Sgd::<f64>::new(SgdConfig::lr(0.1))
        .unwrap()
        .with_group(ParamGroup::no_decay_on_biases().lr_scale(-2.0))
        .map(drop)));
    // A schedule that goes negative is caught at the step, before anything changes.
    let mut p = Problem::new();
    let before = p.bits();
    let mut opt = Sgd::new(SgdConfig::lr(0.1))
        .unwrap()
        .with_schedule(schedule::FnSchedule::new("negative", |t| 0.1 - t as f64));
    p.step(&mut opt).unwrap();
    let after_one = p.bits();
    assert_ne!(after_one, before);
    assert!(matches!(p.step(&mut opt), Err(Error::Hyperparameter { .. })));
    assert_eq!(p.bits(), after_one);
}

#[test]
fn f32_training_and_state_round_trip() {
    let mut params = Params::new();
    let w = params.insert("w", Tensor::vector(&[1.0f32, -2.0, 0.5])).unwrap();
    let mut opt = Adam::new(AdamConfig { lr: 0.1, ..Default::default() }).unwrap();
    let mut tape = Tape::new();
    for _ in 0..100 {
        let grads = tape.param(&params, w).square().sum().backward().unwrap();
        tape.clear();
        opt.step(&mut params, &grads).unwrap();
    }
    assert!(params.get(w).data().iter().all(|x| x.abs() < 0.05), "{:?}", params.get(w).data());
    let bytes = opt.state(&params).unwrap().to_bytes().unwrap();
    let back = OptimizerState::<f32>::from_bytes(&bytes).unwrap();
    let mut fresh = Adam::<f32>::new(AdamConfig { lr: 0.1, ..Default::default() }).unwrap();
    fresh.load_state(&back, &params).unwrap();
    assert_eq!(fresh.state(&params).unwrap().to_bytes().unwrap(), bytes);
    // f32 state read as f64 is a dtype error, never a silent conversion.
    assert!(matches!(OptimizerState::<f64>::from_bytes(&bytes), Err(Error::Dtype { .. })));
}

#[test]
fn lbfgs_refuses_a_store_of_another_size_after_state_exists() {
    let mut p = Problem::new();
    let mut opt = Lbfgs::new(LbfgsConfig { max_iter: 2, ..Default::default() }).unwrap();
    let mut params = p.params.clone();
    opt.step(&mut params, |q| p.eval(q)).unwrap();
    p.params = params;
    let mut small = Params::new();
    let x = small.insert("x", Tensor::vector(&[1.0f64])).unwrap();
    let err = opt
        .step(&mut small, |q| {
            let tape = Tape::new();
            let loss = tape.param(q, x).square().sum();
            Ok((loss.item()?, loss.backward()?))
        })
        .unwrap_err();
    assert!(matches!(err, Error::StateMismatch { .. }), "{err}");
    assert_eq!(small.get(x).data(), &[1.0]);
}

//! The run doctor on real runs: each check fires on a run that has the problem and stays quiet
//! on a healthy one.

use downhill_nn::{Activation, Init, Linear, LinearRegression, LogisticRegression, Mlp, Sequential, Sigmoid};
use downhill_optim::{Adam, AdamConfig, Sgd, SgdConfig};
use downhill_tensor::{Params, Tensor, seeded_rng};
use downhill_train::data::{
    Dataset, SplitOptions, StandardScaler, Toy, breast_cancer, churn, diabetes_raw, digits, toy,
};
use downhill_train::doctor::{Report, Severity, check_log, check_mlp, check_run, check_run_mlp};
use downhill_train::fit::{FitConfig, FitResult, Loss, fit};
use downhill_train::progress::ProgressMode;
use downhill_train::stop::Guards;

fn cfg(epochs: u64, batch_size: usize) -> FitConfig {
    FitConfig { epochs, batch_size, progress: ProgressMode::Never, ..FitConfig::default() }
}

fn standardized(d: &Dataset) -> Dataset {
    let s = StandardScaler::fit(&d.x).unwrap();
    Dataset { x: s.transform(&d.x).unwrap(), ..d.clone() }
}

fn codes(r: &Report) -> Vec<(&'static str, Severity)> {
    r.findings.iter().map(|f| (f.code, f.severity)).collect()
}

#[test]
fn unscaled_diabetes_at_lr_0_01_is_a_critical_learning_rate_finding() {
    let d = diabetes_raw().unwrap();
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &cfg(200, usize::MAX)).unwrap();
    assert!(r.stop.diverged(), "{}", r.stop);
    let report = Report::new(check_run(&model, &params, Loss::HalfMse, &r, &d).unwrap());
    let first = &report.findings[0];
    assert_eq!((first.code, first.severity), ("lr-too-high", Severity::Critical), "{report}");
    assert!(first.fix.contains("lower the learning rate"), "{report}");
    assert!(
        report.find("initial-loss").is_none(),
        "a zero-initialized model starts where it should: {report}"
    );
    // Without the jump guard the same run ends in overflow: also a non-finite finding.
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    let no_jump =
        FitConfig { guards: Guards { max_jump: None, ..Guards::default() }, ..cfg(2000, usize::MAX) };
    let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &no_jump).unwrap();
    assert_eq!(r.stop.code(), "non_finite");
    let report = Report::new(check_run(&model, &params, Loss::HalfMse, &r, &d).unwrap());
    assert_eq!(report.critical(), 2, "{report}");
    assert_eq!(report.findings.iter().filter(|f| f.code == "non-finite").count(), 1, "{report}");
}

#[test]
fn a_tiny_learning_rate_is_crawling_and_a_healthy_run_is_quiet() {
    let d = standardized(&diabetes_raw().unwrap());
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(1e-6)).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &cfg(50, usize::MAX)).unwrap();
    let report = Report::new(check_run(&model, &params, Loss::HalfMse, &r, &d).unwrap());
    let f = report.find("lr-too-low").expect("crawling");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.detail.contains("the loss moved"), "{report}");

    // Standardized breast cancer, logistic regression at lr 0.1: nothing to fix.
    let bc = standardized(&breast_cancer().unwrap());
    let (tr, va, _) = bc.split(&SplitOptions { val: 0.2, test: 0.0, seed: 0, stratify: true }).unwrap();
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg(20, 32)).unwrap();
    let report = Report::new(check_run(&model, &params, Loss::BceWithLogits, &r, &tr).unwrap());
    assert!(
        report.findings.iter().all(|f| f.severity == Severity::Info),
        "a healthy run has no warnings: {report}"
    );
}

#[test]
fn an_mlp_with_a_huge_negative_bias_has_dead_relus() {
    let d = toy(Toy::Moons, 300, 0.2, 0).unwrap();
    let build = |bias: f64| {
        let mut params = Params::<f64>::new();
        let mlp = Mlp::new(
            &mut params,
            "mlp",
            &[2, 32, 32, 1],
            Activation::Relu,
            Init::HeNormal,
            &mut seeded_rng(1),
        )
        .unwrap();
        if bias != 0.0 {
            let b = mlp.layers()[0].bias().unwrap();
            params.set(b, Tensor::full([1, 32], bias)).unwrap();
        }
        (params, mlp)
    };
    let (mut params, mlp) = build(-100.0);
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let r = fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(5, 32)).unwrap();
    let report = Report::new(check_mlp(&mlp, &params, &d).unwrap());
    let f = report.find("dead-relu").expect("dead units");
    assert_eq!(f.severity, Severity::Critical, "{report}");
    // Layer 0 never fires, so layer 1 sees only its biases: at least all of layer 0 is dead.
    assert!(f.score >= 0.5, "{report}");
    assert!(f.detail.contains("layer 0: 32/32"), "{report}");
    // The run learned nothing: the loss is stuck near ln 2.
    assert!((r.final_train_loss().unwrap() - std::f64::consts::LN_2).abs() < 0.05);
    // The same network with He init and zero biases: no dead-unit finding.
    let (mut params, mlp) = build(0.0);
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(5, 32)).unwrap();
    let report = Report::new(check_mlp(&mlp, &params, &d).unwrap());
    assert!(report.find("dead-relu").is_none(), "{report}");
}

#[test]
fn mse_on_0_1_targets_predicts_outside_the_unit_interval() {
    let d = standardized(&breast_cancer().unwrap());
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "lin", 30).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.05)).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::Mse, &d, None, &cfg(50, usize::MAX)).unwrap();
    let report = Report::new(check_run(&model, &params, Loss::Mse, &r, &d).unwrap());
    let f = report.find("predictions-outside-unit").expect("outside [0, 1]");
    assert!(f.fix.contains("bce_with_logits"), "{report}");
    assert!(f.score > 0.0 && f.score < 1.0, "{}", f.score);
}

#[test]
fn separable_data_saturates_the_output_sigmoid() {
    // One feature that separates the classes perfectly: the weight grows without bound.
    let x: Vec<f64> = (0..200).map(|i| (i as f64 - 99.5) / 50.0).collect();
    let y: Vec<f64> = x.iter().map(|&v| f64::from(v > 0.0)).collect();
    let d = Dataset::new(vec!["x".into()], "y", x, y).unwrap();
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", 1).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(5.0)).unwrap();
    let r =
        fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(3000, usize::MAX)).unwrap();
    let report = Report::new(check_run(&model, &params, Loss::BceWithLogits, &r, &d).unwrap());
    let f = report.find("saturated-output").expect("saturated");
    assert_eq!(f.severity, Severity::Warning, "{report}");
    assert!(f.detail.contains("0 of them confidently wrong"), "{report}");
}

#[test]
fn a_large_initialization_starts_far_above_ln_2() {
    let d = toy(Toy::Moons, 200, 0.2, 3).unwrap();
    let mut params = Params::<f64>::new();
    let mlp = Mlp::new(
        &mut params,
        "mlp",
        &[2, 64, 1],
        Activation::Relu,
        Init::Normal { std: 5.0 },
        &mut seeded_rng(4),
    )
    .unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(1e-3)).unwrap();
    let r: FitResult = fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(1, 200)).unwrap();
    let findings = check_log(&r, Loss::BceWithLogits, &d);
    let report = Report::new(findings);
    let f = report.find("initial-loss").expect("a start far above ln 2");
    assert!(f.score > 3.0 && f.severity <= Severity::Warning, "{report}");
    assert!(f.fix.contains("initial weights"), "{report}");
}

#[test]
fn a_big_net_on_little_data_overfits() {
    let d = toy(Toy::Moons, 80, 0.35, 5).unwrap();
    let (tr, va, _) = d.split(&SplitOptions { val: 0.5, test: 0.0, seed: 1, stratify: true }).unwrap();
    let mut params = Params::<f64>::new();
    let mlp =
        Mlp::new(&mut params, "mlp", &[2, 64, 64, 1], Activation::Relu, Init::HeNormal, &mut seeded_rng(6))
            .unwrap();
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let r = fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg(300, 40)).unwrap();
    let report = Report::new(check_run(&mlp, &params, Loss::BceWithLogits, &r, &tr).unwrap());
    let f = report.find("overfitting").expect("a train/validation gap");
    assert_eq!(f.severity, Severity::Warning, "{report}");
    assert!(f.fix.contains("early stopping"), "{report}");
    assert_eq!(codes(&report)[0].1, Severity::Warning, "{report}");
}

#[test]
fn raw_features_make_the_loss_jump_and_saturate_sigmoids() {
    // Unscaled breast cancer (areas in the thousands): Adam at 0.1 does not blow up, but the
    // per-epoch loss jumps and the outputs saturate, some confidently wrong.
    let d = breast_cancer().unwrap();
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
    let mut opt = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(30, 32)).unwrap();
    assert!(!r.stop.diverged(), "{}", r.stop);
    let report = Report::new(check_run(&model, &params, Loss::BceWithLogits, &r, &d).unwrap());
    let f = report.find("lr-too-high").expect("jumps");
    assert_eq!(f.severity, Severity::Warning, "{report}");
    assert!(f.detail.contains("per-epoch training loss rose"), "{report}");
    let s = report.find("saturated-output").expect("saturated");
    assert!(s.severity <= Severity::Warning && !s.detail.contains(" 0 of them"), "{report}");

    // A sigmoid MLP on the same raw features: the hidden units saturate.
    let mut params = Params::<f64>::new();
    let mlp = Mlp::new(
        &mut params,
        "mlp",
        &[30, 16, 1],
        Activation::Sigmoid,
        Init::XavierUniform,
        &mut seeded_rng(2),
    )
    .unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(2, 64)).unwrap();
    let report = Report::new(check_mlp(&mlp, &params, &d).unwrap());
    let f = report.find("saturated-hidden").expect("saturated hidden units");
    assert!(f.score > 0.1, "{report}");
    // Standardized, the same network is not saturated.
    let z = standardized(&d);
    let mut params = Params::<f64>::new();
    let mlp = Mlp::new(
        &mut params,
        "mlp",
        &[30, 16, 1],
        Activation::Sigmoid,
        Init::XavierUniform,
        &mut seeded_rng(2),
    )
    .unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    fit(&mlp, &mut params, &mut opt, Loss::BceWithLogits, &z, None, &cfg(2, 64)).unwrap();
    assert!(check_mlp(&mlp, &params, &z).unwrap().is_empty());
}

/// The digits MLP of the book's chapter 6 (64-32-10 ReLU, He init, seed 0) after 10 epochs of
/// Adam on mini-batches of 32 at `lr`.
fn digits_run(lr: f64) -> (Mlp, Params<f64>, FitResult, Dataset) {
    let raw = digits().unwrap();
    let data = Dataset { x: raw.x.map(|v| v / 16.0), ..raw };
    let (train, _, _) = data.split(&SplitOptions { val: 0.1, test: 0.2, seed: 0, stratify: true }).unwrap();
    let mut params = Params::<f64>::new();
    let mlp =
        Mlp::new(&mut params, "mlp", &[64, 32, 10], Activation::Relu, Init::HeNormal, &mut seeded_rng(0))
            .unwrap();
    let mut opt = Adam::new(AdamConfig { lr, ..AdamConfig::default() }).unwrap();
    let r = fit(&mlp, &mut params, &mut opt, Loss::CrossEntropy, &train, None, &cfg(10, 32)).unwrap();
    (mlp, params, r, train)
}

#[test]
fn dead_relus_under_mini_batches_are_a_critical_stall_with_the_cause_named() {
    // At lr 1 the first steps throw the batch loss up to 126 and kill every hidden ReLU; the
    // network then predicts one digit for every image. No guard stops the run (the per-epoch
    // losses are flat), and the output bias keeps moving, so the global update ratio looks
    // healthy: only the per-tensor gradient norms and the loss at chance show the stall.
    let (mlp, params, r, train) = digits_run(1.0);
    assert!(!r.stop.diverged(), "{}", r.stop);
    let log = Report::new(check_log(&r, Loss::CrossEntropy, &train));
    let stall = log.find("stalled").expect("a stall");
    assert_eq!((stall.severity, log.findings[0].code), (Severity::Critical, "stalled"), "{log}");
    assert!(stall.title.contains("at chance"), "{log}");
    assert!(stall.detail.contains("mlp.0.weight, mlp.0.bias, mlp.1.weight) was exactly 0"), "{log}");
    assert!(stall.fix.contains("dead units") && stall.fix.contains("LeakyReLU"), "{log}");
    let spike = log.find("lr-too-high").expect("the step-loss spike");
    assert!(spike.detail.contains("a mini-batch loss reached 126.18"), "{log}");
    // With the model, the stall's fix names the dead units as its cause.
    let full = Report::new(check_run_mlp(&mlp, &params, Loss::CrossEntropy, &r, &train).unwrap());
    let stall = full.find("stalled").unwrap();
    assert!(stall.fix.starts_with("the cause is `dead-relu` (100 % of the hidden ReLUs are dead"), "{full}");
    assert!(stall.fix.contains("lower the learning rate"), "{full}");
    assert_eq!(full.find("dead-relu").unwrap().severity, Severity::Critical, "{full}");

    // At lr 0.01 the same network learns: dead units are a warning, but nothing stalled or spiked.
    let (mlp, params, r, train) = digits_run(0.01);
    let ok = Report::new(check_run_mlp(&mlp, &params, Loss::CrossEntropy, &r, &train).unwrap());
    assert!(ok.find("stalled").is_none() && ok.find("lr-too-high").is_none(), "{ok}");
}

#[test]
fn a_zero_update_ratio_is_a_stall_not_silence() {
    // Probabilities from a sigmoid into the clipped `bce`, on raw churn features: the first step
    // saturates every output, after which every gradient is exactly 0 and nothing moves.
    let d = churn(2000, 0, false).unwrap();
    let mut params = Params::<f64>::new();
    let net = Sequential::new()
        .with(Linear::new(&mut params, "fc", d.n_features(), 1, Init::Zeros, &mut seeded_rng(0)).unwrap())
        .with(Sigmoid);
    let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
    let r = fit(&net, &mut params, &mut opt, Loss::Bce, &d, None, &cfg(20, usize::MAX)).unwrap();
    assert!(r.log.steps[10..].iter().all(|s| s.update_ratio == 0.0), "the updates are exactly 0");
    let report = Report::new(check_run(&net, &params, Loss::Bce, &r, &d).unwrap());
    let stall = report.find("stalled").expect("a stall");
    assert_eq!(stall.severity, Severity::Critical, "{report}");
    assert!(stall.detail.contains("update/parameter ratio over the second half is 0.00e0"), "{report}");
    assert!(stall.fix.starts_with("the cause is `saturated-output`"), "{report}");
    assert!(stall.fix.contains("bce_with_logits"), "{report}");
}

#[test]
fn a_fast_start_then_a_slow_tail_is_crawling() {
    // Raw diabetes at lr 1e-5 (the book's chapter 8): stable, the loss falls 86 % in the first
    // steps and then creeps, still 36 % above the optimum after 500 steps.
    let d = diabetes_raw().unwrap();
    let (train, _, _) = d.split(&SplitOptions { val: 0.0, test: 0.2, seed: 0, stratify: false }).unwrap();
    let run = |data: &Dataset, lr: f64| {
        let mut params = Params::<f64>::new();
        let model = LinearRegression::new(&mut params, "lin", 10).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(lr)).unwrap();
        let r = fit(&model, &mut params, &mut opt, Loss::HalfMse, data, None, &cfg(500, usize::MAX)).unwrap();
        Report::new(check_run(&model, &params, Loss::HalfMse, &r, data).unwrap())
    };
    let report = run(&train, 1e-5);
    let f = report.find("lr-too-low").expect("a late crawl");
    assert_eq!(f.severity, Severity::Warning, "{report}");
    assert!(f.detail.contains("still falls steadily but slowly"), "{report}");
    assert!(f.fix.starts_with("standardize the features"), "{report}");
    // Standardized at lr 0.1 the same 500 steps end within 0.5 % of the optimum: quiet.
    let report = run(&standardized(&train), 0.1);
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn saturated_outputs_after_a_divergence_point_at_the_divergence_not_l2() {
    // Raw churn features, log-loss on logits at lr 0.1: the first step jumps the loss by three
    // orders of magnitude and the guard stops the run with every output saturated.
    let d = churn(2000, 0, false).unwrap();
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", d.n_features()).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
    let r = fit(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg(20, usize::MAX)).unwrap();
    assert!(r.stop.diverged(), "{}", r.stop);
    let report = Report::new(check_run(&model, &params, Loss::BceWithLogits, &r, &d).unwrap());
    assert_eq!(report.findings[0].code, "lr-too-high", "{report}");
    let s = report.find("saturated-output").expect("saturated");
    assert!(s.fix.starts_with("a consequence of the divergence: lower the learning rate"), "{report}");
    assert!(s.detail.contains("the run diverged") && !s.detail.contains("separable"), "{report}");
}

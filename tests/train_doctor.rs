//! The run doctor on real runs: each check fires on a run that has the problem and stays quiet
//! on a healthy one.

use downhill_nn::{Activation, Init, LinearRegression, LogisticRegression, Mlp};
use downhill_optim::{Adam, AdamConfig, Sgd, SgdConfig};
use downhill_tensor::{Params, Tensor, seeded_rng};
use downhill_train::data::{Dataset, SplitOptions, StandardScaler, Toy, breast_cancer, diabetes_raw, toy};
use downhill_train::doctor::{Report, Severity, check_log, check_mlp, check_run};
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

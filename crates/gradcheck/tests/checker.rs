//! The checker's behaviour: defaults, whole-model checks, f32, sampling, kinks, contraction,
//! the report, and the typed errors for misuse.

use downhill_gradcheck::{GradCheck, GradCheckError, Tolerances};
use downhill_tensor::{Error, Float, Params, Tape, Tensor, Var, seeded_rng};

fn uniform(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(dims, lo, hi, &mut seeded_rng(seed)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// settings

#[test]
fn f64_defaults_are_pytorchs() {
    let t = GradCheck::new().tolerances();
    assert_eq!(t, Tolerances { eps: 1e-6, atol: 1e-5, rtol: 1e-3 });
    assert_eq!(GradCheck::default().tolerances(), t);
    assert_eq!(GradCheck::<f64>::DEFAULT_SAMPLE_ABOVE, 4096);
    assert_eq!(GradCheck::<f64>::DEFAULT_SAMPLE_SIZE, 1024);
    let custom = GradCheck::new().eps(1e-5).atol(1e-7).rtol(1e-4);
    assert_eq!(custom.tolerances(), Tolerances { eps: 1e-5, atol: 1e-7, rtol: 1e-4 });
}

#[test]
fn the_criterion_is_symmetric_and_refuses_nan() {
    let t = Tolerances { eps: 1e-6, atol: 1e-5, rtol: 1e-3 };
    assert!(t.close(1.0, 1.0009) && t.close(1.0009, 1.0));
    assert!(!t.close(1.0, 1.002) && !t.close(1.002, 1.0));
    assert!(t.close(0.0, 9e-6) && !t.close(0.0, 2e-5));
    assert!(!t.close(f64::NAN, f64::NAN) && !t.close(0.0, f64::NAN));
    assert_eq!(t.bound(2.0, -3.0), 1e-5 + 3e-3);
}

#[test]
fn bad_settings_are_typed_errors() {
    let x = [("x", Tensor::scalar(1.0))];
    let cases = [
        (GradCheck::new().eps(0.0), "eps"),
        (GradCheck::new().eps(f64::NAN), "eps"),
        (GradCheck::new().atol(-1.0), "atol"),
        (GradCheck::new().rtol(f64::INFINITY), "rtol"),
        (GradCheck::new().atol(0.0).rtol(0.0), "atol + rtol"),
        (GradCheck::new().sample_above(10, 0), "sample size"),
    ];
    for (gc, setting) in cases {
        match gc.check(&x, |_, v| v[0].square()) {
            Err(GradCheckError::InvalidSetting { setting: s, .. }) => assert_eq!(s, setting),
            other => panic!("{setting}: expected InvalidSetting, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// whole models

/// Parameters of a 2-layer MLP `[3] → [5] → [2]`.
fn mlp_params<T: Float>(seed: u64) -> Params<T> {
    let mut p = Params::new();
    p.insert("fc1.weight", uniform(&[3, 5], -1.0, 1.0, seed).cast()).unwrap();
    p.insert("fc1.bias", uniform(&[1, 5], -0.5, 0.5, seed + 1).cast()).unwrap();
    p.insert("fc2.weight", uniform(&[5, 2], -1.0, 1.0, seed + 2).cast()).unwrap();
    p.insert("fc2.bias", uniform(&[1, 2], -0.5, 0.5, seed + 3).cast()).unwrap();
    p
}

/// MSE of the MLP (tanh hidden layer) on a fixed batch, built from ops.
fn mlp_loss<'t, T: Float>(tape: &'t Tape<T>, p: &Params<T>, x: &Tensor<T>, y: &Tensor<T>) -> Var<'t, T> {
    let param = |name: &str| tape.param(p, p.id(name).unwrap());
    let hidden = tape.constant(x).matmul(param("fc1.weight")).broadcast_add(param("fc1.bias")).tanh();
    let out = hidden.matmul(param("fc2.weight")).broadcast_add(param("fc2.bias"));
    (out - tape.constant(y)).square().mean()
}

#[test]
fn a_two_layer_mlp_loss_passes_for_every_parameter() {
    let p = mlp_params::<f64>(1);
    let (x, y) = (uniform(&[8, 3], -2.0, 2.0, 10), uniform(&[8, 2], -1.0, 1.0, 11));
    let before: Vec<Vec<f64>> = p.iter().map(|(_, _, t)| t.data().to_vec()).collect();
    let report = GradCheck::new().check_params(&p, |t, p| mlp_loss(t, p, &x, &y)).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.checked(), p.numel());
    assert_eq!(report.checked(), 15 + 5 + 10 + 2);
    let names: Vec<&str> = report.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
    assert!(!report.contracted() && !report.sampled() && report.num_kinks() == 0);
    // The caller's store is untouched: the checker perturbs a copy.
    let after: Vec<Vec<f64>> = p.iter().map(|(_, _, t)| t.data().to_vec()).collect();
    assert_eq!(before, after);
}

#[test]
fn a_parameter_the_loss_uses_but_never_brings_onto_the_tape_fails() {
    // A classic bug: the bias is read as a constant, so it gets no gradient, yet the loss moves
    // with it. The checker reports it (the analytic gradient is taken as zero).
    let p = mlp_params::<f64>(2);
    let (x, y) = (uniform(&[4, 3], -2.0, 2.0, 12), uniform(&[4, 2], -1.0, 1.0, 13));
    let report = GradCheck::new()
        .check_params(&p, |t, p| {
            let param = |name: &str| t.param(p, p.id(name).unwrap());
            let bias = t.constant(p.get(p.id("fc2.bias").unwrap()));
            let hidden = t.constant(&x).matmul(param("fc1.weight")).broadcast_add(param("fc1.bias")).tanh();
            (hidden.matmul(param("fc2.weight")).broadcast_add(bias) - t.constant(&y)).square().mean()
        })
        .unwrap();
    assert!(!report.passed());
    assert_eq!(report.num_failures(), 2);
    assert!(report.failures().iter().all(|m| m.input == "fc2.bias" && m.analytic == 0.0), "{report}");
}

// ---------------------------------------------------------------------------------------------
// f32

#[test]
fn f32_checks_run_in_f32_with_explicit_tolerances() {
    let p = mlp_params::<f32>(3);
    let (x, y) =
        (uniform(&[8, 3], -2.0, 2.0, 14).cast::<f32>(), uniform(&[8, 2], -1.0, 1.0, 15).cast::<f32>());
    let gc = GradCheck::<f32>::with_tolerances(1e-2, 1e-2, 1e-2);
    let report = gc.check_params(&p, |t, p| mlp_loss(t, p, &x, &y)).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.dtype(), "f32");
    assert_eq!(report.checked(), 32);
    assert!(
        report.to_string().starts_with("gradcheck passed (f32, eps 1e-2, atol 1e-2, rtol 1e-2)"),
        "{report}"
    );
    // f32 really is less precise than f64: the same model errs more.
    let p64 = mlp_params::<f64>(3);
    let (x64, y64) = (x.cast::<f64>(), y.cast::<f64>());
    let r64 = GradCheck::new().eps(1e-2).check_params(&p64, |t, p| mlp_loss(t, p, &x64, &y64)).unwrap();
    assert!(r64.passed(), "{r64}");
}

#[test]
fn f32_step_too_small_to_move_the_input_is_an_error() {
    let x = Tensor::from_vec(vec![1000.0f32], [1]).unwrap();
    let err = GradCheck::<f32>::with_tolerances(1e-6, 1e-2, 1e-2)
        .check(&[("x", x)], |_, v| v[0].square())
        .unwrap_err();
    match err {
        GradCheckError::StepTooSmall { input, index, dtype, .. } => {
            assert_eq!((input.as_str(), index, dtype), ("x", vec![0], "f32"));
        }
        other => panic!("expected StepTooSmall, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// sampling

#[test]
fn large_inputs_are_sampled_and_the_report_says_so() {
    let big = uniform(&[50, 100], -1.0, 1.0, 20);
    let small = uniform(&[4], -1.0, 1.0, 21);
    let report = GradCheck::new()
        .check(&[("big", big), ("small", small)], |_, v| v[0].square().sum() + v[1].exp().sum())
        .unwrap();
    assert!(report.passed(), "{report}");
    assert!(report.sampled());
    let [b, s] = report.inputs() else { panic!("two inputs") };
    assert_eq!((b.numel, b.checked, b.sampled), (5000, 1024, true));
    assert_eq!((s.numel, s.checked, s.sampled), (4, 4, false));
    assert_eq!(report.checked(), 1028);
    let text = report.to_string();
    assert!(
        text.contains("input `big` [50, 100]: 1024 of 5000 elements checked (seeded sample, seed 0)"),
        "{text}"
    );
    assert!(text.contains("input `small` [4]: all 4 elements checked"), "{text}");
}

/// `x · c(x)` where the backward is wrong everywhere (the derivative of `x²` reported as `x`),
/// so every checked element is listed and the sample can be read off the failures.
fn wrong_everywhere<'t>(_: &'t Tape<f64>, v: &[Var<'t, f64>]) -> Var<'t, f64> {
    (v[0] * v[0].detach()).sum()
}

#[test]
fn the_sample_is_seeded_deterministic_and_configurable() {
    let x = uniform(&[300], 0.5, 1.0, 22);
    let gc = GradCheck::new().sample_above(100, 16);
    let a = gc.clone().seed(5).check(&[("x", x.clone())], wrong_everywhere).unwrap();
    let b = gc.clone().seed(5).check(&[("x", x.clone())], wrong_everywhere).unwrap();
    let c = gc.clone().seed(6).check(&[("x", x.clone())], wrong_everywhere).unwrap();
    assert_eq!(a, b, "same seed, same report");
    assert_eq!(a.num_failures(), 16);
    let picked = |r: &downhill_gradcheck::Report| {
        let mut v: Vec<usize> = r.failures().iter().map(|m| m.index[0]).collect();
        v.sort();
        v
    };
    assert_ne!(picked(&a), picked(&c), "another seed samples other elements");
    let all = gc.exhaustive().check(&[("x", x)], wrong_everywhere).unwrap();
    assert!(!all.sampled());
    assert_eq!(all.num_failures(), 300);
}

// ---------------------------------------------------------------------------------------------
// kinks

#[test]
fn relu_at_zero_is_reported_as_a_kink_not_a_failure() {
    let x = Tensor::from_vec(vec![-1.0, 0.0, 2.0, 0.0, 0.5, -0.3], [2, 3]).unwrap();
    let report = GradCheck::new().check(&[("x", x)], |_, v| v[0].relu()).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.num_kinks(), 2);
    let indices: Vec<&[usize]> = report.kinks().iter().map(|k| k.index.as_slice()).collect();
    assert_eq!(indices, [&[0, 1][..], &[1, 0][..]]);
    for k in report.kinks() {
        // relu'(0) = 0 is the left slope; the right slope is the cotangent weight, |c| ≥ 0.5.
        assert_eq!(k.analytic, 0.0);
        assert!(k.left.abs() < 1e-9 && k.right.abs() >= 0.5, "{k:?}");
    }
    assert!(report.to_string().contains("kinks (one-sided slopes disagree"), "{report}");
}

#[test]
fn kinks_of_abs_max_clamp_and_maximum_are_reported() {
    let gc = GradCheck::new();
    let x = Tensor::from_vec(vec![0.0, 1.0, -1.0], [3]).unwrap();
    let abs = gc.check(&[("x", x)], |_, v| v[0].abs()).unwrap();
    assert!(abs.passed() && abs.num_kinks() == 1, "{abs}");

    let tie = Tensor::from_vec(vec![2.0, -1.0, 2.0], [3]).unwrap();
    let max = gc.check(&[("x", tie)], |_, v| v[0].max()).unwrap();
    assert!(max.passed() && max.num_kinks() == 2, "{max}");

    let x = Tensor::from_vec(vec![-1.0, 0.3, 1.0, 2.0], [4]).unwrap();
    let clamp = gc.check(&[("x", x)], |_, v| v[0].clamp(-1.0, 1.0)).unwrap();
    assert!(clamp.passed() && clamp.num_kinks() == 2, "{clamp}");

    let (a, b) =
        (Tensor::from_vec(vec![1.0, 2.0], [2]).unwrap(), Tensor::from_vec(vec![1.0, 3.0], [2]).unwrap());
    let maximum = gc.check(&[("a", a), ("b", b)], |_, v| v[0].maximum(v[1])).unwrap();
    assert!(maximum.passed() && maximum.num_kinks() == 2, "{maximum}");
}

#[test]
fn strong_curvature_is_not_mistaken_for_a_kink() {
    // 1/x near 0.05 curves hard (f'' = 2/x³ = 16000), so the one-sided slopes at h = 1e-6
    // disagree by ~0.016; the finer step shows the function is smooth there.
    let x = Tensor::from_vec(vec![0.05, 0.07, -0.06], [3]).unwrap();
    let report = GradCheck::new().check(&[("x", x)], |_, v| (1.0 / v[0]).sum()).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.num_kinks(), 0, "{report}");
}

// ---------------------------------------------------------------------------------------------
// contraction and the report

#[test]
fn non_scalar_outputs_are_contracted_with_a_random_cotangent() {
    let x = uniform(&[2, 3], -1.0, 1.0, 30);
    let report = GradCheck::new().check(&[("x", x.clone())], |_, v| v[0].tanh()).unwrap();
    assert!(report.contracted() && report.passed(), "{report}");
    assert_eq!(report.output_dims(), [2, 3]);
    assert!(report.to_string().contains("output [2, 3] contracted with a seeded random cotangent (seed 0)"));
    // A rank-0 output is used as is; a one-element rank-1 output is not a scalar and is
    // contracted.
    let scalar = GradCheck::new().check(&[("x", x.clone())], |_, v| v[0].sum()).unwrap();
    assert!(!scalar.contracted() && scalar.output_dims().is_empty());
    let one = GradCheck::new().check(&[("x", x)], |_, v| v[0].sum().reshape([1])).unwrap();
    assert!(one.contracted() && one.passed());
}

#[test]
fn failures_are_sorted_worst_first_with_both_errors() {
    // d/dx of x·detach(x) is reported as x, while the true derivative is 2x: the error is |x|,
    // so the largest |x| must come first.
    let x = Tensor::from_vec(vec![0.5, -3.0, 1.0, 2.0], [4]).unwrap();
    let report = GradCheck::new().check(&[("x", x)], wrong_everywhere).unwrap();
    let order: Vec<usize> = report.failures().iter().map(|m| m.index[0]).collect();
    assert_eq!(order, [1, 3, 2, 0]);
    let worst = &report.failures()[0];
    assert_eq!(worst.analytic, -3.0);
    assert!((worst.numeric + 6.0).abs() < 1e-6);
    assert!((worst.abs_error - 3.0).abs() < 1e-6 && (worst.rel_error - 0.5).abs() < 1e-6);
    assert!(worst.excess > 1.0);
    assert!((report.max_abs_error() - 3.0).abs() < 1e-6);
    assert!((report.max_rel_error() - 0.5).abs() < 1e-6);
}

#[test]
fn a_failure_report_reads_as_a_table() {
    // Polynomials only, so every digit is the same on every platform.
    let x = Tensor::from_vec(vec![0.5, -3.0, 1.0, 2.0, 0.0, 1.5], [2, 3]).unwrap();
    let w = Tensor::from_vec(vec![1.0, -1.0], [2]).unwrap();
    let report = GradCheck::new()
        .check(&[("x", x), ("w", w)], |_, v| {
            (v[0] * v[0].detach()).sum() + v[1].square().sum() + v[0].abs().sum()
        })
        .unwrap();
    insta::assert_snapshot!(report.to_string());
}

#[test]
fn more_failures_than_rows_are_summarised() {
    let x = uniform(&[20], 0.5, 1.0, 31);
    let report = GradCheck::new().check(&[("x", x)], wrong_everywhere).unwrap();
    assert_eq!(report.num_failures(), 20);
    assert!(report.to_string().contains("... and 8 more"), "{report}");
}

// ---------------------------------------------------------------------------------------------
// errors

#[test]
fn no_inputs_is_an_error() {
    let none: [(&str, Tensor<f64>); 0] = [];
    assert_eq!(GradCheck::new().check(&none, |t, _| t.scalar(1.0)).unwrap_err(), GradCheckError::NoInputs);
    let empty = Params::<f64>::new();
    assert_eq!(
        GradCheck::new().check_params(&empty, |t, _| t.scalar(1.0)).unwrap_err(),
        GradCheckError::NoInputs
    );
}

#[test]
fn non_finite_inputs_are_refused_with_their_position() {
    let x = Tensor::from_vec(vec![1.0, 2.0, f64::NAN, 4.0], [2, 2]).unwrap();
    match GradCheck::new().check(&[("ok", Tensor::scalar(1.0)), ("x", x)], |_, v| v[1].sum()).unwrap_err() {
        GradCheckError::NonFiniteInput { input, index, value } => {
            assert_eq!((input.as_str(), index), ("x", vec![1, 0]));
            assert!(value.is_nan());
        }
        other => panic!("expected NonFiniteInput, got {other:?}"),
    }
}

#[test]
fn leaving_the_domain_within_eps_is_a_non_finite_value_error() {
    let x = Tensor::from_vec(vec![1.0, 1e-7], [2]).unwrap();
    let err = GradCheck::new().check(&[("x", x)], |_, v| v[0].log().sum()).unwrap_err();
    match &err {
        GradCheckError::NonFiniteValue { point, value } => {
            assert!(value.is_nan());
            assert_eq!(point, "with input `x`[1] moved by -1e-6");
        }
        other => panic!("expected NonFiniteValue, got {other:?}"),
    }
    assert!(err.to_string().contains("keep the inputs inside the function's domain"));
    let at_base = Tensor::from_vec(vec![0.0], [1]).unwrap();
    let err = GradCheck::new().check(&[("x", at_base)], |_, v| v[0].log().sum()).unwrap_err();
    assert!(
        matches!(err, GradCheckError::NonFiniteValue { ref point, .. } if point == "at the unperturbed inputs")
    );
}

#[test]
fn tensor_errors_from_the_function_pass_through_unchanged() {
    let (a, b) = (Tensor::<f64>::zeros([2, 1]), Tensor::<f64>::zeros([2]));
    let err = GradCheck::new().check(&[("a", a), ("b", b)], |_, v| (v[0] - v[1]).sum()).unwrap_err();
    assert!(matches!(err, GradCheckError::Tensor(Error::ShapeMismatch { op: "sub", .. })), "{err:?}");
    // The message is the tensor crate's, with its fix.
    assert!(err.to_string().starts_with("sub: shapes [2, 1] and [2] differ"), "{err}");

    let twice = [("x", Tensor::scalar(1.0)), ("x", Tensor::scalar(2.0))];
    let err = GradCheck::new().check(&twice, |_, v| v[0] + v[1]).unwrap_err();
    assert!(matches!(err, GradCheckError::Tensor(Error::DuplicateParam { .. })), "{err:?}");
}

#[test]
fn an_output_shape_that_depends_on_the_values_is_an_error() {
    let x = Tensor::from_vec(vec![1.0], [1]).unwrap();
    let err = GradCheck::new()
        .check(&[("x", x)], |_, v| {
            let big = v[0].value().map(|t| t.data()[0] > 1.0).unwrap_or(false);
            if big { v[0].reshape([1, 1]) } else { v[0] }
        })
        .unwrap_err();
    assert_eq!(
        err,
        GradCheckError::OutputShapeChanged { input: "x".into(), before: vec![1], after: vec![1, 1] }
    );
}

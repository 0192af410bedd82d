//! Optimizer-state and hyperparameter errors: typed, snapshotted, and all-or-nothing (a failed
//! load leaves the optimizer exactly as it was).

mod common;

use common::Problem;
use downhill_optim::schedule::Cosine;
use downhill_optim::*;
use downhill_tensor::{Error, Params, Tensor};
use insta::assert_snapshot;

fn msg<T>(r: Result<T, Error>) -> (Error, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let s = e.to_string();
            (e, s)
        }
    }
}

fn adam() -> Adam<f64> {
    Adam::new(AdamConfig { lr: 0.01, ..Default::default() }).unwrap()
}

/// Adam's state after two steps on the golden problem.
fn saved() -> (Problem, OptimizerState<f64>) {
    let mut p = Problem::new();
    let mut opt = adam();
    p.step(&mut opt).unwrap();
    p.step(&mut opt).unwrap();
    let st = OptimizerState::from_bytes(&opt.state(&p.params).unwrap().to_bytes().unwrap()).unwrap();
    (p, st)
}

/// Loads `st` into an optimizer that has taken one step, checks the error and that the optimizer
/// is unchanged.
fn rejected(opt: &mut dyn Optimizer<f64>, st: &OptimizerState<f64>, params: &Params<f64>) -> (Error, String) {
    let mut p = Problem::new();
    p.step(opt).unwrap();
    let before = opt.state(&p.params).unwrap().to_bytes().unwrap();
    let out = msg(opt.load_state(st, params));
    assert_eq!(
        opt.state(&p.params).unwrap().to_bytes().unwrap(),
        before,
        "a failed load changed the optimizer"
    );
    out
}

#[test]
fn hyperparameter_out_of_range() {
    let (e, s) = msg(Adam::<f64>::new(AdamConfig { beta2: 1.0, ..Default::default() }));
    assert!(matches!(e, Error::Hyperparameter { name: "beta2", .. }));
    assert_snapshot!("adam_beta2_is_one", s);
    let (_, s) = msg(Cosine::with_floor(0.1, 100, 0.5));
    assert_snapshot!("cosine_floor_above_lr", s);
    let (_, s) = msg(Lbfgs::<f64>::new(LbfgsConfig { history_size: 0, ..Default::default() }));
    assert_snapshot!("lbfgs_history_zero", s);
}

#[test]
fn wrong_optimizer_kind() {
    let (p, st) = saved();
    let mut sgd = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    let (e, s) = rejected(&mut sgd, &st, &p.params);
    assert!(matches!(e, Error::StateKind { .. }));
    assert_snapshot!("kind_adam_into_sgd", s);
    let mut lbfgs = Lbfgs::<f64>::new(LbfgsConfig::default()).unwrap();
    assert!(matches!(lbfgs.load_state(&st, &p.params), Err(Error::StateKind { .. })));
}

#[test]
fn unknown_and_missing_parameter_names() {
    let (_, st) = saved();
    // The model lost "fc.bias" and gained "head.weight".
    let mut params = Params::new();
    params.insert("fc.weight", Tensor::<f64>::zeros([3, 2])).unwrap();
    params.insert("head.weight", Tensor::<f64>::zeros([1, 2])).unwrap();
    let (e, s) = rejected(&mut adam(), &st, &params);
    assert!(matches!(&e, Error::StateUnknownParam { name, .. } if name == "fc.bias"));
    assert_snapshot!("unknown_param", s);
    // The model gained "head.weight" only.
    let mut params = Problem::new().params;
    params.insert("head.weight", Tensor::<f64>::zeros([1, 2])).unwrap();
    let (e, s) = rejected(&mut adam(), &st, &params);
    assert!(matches!(&e, Error::StateMissingParam { name, .. } if name == "head.weight"));
    assert_snapshot!("missing_param", s);
}

#[test]
fn shape_mismatch() {
    let (_, st) = saved();
    let mut params = Params::new();
    params.insert("fc.weight", Tensor::<f64>::zeros([2, 3])).unwrap();
    params.insert("fc.bias", Tensor::<f64>::zeros([1, 2])).unwrap();
    let (e, s) = rejected(&mut adam(), &st, &params);
    assert!(matches!(e, Error::StateShape { .. }));
    assert_snapshot!("shape_mismatch", s);
}

#[test]
fn settings_mismatch() {
    let (p, st) = saved();
    let mut other = Adam::new(AdamConfig { lr: 0.02, ..Default::default() }).unwrap();
    let (e, s) = rejected(&mut other, &st, &p.params);
    assert!(matches!(&e, Error::StateMismatch { field, .. } if field == "lr"));
    assert_snapshot!("lr_mismatch", s);
    let mut scheduled = adam().with_schedule(Cosine::new(0.01, 10).unwrap());
    let (e, _) = rejected(&mut scheduled, &st, &p.params);
    assert!(matches!(&e, Error::StateMismatch { field, .. } if field == "schedule"));
    let mut grouped = adam().with_group(ParamGroup::no_decay_on_biases()).unwrap();
    let (e, _) = rejected(&mut grouped, &st, &p.params);
    assert!(matches!(&e, Error::StateMismatch { field, .. } if field == "groups"));
}

#[test]
fn malformed_state() {
    let (p, st) = saved();
    let mut broken = st.clone();
    broken.tensors.retain(|(n, _)| n != "exp_avg_sq/fc.bias");
    let (e, s) = rejected(&mut adam(), &broken, &p.params);
    assert!(matches!(e, Error::StateCorrupt { .. }));
    assert_snapshot!("missing_buffer", s);
    let mut extra = st.clone();
    extra.tensors.push(("stray/fc.bias".into(), Tensor::zeros([1, 2])));
    let (e, _) = rejected(&mut adam(), &extra, &p.params);
    assert!(matches!(e, Error::StateCorrupt { .. }), "{e}");
    let mut bad_step = st.clone();
    bad_step.metadata.insert("step".into(), "two".into());
    let (e, _) = rejected(&mut adam(), &bad_step, &p.params);
    assert!(matches!(e, Error::StateCorrupt { .. }), "{e}");
    // Not a state file at all.
    assert!(matches!(OptimizerState::<f64>::from_bytes(b"garbage"), Err(Error::Safetensors { .. })));
    // A weights file (no "kind") is not optimizer state.
    let weights =
        downhill_tensor::io::to_bytes(p.params.iter().map(|(_, n, t)| (n, t)), &Default::default()).unwrap();
    let (e, s) = msg(OptimizerState::<f64>::from_bytes(&weights));
    assert!(matches!(e, Error::StateCorrupt { .. }));
    assert_snapshot!("weights_file_is_not_state", s);
}

#[test]
fn state_file_round_trip_and_missing_file() {
    let (p, st) = saved();
    let dir = std::env::temp_dir().join(format!("downhill-optim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("adam.safetensors");
    st.save(&path).unwrap();
    let back = OptimizerState::<f64>::load(&path).unwrap();
    assert_eq!(back.tensors, st.tensors);
    assert_eq!(back.metadata, st.metadata);
    assert_eq!(back.kind(), Some("adam"));
    assert_eq!(back.step().unwrap(), 2);
    let names: Vec<&str> = back.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["exp_avg/fc.bias", "exp_avg/fc.weight", "exp_avg_sq/fc.bias", "exp_avg_sq/fc.weight"]);
    let mut opt = adam();
    opt.load_state(&back, &p.params).unwrap();
    assert_eq!(opt.step_count(), 2);
    assert!(matches!(OptimizerState::<f64>::load(dir.join("nope.safetensors")), Err(Error::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

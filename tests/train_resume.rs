//! Resume is bit-identical in a fresh process.
//!
//! Each scenario runs N steps straight, and again as k steps → checkpoint file → a *separate
//! process* (this test binary re-invoked on its ignored `child_resume` test, with the scenario,
//! the checkpoint and an output path in environment variables) that builds the model and
//! optimizer from scratch, resumes, runs to N and writes its own checkpoint. The two final
//! checkpoints must be byte-identical: weights, optimizer state, cursor, step counter,
//! early-stopping state, best parameters and the whole run log.

use std::path::{Path, PathBuf};
use std::process::Command;

use downhill_nn::{Activation, Init, LogisticRegression, Mlp, Module};
use downhill_optim::schedule::Cosine;
use downhill_optim::{Adam, AdamConfig, Momentum, MomentumConfig, Optimizer, Sgd, SgdConfig};
use downhill_tensor::{Float, Params, seeded_rng};
use downhill_train::checkpoint::Checkpoint;
use downhill_train::data::{Dataset, SplitOptions, StandardScaler, Toy, breast_cancer, toy};
use downhill_train::fit::{FitConfig, Loss, Trainer};
use downhill_train::progress::ProgressMode;
use downhill_train::stop::{EarlyStopping, Guards, StopReason};
use downhill_train::{Error, Result};

const SCENARIO: &str = "DOWNHILL_RESUME_SCENARIO";
const FROM: &str = "DOWNHILL_RESUME_FROM";
const OUT: &str = "DOWNHILL_RESUME_OUT";

/// What a scenario run does.
enum Mode<'a> {
    /// Run to `n` steps (`u64::MAX`: to the end).
    Straight(u64),
    /// Run to `k` steps and save a checkpoint there.
    Part(u64, &'a Path),
    /// Resume from a checkpoint and run to `n`.
    Resume(&'a Path, u64),
}

/// Runs a trainer as `mode` says and returns the final checkpoint's bytes.
#[allow(clippy::too_many_arguments)]
fn drive<T: Float, M: Module<T>, O: Optimizer<T>>(
    model: &M,
    params: &mut Params<T>,
    opt: &mut O,
    loss: Loss,
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &FitConfig,
    mode: &Mode,
) -> Result<Vec<u8>> {
    let mut t = Trainer::new(model, params, opt, loss, train, val, cfg)?;
    match *mode {
        Mode::Straight(n) => t.run_until(n)?,
        Mode::Part(k, path) => {
            t.run_until(k)?;
            t.save_checkpoint(path)?;
        }
        Mode::Resume(path, n) => {
            t.resume_from_checkpoint(path)?;
            t.run_until(n)?;
        }
    }
    t.checkpoint()?.to_bytes()
}

fn moons(n: usize, seed: u64) -> (Dataset, Dataset) {
    let d = toy(Toy::Moons, n, 0.25, seed).unwrap();
    let (tr, va, _) = d.split(&SplitOptions { val: 0.25, test: 0.0, seed, stratify: false }).unwrap();
    (tr, va)
}

fn mlp<T: Float>(params: &mut Params<T>, hidden: usize, seed: u64) -> Mlp {
    Mlp::new(params, "mlp", &[2, hidden, 1], Activation::Tanh, Init::XavierUniform, &mut seeded_rng(seed))
        .unwrap()
}

/// Every scenario: (name, total steps N, checkpoint step k).
const SCENARIOS: &[(&str, u64, u64)] = &[
    // Full-batch SGD on standardized breast cancer (logistic regression), f64.
    ("sgd_full_batch", 40, 17),
    // Classical momentum, mini-batches of 16 of 150 rows (10 per epoch), f32, resumed mid-epoch 2.
    ("momentum_f32_minibatch", 47, 23),
    // Adam with a cosine schedule and L2, mini-batches of 7, resumed mid-epoch.
    ("adam_schedule_l2_minibatch", 90, 38),
    // Adam with early stopping (restore best) on a validation split; runs until patience ends.
    ("adam_early_stopping", u64::MAX, 443),
    // Full-batch SGD with the consecutive-increase guard: the guard's streak spans the checkpoint.
    ("sgd_increasing_guard", u64::MAX, 9),
];

fn scenario(name: &str, mode: &Mode) -> Result<Vec<u8>> {
    let quiet = FitConfig { progress: ProgressMode::Never, ..FitConfig::default() };
    match name {
        "sgd_full_batch" => {
            let d = breast_cancer()?;
            let s = StandardScaler::fit(&d.x)?;
            let d = Dataset { x: s.transform(&d.x)?, ..d };
            let mut params = Params::<f64>::new();
            let model = LogisticRegression::new(&mut params, "logreg", 30)?;
            let mut opt = Sgd::new(SgdConfig::lr(0.5))?;
            let cfg = FitConfig { epochs: 100, batch_size: usize::MAX, ..quiet };
            drive(&model, &mut params, &mut opt, Loss::BceWithLogits, &d, None, &cfg, mode)
        }
        "momentum_f32_minibatch" => {
            let (tr, va) = moons(200, 1);
            let mut params = Params::<f32>::new();
            let model = mlp(&mut params, 12, 2);
            let mut opt = Momentum::new(MomentumConfig { lr: 0.05, ..MomentumConfig::default() })?;
            let cfg = FitConfig { epochs: 30, batch_size: 16, seed: 9, ..quiet };
            drive(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg, mode)
        }
        "adam_schedule_l2_minibatch" => {
            let (tr, va) = moons(120, 3);
            let mut params = Params::<f64>::new();
            let model = mlp(&mut params, 10, 4);
            let mut opt = Adam::new(AdamConfig { lr: 0.02, ..AdamConfig::default() })?
                .with_schedule(Cosine::new(0.02, 100).map_err(Error::from)?);
            let l2 = Some(downhill_nn::L2::new(1e-3));
            let cfg = FitConfig { epochs: 20, batch_size: 7, seed: 5, l2, ..quiet };
            drive(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg, mode)
        }
        "adam_early_stopping" => {
            let (tr, va) = moons(160, 6);
            let mut params = Params::<f64>::new();
            let model = Mlp::new(
                &mut params,
                "mlp",
                &[2, 32, 32, 1],
                Activation::Relu,
                Init::HeNormal,
                &mut seeded_rng(7),
            )?;
            let mut opt = Adam::new(AdamConfig { lr: 0.004, ..AdamConfig::default() })?;
            let es = EarlyStopping { patience: 5, min_delta: 1e-3, restore_best: true };
            let cfg = FitConfig { epochs: 300, batch_size: 12, seed: 8, early_stopping: Some(es), ..quiet };
            drive(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg, mode)
        }
        "sgd_increasing_guard" => {
            // Plain least squares at a learning rate just past the stable bound: the loss grows
            // by a factor < 10 per step, so only the streak guard stops it.
            let x: Vec<f64> = (0..40).map(|i| (i as f64 / 10.0).sin() * 2.0).collect();
            let y: Vec<f64> = x.iter().map(|v| 3.0 * v - 1.0).collect();
            let d = Dataset::new(vec!["x".into()], "y", x, y)?;
            let mut params = Params::<f64>::new();
            let model = downhill_nn::LinearRegression::new(&mut params, "lin", 1)?;
            let mut opt = Sgd::new(SgdConfig::lr(1.05))?;
            let guards = Guards { max_jump: Some(10.0), max_param_norm: None, max_increases: Some(12) };
            let cfg = FitConfig { epochs: 500, batch_size: usize::MAX, guards, ..quiet };
            drive(&model, &mut params, &mut opt, Loss::HalfMse, &d, None, &cfg, mode)
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

fn tmp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-resume-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Explains which part of two checkpoints differs (bytes alone would say only "not equal").
fn assert_same(name: &str, straight: &[u8], resumed: &[u8]) {
    let a = Checkpoint::<f64>::from_bytes(straight);
    let b = Checkpoint::<f64>::from_bytes(resumed);
    if let (Ok(a), Ok(b)) = (&a, &b) {
        let bits = |c: &Checkpoint<f64>| -> Vec<(String, Vec<u64>)> {
            c.params
                .iter()
                .map(|(n, t)| (n.clone(), t.data().iter().map(|v| v.to_bits()).collect()))
                .collect()
        };
        assert_eq!(bits(a), bits(b), "{name}: parameters differ");
        assert_eq!(
            a.optimizer.to_bytes().unwrap(),
            b.optimizer.to_bytes().unwrap(),
            "{name}: optimizer state differs"
        );
        assert_eq!(a.log.steps_csv().unwrap(), b.log.steps_csv().unwrap(), "{name}: step log differs");
        assert_eq!(a.log.epochs_csv().unwrap(), b.log.epochs_csv().unwrap(), "{name}: epoch log differs");
        assert_eq!((a.cursor, a.step, &a.stop), (b.cursor, b.step, &b.stop), "{name}: position differs");
    }
    assert!(
        straight == resumed,
        "{name}: the resumed run's checkpoint is not byte-identical to the straight run's"
    );
}

/// The child half: resume the scenario named in the environment from its checkpoint.
#[test]
#[ignore = "the child process of resume_in_a_fresh_process_is_bit_identical (run by it, with its environment)"]
fn child_resume() {
    let name = std::env::var(SCENARIO).expect("run by resume_in_a_fresh_process_is_bit_identical");
    let from = PathBuf::from(std::env::var(FROM).expect("checkpoint path"));
    let out = PathBuf::from(std::env::var(OUT).expect("output path"));
    let &(_, n, _) = SCENARIOS.iter().find(|s| s.0 == name).expect("known scenario");
    let bytes = scenario(&name, &Mode::Resume(&from, n)).unwrap();
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn resume_in_a_fresh_process_is_bit_identical() {
    let dir = tmp_dir("process");
    let exe = std::env::current_exe().unwrap();
    for &(name, n, k) in SCENARIOS {
        let straight = scenario(name, &Mode::Straight(n)).unwrap();
        let ckpt = dir.join(format!("{name}.k.safetensors"));
        scenario(name, &Mode::Part(k, &ckpt)).unwrap();
        let out = dir.join(format!("{name}.out.safetensors"));
        let child = Command::new(&exe)
            .args(["child_resume", "--exact", "--ignored", "--test-threads=1", "--nocapture"])
            .env(SCENARIO, name)
            .env(FROM, &ckpt)
            .env(OUT, &out)
            .output()
            .unwrap();
        assert!(
            child.status.success(),
            "{name}: the child process failed ({}):\n{}\n{}",
            child.status,
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
        let resumed = std::fs::read(&out).unwrap();
        assert_same(name, &straight, &resumed);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What each scenario's checkpoint at step k holds: resumed mid-epoch where promised, early
/// stopping with a best epoch and a wait in progress, a guard streak under way.
#[test]
fn the_checkpoints_are_where_the_scenarios_say() {
    let dir = tmp_dir("where");
    let load = |name: &str, k: u64| {
        let p = dir.join(format!("{name}.safetensors"));
        scenario(name, &Mode::Part(k, &p)).unwrap();
        p
    };
    let ck = Checkpoint::<f32>::load(load("momentum_f32_minibatch", 23)).unwrap();
    assert_eq!((ck.cursor.epoch, ck.cursor.batch, ck.step), (2, 3, 23), "mid-epoch: 10 batches per epoch");
    assert_eq!(ck.optimizer.kind(), Some("momentum"));
    assert!(ck.optimizer.tensors.iter().any(|(n, _)| n.starts_with("momentum_buffer/")));
    let ck = Checkpoint::<f64>::load(load("adam_schedule_l2_minibatch", 38)).unwrap();
    assert!(ck.cursor.batch > 0, "{:?}", ck.cursor);
    assert_eq!(ck.optimizer.step().unwrap(), 38);
    let ck = Checkpoint::<f64>::load(load("adam_early_stopping", 443)).unwrap();
    assert!(ck.cursor.batch > 0, "{:?}", ck.cursor);
    assert!(ck.early.best.is_some() && ck.best.is_some() && ck.best_epoch.is_some(), "{:?}", ck.early);
    assert!(ck.early.waited > 0, "patience is being spent across the checkpoint: {:?}", ck.early);
    assert_eq!(ck.stop, None);
    // The straight runs end the way the scenarios say.
    let end =
        Checkpoint::<f64>::from_bytes(&scenario("adam_early_stopping", &Mode::Straight(u64::MAX)).unwrap())
            .unwrap();
    assert!(matches!(end.stop, Some(StopReason::EarlyStopping { .. })), "{:?}", end.stop);
    assert!(end.step > 443);
    let end =
        Checkpoint::<f64>::from_bytes(&scenario("sgd_increasing_guard", &Mode::Straight(u64::MAX)).unwrap())
            .unwrap();
    assert!(matches!(end.stop, Some(StopReason::Increasing { count: 12, .. })), "{:?}", end.stop);
    assert!(end.step > 9 + 1 && end.step < 9 + 12, "the streak must span the checkpoint: {}", end.step);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small run to provoke resume errors with: an MLP on moons with a validation split.
struct Small {
    tr: Dataset,
    va: Dataset,
    cfg: FitConfig,
}

fn small() -> Small {
    let (tr, va) = moons(100, 11);
    Small {
        tr,
        va,
        cfg: FitConfig {
            epochs: 6,
            batch_size: 8,
            seed: 3,
            progress: ProgressMode::Never,
            ..FitConfig::default()
        },
    }
}

/// Saves the small run's checkpoint after `k` steps with Adam.
fn small_checkpoint(s: &Small, k: u64, path: &Path) {
    let mut params = Params::<f64>::new();
    let model = mlp(&mut params, 8, 1);
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let mut t =
        Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &s.tr, Some(&s.va), &s.cfg).unwrap();
    t.run_until(k).unwrap();
    t.save_checkpoint(path).unwrap();
}

fn bits(p: &Params<f64>) -> Vec<u64> {
    p.iter().flat_map(|(_, _, t)| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect()
}

#[test]
fn a_checkpoint_of_another_run_is_a_typed_error_and_changes_nothing() {
    let dir = tmp_dir("errors");
    let path = dir.join("small.safetensors");
    let s = small();
    small_checkpoint(&s, 20, &path);

    // Another model: other layer sizes.
    let mut params = Params::<f64>::new();
    let model = mlp(&mut params, 9, 1);
    let before = bits(&params);
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let mut t =
        Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &s.tr, Some(&s.va), &s.cfg).unwrap();
    let e = t.resume_from_checkpoint(&path).unwrap_err();
    assert!(matches!(&e, Error::Tensor(downhill_tensor::Error::TensorShape { .. })), "{e}");
    assert_eq!(t.step_count(), 0);
    drop(t);
    assert_eq!(bits(&params), before, "a failed resume leaves the weights alone");

    // Another model: other parameter names.
    let mut params = Params::<f64>::new();
    let model =
        Mlp::new(&mut params, "net", &[2, 8, 1], Activation::Tanh, Init::XavierUniform, &mut seeded_rng(1))
            .unwrap();
    let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let mut t =
        Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &s.tr, Some(&s.va), &s.cfg).unwrap();
    let e = t.resume_from_checkpoint(&path).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::CheckpointCorrupt { .. } | Error::Tensor(downhill_tensor::Error::MissingTensor { .. })
        ),
        "{e}"
    );

    // Another optimizer: the state's kind is checked, and the optimizer is left as it was.
    let mut params = Params::<f64>::new();
    let model = mlp(&mut params, 8, 1);
    let before = bits(&params);
    let mut opt = Sgd::new(SgdConfig::lr(0.01)).unwrap();
    let mut t =
        Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &s.tr, Some(&s.va), &s.cfg).unwrap();
    let e = t.resume_from_checkpoint(&path).unwrap_err();
    assert!(
        matches!(&e, Error::Tensor(downhill_tensor::Error::StateKind { found, .. }) if found == "adam"),
        "{e}"
    );
    assert_eq!(t.optimizer().step_count(), 0);
    drop(t);
    assert_eq!(bits(&params), before);

    // Another seed, batch size, loss, data, or early-stopping setting.
    let cases: Vec<(&str, FitConfig, Loss, &Dataset)> = vec![
        ("seed", FitConfig { seed: 4, ..s.cfg.clone() }, Loss::BceWithLogits, &s.tr),
        ("batch_size", FitConfig { batch_size: 9, ..s.cfg.clone() }, Loss::BceWithLogits, &s.tr),
        ("loss", s.cfg.clone(), Loss::Mse, &s.tr),
        ("training data", s.cfg.clone(), Loss::BceWithLogits, &s.va),
        (
            "early_stopping",
            FitConfig {
                early_stopping: Some(EarlyStopping { patience: 2, min_delta: 0.0, restore_best: false }),
                ..s.cfg.clone()
            },
            Loss::BceWithLogits,
            &s.tr,
        ),
    ];
    let other_rows = moons(100, 12).0;
    for (field, cfg, loss, train) in cases {
        // Same row count but other rows: the checksum notices.
        let train = if field == "training data" { &other_rows } else { train };
        let mut params = Params::<f64>::new();
        let model = mlp(&mut params, 8, 1);
        let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
        let mut t = Trainer::new(&model, &mut params, &mut opt, loss, train, Some(&s.va), &cfg).unwrap();
        let e = t.resume_from_checkpoint(&path).unwrap_err();
        match &e {
            Error::CheckpointMismatch { field: f, .. } => assert_eq!(f, field, "{e}"),
            other => panic!("{field}: expected a CheckpointMismatch, got {other}"),
        }
        assert!(e.to_string().contains(&format!("{field} is ")), "{e}");
        assert_eq!((t.step_count(), t.optimizer().step_count()), (0, 0), "{field}");
    }

    // A weights file is not a checkpoint; an f64 checkpoint does not load as f32.
    let weights = dir.join("weights.safetensors");
    let mut params = Params::<f64>::new();
    mlp(&mut params, 8, 1);
    downhill_tensor::io::save_params(&weights, &params, &Default::default()).unwrap();
    let e = Checkpoint::<f64>::load(&weights).unwrap_err();
    assert!(
        matches!(&e, Error::CheckpointCorrupt { message, .. } if message.contains("not a downhill checkpoint")),
        "{e}"
    );
    assert!(matches!(
        Checkpoint::<f32>::load(&path),
        Err(Error::Tensor(downhill_tensor::Error::Dtype { .. }))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_that_used_its_budget_continues_with_a_larger_one() {
    let dir = tmp_dir("budget");
    let s = small();
    let run = |epochs: u64, resume: Option<&Path>, save: Option<&Path>| {
        let cfg = FitConfig { epochs, ..s.cfg.clone() };
        let mut params = Params::<f64>::new();
        let model = mlp(&mut params, 8, 1);
        let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
        let mut t =
            Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &s.tr, Some(&s.va), &cfg)
                .unwrap();
        if let Some(p) = resume {
            t.resume_from_checkpoint(p)?;
        }
        t.run()?;
        if let Some(p) = save {
            t.save_checkpoint(p)?;
        }
        Ok::<_, Error>((t.result(), t.checkpoint()?.to_bytes()?))
    };
    let three = dir.join("three.safetensors");
    let (r3, _) = run(3, None, Some(&three)).unwrap();
    assert_eq!(r3.stop, StopReason::MaxEpochs);
    let (r5, straight) = run(5, None, None).unwrap();
    let (resumed_result, resumed) = run(5, Some(&three), None).unwrap();
    assert_eq!(resumed_result, r5);
    assert_same("3 then 2 more epochs", &straight, &resumed);
    // A run already past this budget cannot be resumed into it.
    let Err(e) = run(2, Some(&three), None) else { panic!("resuming past the budget must fail") };
    assert!(matches!(&e, Error::CheckpointMismatch { field, .. } if field == "epochs"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_scaler_travels_with_the_checkpoint() {
    let d = breast_cancer().unwrap();
    let (tr, _, _) = d.split(&SplitOptions { val: 0.0, test: 0.2, seed: 0, stratify: true }).unwrap();
    let scaler = StandardScaler::fit(&tr.x).unwrap();
    let tr = Dataset { x: scaler.transform(&tr.x).unwrap(), ..tr };
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", 30).unwrap();
    let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
    let cfg = FitConfig { epochs: 2, progress: ProgressMode::Never, ..FitConfig::default() };
    let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &tr, None, &cfg).unwrap();
    t.run_until(5).unwrap();
    let bytes = t.checkpoint().unwrap().with_scaler(scaler.clone()).to_bytes().unwrap();
    let back = Checkpoint::<f64>::from_bytes(&bytes).unwrap();
    assert_eq!(back.scaler.as_ref(), Some(&scaler), "means and stds read back bit for bit");
    assert_eq!(back.log, t.log().clone());
    assert_eq!(back.to_bytes().unwrap(), bytes, "a loaded checkpoint writes the same bytes");
}

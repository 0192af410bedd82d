//! Runs the built `downhill` binary on small CSV files written to a temporary directory and on
//! the bundled `data/` files: success paths (JSON summaries, run directories, weights that load
//! back), every error class with its exit code and message (snapshotted), doctor and sweep.

use std::path::{Path, PathBuf};
use std::process::Command;

use downhill_nn::{LinearRegression, weights};
use downhill_tensor::Float;
use downhill_tensor::Params;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_downhill");

/// The workspace root (where `data/` is).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `downhill args...` in `dir`.
fn run(dir: &Path, args: &[&str]) -> Out {
    let o = Command::new(BIN).args(args).current_dir(dir).output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

/// y = 2a − b + 1 on a small grid (exactly linear).
fn write_line(dir: &Path) {
    let mut s = String::from("a,b,y\n");
    for i in 0..6 {
        for j in 0..5 {
            let (a, b) = (i as f64 * 0.5 - 1.0, j as f64 * 0.25);
            s.push_str(&format!("{a},{b},{}\n", 2.0 * a - b + 1.0));
        }
    }
    std::fs::write(dir.join("line.csv"), s).unwrap();
}

fn values(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn param<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["params"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn fit_linear_json_has_every_parameter_and_the_fit() {
    let dir = scratch("fit-linear");
    write_line(&dir);
    let out = run(
        &dir,
        &[
            "fit",
            "line.csv",
            "--target",
            "y",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--batch-size",
            "full",
            "--epochs",
            "300",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    let w = param(&j, "linear.weight");
    assert_eq!(w["shape"], serde_json::json!([2, 1]));
    let wv = values(&w["values"]);
    assert!((wv[0] - 2.0).abs() < 1e-6 && (wv[1] + 1.0).abs() < 1e-6, "{wv:?}");
    let b = param(&j, "linear.bias");
    assert_eq!(b["shape"], serde_json::json!([1, 1]));
    assert!((values(&b["values"])[0] - 1.0).abs() < 1e-6);
    assert_eq!(j["params"].as_array().unwrap().len(), 2);
    assert!(j["final_train_loss"].as_f64().unwrap() < 1e-10);
    assert_eq!(j["final_val_loss"], Value::Null);
    assert_eq!((j["steps"].as_u64(), j["epochs"].as_u64()), (Some(300), Some(300)));
    assert_eq!(j["stop"]["code"], "max_epochs");
    assert_eq!(j["stop"]["diverged"], false);
    assert_eq!(j["scaler"], Value::Null);
    assert_eq!(j["config"]["loss"], "mse");
    assert_eq!(j["data"]["features"], serde_json::json!(["a", "b"]));
    // Deterministic: the same command prints the same bytes.
    let again = run(
        &dir,
        &[
            "fit",
            "line.csv",
            "--target",
            "y",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--batch-size",
            "full",
            "--epochs",
            "300",
            "--json",
        ],
    );
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn fit_writes_a_run_directory_whose_weights_load_back() {
    let dir = scratch("fit-out");
    write_line(&dir);
    let out = run(
        &dir,
        &[
            "fit",
            "line.csv",
            "--model",
            "linear",
            "--optimizer",
            "adam",
            "--lr",
            "0.05",
            "--standardize",
            "--val",
            "0.2",
            "--epochs",
            "20",
            "--batch-size",
            "4",
            "--schedule",
            "cosine",
            "--out",
            "run",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    // The target defaults to the last column; standardization statistics come from the 24
    // training rows.
    assert_eq!(j["data"]["target"], "y");
    assert_eq!((j["split"]["train"].as_u64(), j["split"]["val"].as_u64()), (Some(24), Some(6)));
    let mean = values(&j["scaler"]["mean"]);
    let std = values(&j["scaler"]["std"]);
    assert_eq!((mean.len(), std.len()), (2, 2));
    assert!(std.iter().all(|&s| s > 0.1));
    assert!(j["final_val_loss"].as_f64().unwrap().is_finite());
    assert_eq!(j["config"]["schedule"], "cosine:120,0");
    let run_dir = dir.join("run");
    for f in [
        "summary.json",
        "summary.md",
        "config.json",
        "steps.csv",
        "epochs.csv",
        "loss.svg",
        "weights.safetensors",
        "scaler.safetensors",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    // summary.json is the --json output.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(written, j);
    // The weights file holds exactly the printed parameters.
    let mut params = Params::<f64>::new();
    let model = LinearRegression::new(&mut params, "linear", 2).unwrap();
    weights::load(run_dir.join("weights.safetensors"), &mut params).unwrap();
    let w = params.get(model.linear().weight()).data().to_vec();
    assert_eq!(w, values(&param(&j, "linear.weight")["values"]));
    assert_eq!(
        std::fs::read_to_string(run_dir.join("steps.csv")).unwrap().lines().count() as u64,
        1 + 20 * 6
    );
}

#[test]
fn fit_logistic_on_breast_cancer_with_its_shape_line() {
    let out = run(
        &root(),
        &[
            "fit",
            "data/breast_cancer.csv",
            "--skip-lines",
            "1",
            "--no-header",
            "--model",
            "logistic",
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
            "--standardize",
            "--val",
            "0.2",
            "--stratify",
            "--epochs",
            "20",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["data"]["target"], "col30");
    assert_eq!(j["data"]["rows"], 569);
    assert_eq!(param(&j, "logistic.weight")["shape"], serde_json::json!([30, 1]));
    assert!(j["metrics"]["val_accuracy"].as_f64().unwrap() > 0.95);
    assert_eq!(values(&j["scaler"]["mean"]).len(), 30);
}

#[test]
fn fit_mlp_softmax_text_summary() {
    let dir = scratch("fit-mlp");
    // Three classes by the sign pattern of two features.
    let mut s = String::from("x1,x2,label\n");
    for i in 0..60 {
        let (x1, x2) = ((i % 10) as f64 - 4.5, (i / 10) as f64 - 2.5);
        let label = if x1 < 0.0 {
            0
        } else if x2 < 0.0 {
            1
        } else {
            2
        };
        s.push_str(&format!("{x1},{x2},{label}\n"));
    }
    std::fs::write(dir.join("three.csv"), s).unwrap();
    let out = run(
        &dir,
        &[
            "fit",
            "three.csv",
            "--target",
            "label",
            "--model",
            "mlp:16",
            "--activation",
            "tanh",
            "--lr",
            "0.05",
            "--standardize",
            "--epochs",
            "60",
            "--batch-size",
            "10",
            "--test",
            "0.25",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("model      mlp:16 (99 parameters), loss cross_entropy"), "{}", out.stdout);
    assert!(out.stdout.contains("optimizer  adam, lr 0.05, schedule constant, batch size 10"));
    let acc: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("metric     test_accuracy "))
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .parse()
        .unwrap();
    assert!(acc >= 0.9, "{acc}");
}

#[test]
fn divergence_exits_1_and_still_prints_the_summary() {
    let dir = scratch("diverge");
    let mut s = String::from("x,y\n");
    for i in 0..20 {
        s.push_str(&format!("{},{}\n", i * 100, i));
    }
    std::fs::write(dir.join("big.csv"), s).unwrap();
    let out = run(
        &dir,
        &[
            "fit",
            "big.csv",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "1",
            "--batch-size",
            "full",
            "--json",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["stop"]["diverged"], true);
    assert!(out.stderr.starts_with("error: training diverged: "), "{}", out.stderr);
    assert!(out.stderr.contains("lower the learning rate"), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage");
    write_line(&dir);
    let cases: &[(&str, &[&str])] = &[
        ("unknown_model", &["fit", "line.csv", "--model", "tree"]),
        ("missing_model", &["fit", "line.csv"]),
        ("bad_lr", &["fit", "line.csv", "--model", "linear", "--lr", "0"]),
        ("bad_schedule", &["fit", "line.csv", "--model", "linear", "--schedule", "step:x"]),
        ("bad_batch", &["fit", "line.csv", "--model", "linear", "--batch-size", "0"]),
        ("model_loss_mismatch", &["fit", "line.csv", "--model", "logistic", "--loss", "mse"]),
        ("patience_without_val", &["fit", "line.csv", "--model", "linear", "--patience", "3"]),
        ("bad_gamma", &["fit", "line.csv", "--model", "linear", "--schedule", "step:10,1.5"]),
        ("stratify_regression", &["fit", "line.csv", "--model", "linear", "--val", "0.2", "--stratify"]),
        ("beta1_for_sgd", &["fit", "line.csv", "--model", "linear", "--optimizer", "sgd", "--beta1", "0.8"]),
        ("momentum_for_adam", &["fit", "line.csv", "--model", "linear", "--momentum", "0.5"]),
        (
            "nesterov_for_rmsprop",
            &["fit", "line.csv", "--model", "linear", "--optimizer", "rmsprop", "--nesterov"],
        ),
        (
            "eps_for_momentum",
            &["sweep", "line.csv", "--model", "linear", "--optimizer", "momentum", "--eps", "1e-6"],
        ),
        ("beta2_out_of_range", &["fit", "line.csv", "--model", "linear", "--beta2", "1"]),
        (
            "momentum_out_of_range",
            &["fit", "line.csv", "--model", "linear", "--optimizer", "nesterov", "--momentum", "1.5"],
        ),
        (
            "negative_weight_decay",
            &["fit", "line.csv", "--model", "linear", "--optimizer", "sgd", "--weight-decay=-0.1"],
        ),
        ("zero_eps", &["fit", "line.csv", "--model", "linear", "--optimizer", "adagrad", "--eps", "0"]),
        ("bad_beta1_number", &["fit", "line.csv", "--model", "linear", "--beta1", "high"]),
    ];
    for (name, args) in cases {
        let out = run(&dir, args);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        insta::assert_snapshot!(format!("usage_{name}"), out.stderr);
    }
}

#[test]
fn data_and_file_errors_exit_3() {
    let dir = scratch("data");
    write_line(&dir);
    std::fs::write(dir.join("cell.csv"), "a,y\n1,2\nx,4\n").unwrap();
    std::fs::write(dir.join("ragged.csv"), "a,b,y\n1,2,3\n4,5\n").unwrap();
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    std::fs::write(dir.join("counts.csv"), "a,y\n1,0\n2,1\n3,2\n").unwrap();
    std::fs::write(dir.join("afile"), "not a directory").unwrap();
    std::fs::copy(root().join("data/breast_cancer.csv"), dir.join("breast_cancer.csv")).unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("missing_file", &["fit", "nope.csv", "--model", "linear"]),
        ("bad_cell", &["fit", "cell.csv", "--model", "linear"]),
        ("ragged_row", &["fit", "ragged.csv", "--model", "linear"]),
        ("empty_file", &["doctor", "empty.csv"]),
        ("missing_target", &["fit", "line.csv", "--target", "z", "--model", "linear"]),
        ("not_binary", &["fit", "counts.csv", "--model", "logistic"]),
        ("not_labels", &["fit", "line.csv", "--model", "softmax"]),
        ("out_not_a_dir", &["fit", "line.csv", "--model", "linear", "--epochs", "1", "--out", "afile/run"]),
        ("breast_cancer_without_skip", &["doctor", "breast_cancer.csv", "--no-header"]),
    ];
    for (name, args) in cases {
        let out = run(&dir, args);
        assert_eq!(out.code, 3, "{name}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: ") && !out.stderr.contains("panicked"), "{name}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: one line, no backtrace: {}", out.stderr);
        insta::assert_snapshot!(format!("data_{name}"), out.stderr);
    }
}

#[test]
fn doctor_on_breast_cancer() {
    let args =
        ["doctor", "data/breast_cancer.csv", "--skip-lines", "1", "--no-header", "--loss", "bce_with_logits"];
    let out = run(&root(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("doctor_breast_cancer", out.stdout);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let j = run(&root(), &json_args).json();
    assert_eq!(j["data"]["task"], "binary");
    assert_eq!(j["data"]["rows"], 569);
    let codes: Vec<&str> =
        j["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"feature-scale"), "{codes:?}");
    assert_eq!(j["findings"][0]["severity"], "critical");
    assert!(j["critical"].as_u64().unwrap() >= 1);
    // Standardizing is planned: the scale findings are no longer critical.
    let mut std_args = json_args.clone();
    std_args.push("--standardize");
    let k = run(&root(), &std_args).json();
    assert!(k["critical"].as_u64().unwrap() < j["critical"].as_u64().unwrap(), "{k}");
}

#[test]
fn sweep_names_the_largest_stable_rate() {
    let dir = scratch("sweep");
    write_line(&dir);
    let args = [
        "sweep",
        "line.csv",
        "--model",
        "linear",
        "--optimizer",
        "sgd",
        "--batch-size",
        "full",
        "--lr-min",
        "0.01",
        "--lr-max",
        "100",
        "--points",
        "9",
        "--steps",
        "30",
        "--out",
        "sw",
        "--json",
    ];
    let out = run(&dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["points"].as_array().unwrap().len(), 9);
    let largest = j["largest_stable"].as_f64().unwrap();
    // The largest curvature of this MSE (Hessian 2·E[zzᵀ], z = [a, b, 1]) is L = 2.809, so
    // gradient descent is stable below 2/L = 0.712: of the swept rates (half a decade apart)
    // 0.316 is the last stable one and 1.0 the first unstable one.
    assert!((0.3..0.4).contains(&largest), "{largest}");
    let p1 = &j["points"][4];
    assert!((p1["lr"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{p1}");
    assert_eq!(p1["stable"], false);
    assert_eq!(j["suggested"].as_f64().unwrap(), largest / 3.0);
    assert!(dir.join("sw/sweep.csv").is_file() && dir.join("sw/sweep.svg").is_file());
    let text = run(&dir, &args[..args.len() - 1]);
    assert!(text.stdout.contains("largest stable rate"), "{}", text.stdout);
    // All rates too high: exit 1.
    let high = run(
        &dir,
        &[
            "sweep",
            "line.csv",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--batch-size",
            "full",
            "--lr-min",
            "100",
            "--lr-max",
            "1000",
            "--points",
            "2",
            "--steps",
            "30",
        ],
    );
    assert_eq!(high.code, 1, "{}", high.stderr);
    assert!(high.stderr.contains("sweep lower"), "{}", high.stderr);
}

#[test]
fn help_documents_the_exit_codes() {
    for args in
        [&["--help"][..], &["fit", "--help"], &["doctor", "--help"], &["sweep", "-h"], &["compare", "-h"]]
    {
        let out = run(&root(), args);
        assert_eq!(out.code, 0);
        assert!(
            out.stdout.contains("Exit codes:") && out.stdout.contains("3  data or file error"),
            "{args:?}"
        );
    }
    let out = run(&root(), &["frobnicate"]);
    assert_eq!(out.code, 2);
}

/// `fit line.csv --model linear --batch-size full --epochs 30 --json` plus `extra`.
fn fit_line(dir: &Path, extra: &[&str]) -> Out {
    let mut args =
        vec!["fit", "line.csv", "--model", "linear", "--batch-size", "full", "--epochs", "30", "--json"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn optimizer_settings_reach_the_run() {
    let dir = scratch("settings");
    write_line(&dir);
    let base = fit_line(&dir, &["--optimizer", "momentum", "--lr", "0.05"]);
    assert_eq!(base.code, 0, "{}", base.stderr);
    let b = base.json();
    assert_eq!(b["config"]["optimizer"], "momentum");
    assert_eq!(b["config"]["optimizer_settings"]["momentum"], Value::Null);
    // --nesterov turns momentum into nesterov; --momentum and --weight-decay are recorded.
    let nag = fit_line(
        &dir,
        &[
            "--optimizer",
            "momentum",
            "--lr",
            "0.05",
            "--nesterov",
            "--momentum",
            "0.5",
            "--weight-decay",
            "0.01",
        ],
    );
    assert_eq!(nag.code, 0, "{}", nag.stderr);
    let n = nag.json();
    assert_eq!(n["config"]["optimizer"], "nesterov");
    let st = &n["config"]["optimizer_settings"];
    assert_eq!(
        (st["momentum"].as_f64(), st["weight_decay"].as_f64(), &st["nesterov"]),
        (Some(0.5), Some(0.01), &Value::Bool(true))
    );
    assert_ne!(param(&b, "linear.weight")["values"], param(&n, "linear.weight")["values"]);
    // The same as --optimizer nesterov with the same settings, bit for bit.
    let same = fit_line(
        &dir,
        &["--optimizer", "nesterov", "--lr", "0.05", "--momentum", "0.5", "--weight-decay", "0.01"],
    );
    assert_eq!(param(&same.json(), "linear.weight")["values"], param(&n, "linear.weight")["values"]);
    // Adam's betas and eps change the trajectory.
    let adam = fit_line(&dir, &["--lr", "0.05"]).json();
    let tuned = fit_line(&dir, &["--lr", "0.05", "--beta1", "0.5", "--beta2", "0.9", "--eps", "1e-3"]).json();
    assert_ne!(adam["final_train_loss"], tuned["final_train_loss"]);
    assert_eq!(tuned["config"]["optimizer_settings"]["beta2"].as_f64(), Some(0.9));
    // The text summary names the settings given.
    let text = run(
        &dir,
        &[
            "fit",
            "line.csv",
            "--model",
            "linear",
            "--optimizer",
            "adamw",
            "--lr",
            "0.05",
            "--beta1",
            "0.8",
            "--weight-decay",
            "0.1",
            "--epochs",
            "2",
        ],
    );
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains(
            "optimizer  adamw, lr 0.05, schedule constant, batch size full, beta1 0.8, weight decay 0.1"
        ),
        "{}",
        text.stdout
    );
    // sweep takes them too.
    let sw = run(
        &dir,
        &[
            "sweep",
            "line.csv",
            "--model",
            "linear",
            "--optimizer",
            "rmsprop",
            "--momentum",
            "0.9",
            "--points",
            "2",
            "--steps",
            "5",
            "--lr-min",
            "0.001",
            "--lr-max",
            "0.01",
            "--json",
        ],
    );
    assert_eq!(sw.code, 0, "{}", sw.stderr);
    assert_eq!(sw.json()["optimizer_settings"]["momentum"].as_f64(), Some(0.9));
}

/// Rows of y = 2a − b + 1 + noise, enough for several shuffled batches per epoch.
fn write_noisy(dir: &Path, name: &str, rows: usize) {
    let mut s = String::from("a,b,y\n");
    for i in 0..rows {
        let (a, b) = ((i % 7) as f64 * 0.3 - 1.0, (i % 5) as f64 * 0.2);
        let noise = ((i * 37 % 11) as f64 - 5.0) * 0.01;
        s.push_str(&format!("{a},{b},{}\n", 2.0 * a - b + 1.0 + noise));
    }
    std::fs::write(dir.join(name), s).unwrap();
}

/// A mini-batch Adam run with a validation split, standardization and a step schedule.
fn ckpt_args<'a>(epochs: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "fit",
        "noisy.csv",
        "--model",
        "linear",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "--beta1",
        "0.8",
        "--batch-size",
        "4",
        "--val",
        "0.2",
        "--standardize",
        "--schedule",
        "step:7,0.5",
        "--seed",
        "5",
        "--epochs",
        epochs,
        "--out",
        out,
    ];
    v.extend_from_slice(extra);
    v
}

fn bytes(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn checkpoint_and_resume_give_the_uninterrupted_run() {
    let dir = scratch("ckpt");
    write_noisy(&dir, "noisy.csv", 40);
    let straight = run(&dir, &ckpt_args("10", "straight", &[]));
    assert_eq!(straight.code, 0, "{}", straight.stderr);
    // Checkpointing every 2 epochs changes nothing and writes 5 checkpoints.
    let every = run(&dir, &ckpt_args("10", "every", &["--checkpoint-every", "2"]));
    assert_eq!(every.code, 0, "{}", every.stderr);
    for e in [2, 4, 6, 8, 10] {
        assert!(dir.join(format!("every/checkpoint-epoch{e}.safetensors")).is_file(), "epoch {e}");
        assert!(every.stdout.contains(&format!("wrote      every/checkpoint-epoch{e}.safetensors")));
    }
    assert!(!dir.join("every/checkpoint-epoch1.safetensors").exists());
    // 5 epochs, then 5 more resumed in another process.
    let first = run(&dir, &ckpt_args("5", "first", &["--checkpoint-every", "5"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let resumed =
        run(&dir, &ckpt_args("10", "resumed", &["--resume", "first/checkpoint-epoch5.safetensors"]));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed
            .stdout
            .contains("resumed    from first/checkpoint-epoch5.safetensors at step 40 (epoch 5, batch 0)"),
        "{}",
        resumed.stdout
    );
    // A checkpoint from the middle of the straight run resumes to the same end too.
    let mid = run(&dir, &ckpt_args("10", "mid", &["--resume", "every/checkpoint-epoch4.safetensors"]));
    assert_eq!(mid.code, 0, "{}", mid.stderr);
    for f in ["summary.json", "weights.safetensors", "scaler.safetensors", "steps.csv", "epochs.csv"] {
        let want = bytes(dir.join("straight").join(f));
        for other in ["every", "resumed", "mid"] {
            assert!(want == bytes(dir.join(other).join(f)), "{other}/{f} differs from straight/{f}");
        }
    }
    // With early stopping (its memory and the best weights travel in the checkpoint).
    let pat = ["--patience", "2"];
    let straight = run(&dir, &ckpt_args("12", "p-straight", &pat));
    assert_eq!(straight.code, 0, "{}", straight.stderr);
    let first = run(&dir, &ckpt_args("12", "p-first", &["--patience", "2", "--checkpoint-every", "3"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let resumed = run(
        &dir,
        &ckpt_args(
            "12",
            "p-resumed",
            &["--patience", "2", "--resume", "p-first/checkpoint-epoch3.safetensors"],
        ),
    );
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    for f in ["summary.json", "weights.safetensors", "epochs.csv"] {
        assert!(
            bytes(dir.join("p-straight").join(f)) == bytes(dir.join("p-resumed").join(f)),
            "patience: {f}"
        );
    }
    // The first half alone is a different (shorter) run.
    assert_ne!(bytes(dir.join("first/weights.safetensors")), bytes(dir.join("straight/weights.safetensors")));
}

#[test]
fn resume_refuses_another_run() {
    let dir = scratch("ckpt-mismatch");
    write_noisy(&dir, "noisy.csv", 40);
    write_noisy(&dir, "other.csv", 41);
    std::fs::write(dir.join("junk.safetensors"), "not a checkpoint").unwrap();
    let first = run(&dir, &ckpt_args("4", "first", &["--checkpoint-every", "2"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let ck = "first/checkpoint-epoch2.safetensors";
    let usage: &[(&str, &[&str])] = &[
        ("optimizer", &["--optimizer", "adamw"]),
        ("lr", &["--lr", "0.01"]),
        ("beta1", &["--beta1", "0.9"]),
        ("schedule", &["--schedule", "constant"]),
        ("model", &["--model", "mlp:3"]),
        ("seed", &["--seed", "6"]),
        ("batch_size", &["--batch-size", "8"]),
        ("l2", &["--l2", "0.1"]),
        ("not_standardized", &["--standardize"]),
    ];
    for (name, change) in usage {
        let mut args = ckpt_args("10", "again", &["--resume", ck]);
        // Replace an option's value, or append the option.
        if let Some(i) = args.iter().position(|a| a == &change[0]) {
            if change.len() == 2 {
                args[i + 1] = change[1];
            } else {
                args.remove(i);
            }
        } else {
            args.extend_from_slice(change);
        }
        let out = run(&dir, &args);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot resume from first/checkpoint-epoch2.safetensors"),
            "{name}: {}",
            out.stderr
        );
        insta::assert_snapshot!(format!("resume_{name}"), out.stderr);
    }
    let mut other = ckpt_args("10", "again", &["--resume", ck]);
    other[1] = "other.csv";
    let out = run(&dir, &other);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("resume_other_data", out.stderr);
    // A checkpoint past this run's budget.
    let out = run(&dir, &ckpt_args("1", "again", &["--resume", ck]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("resume_epochs", out.stderr);
    // Not a checkpoint, or no file: data errors.
    for (name, path) in [("junk", "junk.safetensors"), ("missing", "nope.safetensors")] {
        let out = run(&dir, &ckpt_args("10", "again", &["--resume", path]));
        assert_eq!(out.code, 3, "{name}: {}", out.stderr);
        insta::assert_snapshot!(format!("resume_{name}"), out.stderr);
    }
    // --checkpoint-every needs --out.
    let out = run(&dir, &["fit", "noisy.csv", "--model", "linear", "--checkpoint-every", "2"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("usage_checkpoint_without_out", out.stderr);
    let out = run(&dir, &ckpt_args("10", "again", &["--checkpoint-every", "0"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("usage_checkpoint_every_zero", out.stderr);
}

#[test]
fn compare_runs_every_optimizer_with_every_seed() {
    let dir = scratch("compare");
    write_line(&dir);
    let args = [
        "compare",
        "line.csv",
        "--model",
        "linear",
        "--batch-size",
        "full",
        "--optimizers",
        "sgd:0.5,sgd:5,adam:0.05,momentum",
        "--steps",
        "50",
        "--seeds",
        "0,1",
        "--target-loss",
        "0.01",
        "--val",
        "0.2",
        "--out",
        "cmp",
        "--json",
    ];
    let out = run(&dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let j = out.json();
    let names: Vec<&str> =
        j["summaries"].as_array().unwrap().iter().map(|s| s["optimizer"].as_str().unwrap()).collect();
    // A contender without a rate gets its optimizer's default.
    assert_eq!(names, ["sgd:0.5", "sgd:5", "adam:0.05", "momentum:0.001"]);
    assert_eq!(j["runs"].as_array().unwrap().len(), 8);
    let s = &j["summaries"];
    // Full-batch GD at 0.5 converges on this quadratic (stable below 2/L = 0.712); at 5 it diverges.
    assert_eq!((s[0]["diverged"].as_u64(), s[0]["reached_target"].as_u64()), (Some(0), Some(2)));
    assert!(s[0]["train_loss"]["mean"].as_f64().unwrap() < 1e-3, "{}", s[0]);
    assert_eq!(s[1]["diverged"].as_u64(), Some(2));
    assert!(s[2]["val_loss"]["mean"].as_f64().unwrap().is_finite());
    assert_eq!(j["best"], "sgd:0.5");
    for f in ["compare.md", "summary.csv", "runs.csv"] {
        assert!(dir.join("cmp").join(f).is_file(), "{f}");
    }
    let runs_csv = std::fs::read_to_string(dir.join("cmp/runs.csv")).unwrap();
    assert_eq!(runs_csv.lines().count(), 1 + 8);
    // The text table has one row per optimizer and names the best.
    let text = run(&dir, &args[..args.len() - 1]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let rows: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| l.starts_with("sgd:") || l.starts_with("adam:") || l.starts_with("momentum:"))
        .collect();
    assert_eq!(rows.len(), 4, "{}", text.stdout);
    assert!(rows[1].contains("  2         2  "), "{}", rows[1]);
    assert!(text.stdout.contains("lowest mean training loss without divergence: sgd:0.5"), "{}", text.stdout);
    // Mini-batches: the seeds change the batch order, so the runs differ.
    let mb = run(
        &dir,
        &[
            "compare",
            "line.csv",
            "--model",
            "linear",
            "--batch-size",
            "4",
            "--optimizers",
            "sgd:0.1",
            "--steps",
            "20",
            "--json",
        ],
    )
    .json();
    assert_eq!(mb["seeds"], serde_json::json!([0, 1, 2]));
    assert!(mb["summaries"][0]["train_loss"]["std"].as_f64().unwrap() > 0.0, "{mb}");
    // Every run diverging is exit 1.
    let all = run(
        &dir,
        &[
            "compare",
            "line.csv",
            "--model",
            "linear",
            "--batch-size",
            "full",
            "--optimizers",
            "sgd:50",
            "--steps",
            "20",
        ],
    );
    assert_eq!(all.code, 1, "{}", all.stderr);
    assert!(all.stderr.contains("every run of every optimizer diverged"), "{}", all.stderr);
}

#[test]
fn compare_usage_errors_exit_2() {
    let dir = scratch("compare-usage");
    write_line(&dir);
    let cases: &[(&str, &[&str])] = &[
        ("unknown_optimizer", &["compare", "line.csv", "--model", "linear", "--optimizers", "sgd,lion"]),
        ("bad_rate", &["compare", "line.csv", "--model", "linear", "--optimizers", "sgd:-1"]),
        ("twice", &["compare", "line.csv", "--model", "linear", "--optimizers", "adam,adam:0.001"]),
        ("bad_seed", &["compare", "line.csv", "--model", "linear", "--optimizers", "adam", "--seeds", "0,x"]),
        ("zero_steps", &["compare", "line.csv", "--model", "linear", "--optimizers", "adam", "--steps", "0"]),
        ("missing_optimizers", &["compare", "line.csv", "--model", "linear"]),
    ];
    for (name, args) in cases {
        let out = run(&dir, args);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        insta::assert_snapshot!(format!("compare_{name}"), out.stderr);
    }
}

#[test]
fn fit_in_f32() {
    let dir = scratch("f32");
    write_line(&dir);
    let args = |dtype: &'static str, out: &'static str| {
        vec![
            "fit",
            "line.csv",
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--batch-size",
            "full",
            "--epochs",
            "200",
            "--dtype",
            dtype,
            "--out",
            out,
            "--json",
        ]
    };
    let single = run(&dir, &args("f32", "r32"));
    assert_eq!(single.code, 0, "{}", single.stderr);
    let double = run(&dir, &args("f64", "r64"));
    let (s, d) = (single.json(), double.json());
    assert_eq!((s["config"]["dtype"].as_str(), d["config"]["dtype"].as_str()), (Some("f32"), Some("f64")));
    // The same fit to f32 precision, but not the same bits.
    let (ws, wd) =
        (values(&param(&s, "linear.weight")["values"]), values(&param(&d, "linear.weight")["values"]));
    assert!(ws.iter().zip(&wd).all(|(a, b)| (a - b).abs() < 1e-5), "{ws:?} {wd:?}");
    assert!((wd[0] - 2.0).abs() < 1e-9);
    assert_ne!(s["final_train_loss"], d["final_train_loss"]);
    // The weights file is f32 and loads into an f32 model; it is refused as f64.
    let mut p32 = downhill_tensor::Params::<f32>::new();
    let m = LinearRegression::new(&mut p32, "linear", 2).unwrap();
    weights::load(dir.join("r32/weights.safetensors"), &mut p32).unwrap();
    let loaded: Vec<f64> = p32.get(m.linear().weight()).data().iter().map(|v| v.f64()).collect();
    // (serde_json's default parser may be one ulp off the printed shortest form.)
    assert!(loaded.iter().zip(&ws).all(|(a, b)| (a - b).abs() < 1e-12), "{loaded:?} {ws:?}");
    assert!(loaded.iter().zip(&wd).any(|(a, b)| a != b));
    let mut p64 = Params::<f64>::new();
    LinearRegression::new(&mut p64, "linear", 2).unwrap();
    assert!(weights::load(dir.join("r32/weights.safetensors"), &mut p64).is_err());
    // Text output names the type.
    let text = run(&dir, &["fit", "line.csv", "--model", "linear", "--epochs", "1", "--dtype", "f32"]);
    assert!(text.stdout.contains("model      linear (3 parameters), loss mse, dtype f32"), "{}", text.stdout);
}

#[test]
fn f32_checkpoints_resume_bit_for_bit_and_refuse_f64() {
    let dir = scratch("f32-ckpt");
    write_noisy(&dir, "noisy.csv", 40);
    let straight = run(&dir, &ckpt_args("6", "straight", &["--dtype", "f32"]));
    assert_eq!(straight.code, 0, "{}", straight.stderr);
    let first = run(&dir, &ckpt_args("3", "first", &["--dtype", "f32", "--checkpoint-every", "3"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let ck = "first/checkpoint-epoch3.safetensors";
    let resumed = run(&dir, &ckpt_args("6", "resumed", &["--dtype", "f32", "--resume", ck]));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    for f in ["summary.json", "weights.safetensors", "steps.csv"] {
        assert!(bytes(dir.join("straight").join(f)) == bytes(dir.join("resumed").join(f)), "{f}");
    }
    let out = run(&dir, &ckpt_args("6", "again", &["--resume", ck]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("resume_dtype", out.stderr);
}

//! The three commands: `fit`, `doctor`, `sweep`.

use std::collections::BTreeMap;
use std::path::Path;

use downhill_nn::L2;
use downhill_tensor::{Float, Params};
use downhill_train::checkpoint::Checkpoint;
use downhill_train::compare::{Budget, CompareConfig, Contender, Stats, compare as run_compare};
use downhill_train::data::{CsvOptions, Dataset, SplitOptions, StandardScaler, TargetColumn, load_csv};
use downhill_train::doctor::{DataContext, Report, Task, check_data};
use downhill_train::fit::{FitConfig, Loss, Trainer};
use downhill_train::report::{
    DataInfo, ModelInfo, OptimizerInfo, RunConfig, RunReport, SplitInfo, TrainingInfo, crate_version,
    evaluate, git_commit,
};
use downhill_train::stop::EarlyStopping;
use downhill_train::sweep::{SweepConfig, dataset_loss, lr_sweep};
use serde_json::{Value, json};

use crate::spec::{DynOptimizer, ModelSpec, OptSettings, build_model, check_pair, default_loss};
use crate::{CompareArgs, DataArgs, DoctorArgs, DtypeName, Failure, FitArgs, SweepArgs, TrainArgs};

fn load(a: &DataArgs) -> Result<Dataset, Failure> {
    let opts = CsvOptions {
        target: a.target.clone().map_or(TargetColumn::Last, TargetColumn::Named),
        delimiter: a.delimiter,
        has_header: !a.no_header,
        skip_lines: a.skip_lines,
    };
    load_csv(&a.data, &opts).map_err(|e| {
        use downhill_train::Error as E;
        // A shape line or a title above the data shows up as a bad first row.
        let first = (a.skip_lines + 2) as u64;
        let hint = match &e {
            E::BadCell { line, .. } | E::RaggedRow { line, .. } if *line <= first => {
                "; if the file starts with lines that are neither data nor column names, skip them with \
                 --skip-lines N (and pass --no-header when there are no column names)"
            }
            _ => "",
        };
        match Failure::from(e) {
            Failure::Data(m) => Failure::Data(m + hint),
            other => other,
        }
    })
}

fn task_name(t: Task) -> &'static str {
    match t {
        Task::Regression => "regression",
        Task::Binary => "binary",
        Task::Multiclass => "multiclass",
    }
}

/// A number for people: 6 significant digits, scientific outside [1e-3, 1e6).
fn num(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return v.to_string();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.4e}");
    }
    let digits = (5 - a.log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The data split, scaled, with the loss and the class count settled.
struct Prepared {
    all: usize,
    features: Vec<String>,
    target: String,
    task: Task,
    loss: Loss,
    classes: usize,
    train: Dataset,
    val: Option<Dataset>,
    test: Option<Dataset>,
    scaler: Option<StandardScaler>,
    /// The doctor's findings on the data as loaded (before the split and scaling).
    findings: Report,
}

fn prepare(d: &DataArgs, t: &TrainArgs) -> Result<Prepared, Failure> {
    let data = load(d)?;
    let task = Task::infer(&data);
    let loss = t.loss.unwrap_or_else(|| default_loss(&t.model, task));
    check_pair(&t.model, loss)?;
    let ctx = DataContext { task: None, loss: Some(loss.name().to_string()), standardized: t.standardize };
    let findings = Report::new(check_data(&data, &ctx));
    let classes = if loss == Loss::CrossEntropy { data.n_classes()?.max(2) } else { 1 };
    if matches!(loss, Loss::BceWithLogits | Loss::Bce)
        && let Some((row, &v)) = data.y.data().iter().enumerate().find(|&(_, &v)| v != 0.0 && v != 1.0)
    {
        return Err(Failure::Data(format!(
            "target column {:?} holds {v} in data row {}; --loss {} needs 0/1 targets: use --loss cross_entropy \
             (with --model softmax or mlp:...) for class labels, or --model linear for a numeric target",
            data.target,
            row + 1,
            loss.name()
        )));
    }
    if t.stratify && task == Task::Regression {
        return Err(Failure::Usage(format!(
            "--stratify needs class labels, but target {:?} looks like a regression target: drop --stratify",
            data.target
        )));
    }
    let opts = SplitOptions { val: t.val, test: t.test, seed: t.seed, stratify: t.stratify };
    let (mut train, mut val, mut test) = data.split(&opts)?;
    let scaler = if t.standardize {
        let s = StandardScaler::fit(&train.x)?;
        for part in [&mut train, &mut val, &mut test] {
            if !part.is_empty() {
                part.x = s.transform(&part.x)?;
            }
        }
        Some(s)
    } else {
        None
    };
    let non_empty = |d: Dataset| if d.is_empty() { None } else { Some(d) };
    if train.is_empty() {
        return Err(Failure::Usage("the split leaves no training rows: lower --val and --test".to_string()));
    }
    Ok(Prepared {
        all: data.len(),
        features: data.features.clone(),
        target: data.target.clone(),
        task,
        loss,
        classes,
        train,
        val: non_empty(val),
        test: non_empty(test),
        scaler,
        findings,
    })
}

fn params_json<T: Float>(params: &Params<T>) -> Value {
    Value::Array(
        params
            .iter()
            .map(|(_, name, t)| {
                let values: Vec<f64> = t.data().iter().map(|v| v.f64()).collect();
                json!({ "name": name, "shape": t.dims(), "values": values })
            })
            .collect(),
    )
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::Data(format!("cannot write {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| file_error(path, e))
}

/// The model as the report names it: the spec, with the activation for an MLP.
fn describe(t: &TrainArgs) -> String {
    match t.model {
        ModelSpec::Mlp(_) => format!("{} ({})", t.model, format!("{:?}", t.activation).to_lowercase()),
        _ => t.model.to_string(),
    }
}

/// `downhill fit`.
pub fn fit(a: FitArgs) -> Result<(), Failure> {
    match a.dtype {
        DtypeName::F64 => fit_as::<f64>(a),
        DtypeName::F32 => fit_as::<f32>(a),
    }
}

/// `downhill fit` with the model, optimizer and training in float type `T` (the data is read
/// and split in f64, and converted once).
fn fit_as<T: Float>(a: FitArgs) -> Result<(), Failure> {
    let t = &a.train;
    let p = prepare(&a.data, t)?;
    let lr = a.lr.unwrap_or_else(|| a.opt.optimizer.default_lr());
    let n = p.train.len();
    let per_epoch = if t.batch_size >= n { 1 } else { n.div_ceil(t.batch_size) as u64 };
    let total = a.epochs.saturating_mul(per_epoch).min(a.max_steps.unwrap_or(u64::MAX));
    let schedule_spec = a.schedule.resolved(total);
    let schedule = schedule_spec.build(lr, total)?;
    let settings = a.opt.settings.settings();
    let mut opt = a.opt.optimizer.build(lr, &settings, schedule)?;
    let mut params = Params::<T>::new();
    let model =
        build_model(&t.model, t.activation, &mut params, p.features.len(), p.classes, p.loss, t.seed)?;
    if a.patience.is_some() && p.val.is_none() {
        return Err(Failure::Usage(
            "--patience needs a validation split: add --val FRACTION (e.g. --val 0.2)".to_string(),
        ));
    }
    let cfg = FitConfig {
        epochs: a.epochs,
        batch_size: t.batch_size,
        seed: t.seed,
        max_steps: a.max_steps,
        early_stopping: a.patience.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
            restore_best: true,
        }),
        l2: t.l2.map(L2::new),
        ..FitConfig::default()
    };
    let checkpoint = match &a.resume {
        Some(path) => {
            // Whatever stops the file from reading as a checkpoint is a problem of the file.
            let c = Checkpoint::<T>::load(path).map_err(|e| {
                // A checkpoint of the other float type reads as one: say which --dtype it needs.
                let saved = if T::DTYPE == "f64" {
                    Checkpoint::<f32>::load(path).ok().map(|_| "f32")
                } else {
                    Checkpoint::<f64>::load(path).ok().map(|_| "f64")
                };
                if let Some(d) = saved {
                    return Failure::Usage(format!(
                        "cannot resume from {}: --dtype differs: the checkpoint holds {d} weights, this run is {}; \
                         resume with --dtype {d}",
                        path.display(),
                        T::DTYPE
                    ));
                }
                match Failure::from(e) {
                    Failure::Internal(m) => Failure::Data(m),
                    other => other,
                }
            })?;
            check_resume(&c, &params, &opt)?;
            Some(c)
        }
        None => None,
    };
    let mut saved = Vec::new();
    let r = {
        let mut trainer =
            Trainer::new(&model, &mut params, &mut opt, p.loss, &p.train, p.val.as_ref(), &cfg)?;
        if let Some(c) = &checkpoint {
            trainer.resume(c).map_err(|e| resume_error(e, &a))?;
        }
        match (a.checkpoint_every, &a.out) {
            (Some(every), Some(dir)) => {
                std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
                while !trainer.is_finished() {
                    // Steps to the end of the next epoch that is a multiple of `every`, counted from
                    // where the run is (always at least one: the cursor's batch is within its epoch).
                    let at = trainer.cursor();
                    let next = (at.epoch / every + 1) * every;
                    let ahead = ((next - at.epoch) * per_epoch).saturating_sub(at.batch as u64).max(1);
                    trainer.run_until(trainer.step_count().saturating_add(ahead))?;
                    let at = trainer.cursor();
                    if at.batch == 0 && at.epoch % every == 0 && at.epoch > 0 {
                        let path = dir.join(format!("checkpoint-epoch{}.safetensors", at.epoch));
                        let mut c = trainer.checkpoint()?;
                        if let Some(s) = &p.scaler {
                            c = c.with_scaler(s.clone());
                        }
                        c.save(&path)?;
                        saved.push(path);
                    }
                }
            }
            _ => trainer.run()?,
        }
        trainer.result()
    };
    let loss_on = |d: &Dataset| dataset_loss(&model, &params, p.loss, d).unwrap_or(f64::NAN);
    let train_loss = loss_on(&p.train);
    let val_loss = p.val.as_ref().map(loss_on);
    let test_loss = p.test.as_ref().map(loss_on);
    let mut metrics = r.log.epochs.last().map(|e| e.metrics.clone()).unwrap_or_default();
    let mut evaluations = Vec::new();
    if !r.stop.diverged() {
        let splits = [("train", Some(&p.train)), ("validation", p.val.as_ref()), ("test", p.test.as_ref())];
        for (name, d) in splits {
            if let Some(d) = d {
                evaluations.push((name, evaluate(&model, &params, p.loss, d)?));
            }
        }
    }
    if let Some((_, e)) = evaluations.iter().find(|(n, _)| *n == "test") {
        for (k, v) in &e.metrics {
            metrics.insert(format!("test_{k}"), *v);
        }
    }
    let n_params: usize = params.iter().map(|(_, _, t)| t.numel()).sum();
    let summary = json!({
        "command": "fit",
        "data": {
            "path": a.data.data.display().to_string(),
            "rows": p.all,
            "features": p.features,
            "target": p.target,
            "task": task_name(p.task),
        },
        "split": {
            "train": p.train.len(),
            "val": p.val.as_ref().map_or(0, Dataset::len),
            "test": p.test.as_ref().map_or(0, Dataset::len),
            "seed": t.seed,
            "stratify": t.stratify,
        },
        "config": {
            "model": t.model.to_string(),
            "activation": format!("{:?}", t.activation).to_lowercase(),
            "loss": p.loss.name(),
            "optimizer": a.opt.optimizer.effective(&settings).name(),
            "optimizer_settings": settings.to_json(),
            "lr": lr,
            "dtype": T::DTYPE,
            "schedule": schedule_spec.to_string(),
            "batch_size": if t.batch_size >= n { Value::from("full") } else { Value::from(t.batch_size) },
            "epochs": a.epochs,
            "max_steps": a.max_steps,
            "patience": a.patience,
            "l2": t.l2,
            "standardize": t.standardize,
            "seed": t.seed,
        },
        "num_params": n_params,
        "params": params_json(&params),
        "scaler": p.scaler.as_ref().map(|s| json!({ "mean": s.mean, "std": s.std, "eps": s.eps })),
        "final_train_loss": train_loss,
        "final_val_loss": val_loss,
        "test_loss": test_loss,
        "steps": r.steps,
        "epochs": r.epochs,
        "best_epoch": r.best_epoch,
        "stop": { "code": r.stop.code(), "message": r.stop.to_string(), "diverged": r.stop.diverged() },
        "metrics": metrics,
    });
    let mut written = Vec::new();
    if let Some(dir) = &a.out {
        let config = RunConfig {
            name: format!("{} on {}", t.model, a.data.data.display()),
            seed: t.seed,
            model: ModelInfo::new(describe(t), &params),
            loss: p.loss.name().to_string(),
            optimizer: OptimizerInfo::of(&opt, &params)?,
            training: TrainingInfo::from(&cfg),
            data: DataInfo {
                source: a.data.data.display().to_string(),
                rows: p.all,
                features: p.features.len(),
                target: p.target.clone(),
                split: SplitInfo {
                    val: t.val,
                    test: t.test,
                    seed: t.seed,
                    stratify: t.stratify,
                    train_rows: p.train.len(),
                    val_rows: p.val.as_ref().map_or(0, Dataset::len),
                    test_rows: p.test.as_ref().map_or(0, Dataset::len),
                },
                preprocessing: vec![if p.scaler.is_some() {
                    "StandardScaler fitted on the training split".to_string()
                } else {
                    "none".to_string()
                }],
            },
            downhill_version: crate_version(),
            git_commit: git_commit(),
        };
        let mut report = RunReport::new(&config, &r).with_doctor(&p.findings);
        for (name, e) in &evaluations {
            report = report.with_evaluation(*name, e.clone());
        }
        let done = report.write(dir)?;
        written.extend(done.files.iter().map(|f| dir.join(f)));
        let meta = BTreeMap::from([
            ("model".to_string(), t.model.to_string()),
            ("loss".to_string(), p.loss.name().to_string()),
            ("features".to_string(), p.features.join(",")),
            ("target".to_string(), p.target.clone()),
        ]);
        written.append(&mut saved);
        let w = dir.join("weights.safetensors");
        downhill_nn::weights::save_with_metadata(&w, &params, &meta).map_err(|e| file_error(&w, e))?;
        written.push(w);
        if let Some(s) = &p.scaler {
            let path = dir.join("scaler.safetensors");
            let named = s.to_named("scaler");
            downhill_tensor::io::save(&path, named.iter().map(|(k, v)| (k.as_str(), v)), &BTreeMap::new())
                .map_err(|e| file_error(&path, e))?;
            written.push(path);
        }
        let path = dir.join("summary.json");
        let text = serde_json::to_string_pretty(&summary).map_err(|e| Failure::Internal(e.to_string()))?;
        write(&path, &(text + "\n"))?;
        written.push(path);
    }
    if a.json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| Failure::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "data       {}: {} rows, {} features, target {:?} ({})",
            a.data.data.display(),
            p.all,
            p.features.len(),
            p.target,
            task_name(p.task)
        );
        println!(
            "split      {} train / {} val / {} test rows{}",
            p.train.len(),
            p.val.as_ref().map_or(0, Dataset::len),
            p.test.as_ref().map_or(0, Dataset::len),
            if p.scaler.is_some() { ", standardized with training-split statistics" } else { "" }
        );
        println!(
            "model      {} ({n_params} parameters), loss {}, dtype {}",
            t.model,
            p.loss.name(),
            T::DTYPE
        );
        println!(
            "optimizer  {}, lr {}, schedule {}, batch size {}{}",
            a.opt.optimizer.effective(&settings).name(),
            num(lr),
            schedule_spec,
            if t.batch_size >= n { "full".to_string() } else { t.batch_size.to_string() },
            settings.describe(num)
        );
        if let (Some(c), Some(path)) = (&checkpoint, &a.resume) {
            println!(
                "resumed    from {} at step {} (epoch {}, batch {})",
                path.display(),
                c.step,
                c.cursor.epoch,
                c.cursor.batch
            );
        }
        println!("stopped    {} after {} steps ({} epochs)", r.stop, r.steps, r.epochs);
        let mut losses = format!("loss       train {}", num(train_loss));
        if let Some(v) = val_loss {
            losses.push_str(&format!(", val {}", num(v)));
        }
        if let Some(v) = test_loss {
            losses.push_str(&format!(", test {}", num(v)));
        }
        println!("{losses}");
        for (k, v) in &metrics {
            println!("metric     {k} {}", num(*v));
        }
        for w in &written {
            println!("wrote      {}", w.display());
        }
    }
    if r.stop.diverged() {
        return Err(Failure::Diverged(r.stop.to_string()));
    }
    Ok(())
}

/// The command-line option behind a setting in the optimizer's saved metadata.
fn option_of(setting: &str) -> &'static str {
    match setting {
        "kind" => "--optimizer",
        "lr" => "--lr",
        "schedule" => "--schedule",
        "weight_decay" => "--weight-decay",
        "hyper.beta" | "hyper.momentum" => "--momentum",
        "hyper.beta1" => "--beta1",
        "hyper.beta2" => "--beta2",
        "hyper.eps" => "--eps",
        _ => "the optimizer options",
    }
}

/// Refuses a checkpoint of another model or optimizer, naming the option that differs (the
/// trainer then checks the data, loss, seed, batch size, L2 and early stopping).
fn check_resume<T: Float>(
    c: &Checkpoint<T>,
    params: &Params<T>,
    opt: &DynOptimizer<T>,
) -> Result<(), Failure> {
    use downhill_optim::Optimizer;
    let origin = &c.origin;
    let shapes = |v: Vec<(&str, &[usize])>| {
        v.iter().map(|(n, d)| format!("{n} {d:?}")).collect::<Vec<String>>().join(", ")
    };
    let mut mine: Vec<(&str, &[usize])> = params.iter().map(|(_, n, t)| (n, t.dims())).collect();
    mine.sort_by(|a, b| a.0.cmp(b.0));
    let saved: Vec<(&str, &[usize])> = c.params.iter().map(|(n, t)| (n.as_str(), t.dims())).collect();
    if mine != saved {
        return Err(Failure::Usage(format!(
            "cannot resume from {origin}: the model differs: the checkpoint has parameters [{}], this run \
             [{}]; resume with the --model, --activation, --loss and data columns the run started with",
            shapes(saved),
            shapes(mine)
        )));
    }
    let now = opt.state(params).map_err(|e| Failure::Internal(e.to_string()))?.metadata;
    let then = &c.optimizer.metadata;
    let kind = then.get("kind").map_or("unknown", String::as_str);
    if kind != opt.kind() {
        return Err(Failure::Usage(format!(
            "cannot resume from {origin}: --optimizer differs: the checkpoint's run used {kind}, this run {}; \
             resume with --optimizer {kind}",
            opt.kind()
        )));
    }
    let settings = ["lr", "schedule", "weight_decay", "groups", "clip"];
    for (k, v) in now.iter().filter(|(k, _)| settings.contains(&k.as_str()) || k.starts_with("hyper.")) {
        let old = then.get(k).map_or("missing", String::as_str);
        if old != v {
            return Err(Failure::Usage(format!(
                "cannot resume from {origin}: {} differs: {k} is {old} in the checkpoint but {v} in this \
                 run; resume with the optimizer settings the run started with",
                option_of(k)
            )));
        }
    }
    Ok(())
}

/// A checkpoint the trainer refuses, with the command-line options to look at.
fn resume_error(e: downhill_train::Error, a: &FitArgs) -> Failure {
    if let downhill_train::Error::CheckpointMismatch { field, .. } = &e {
        let option = match field.as_str() {
            "seed" => "--seed",
            "batch_size" => "--batch-size",
            "loss" => "--loss",
            "l2" => "--l2",
            "early_stopping" => "--patience",
            "epochs" => "--epochs",
            "max_steps" => "--max-steps",
            "dtype" => "--dtype",
            "guards" => "the divergence guards",
            _ => "the data (DATA.csv, --target, --val, --test, --stratify, --standardize)",
        };
        let path = a.resume.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        return Failure::Usage(format!("cannot resume from {path}: {option} differs: {e}"));
    }
    Failure::from(e)
}

/// `downhill doctor`.
pub fn doctor(a: DoctorArgs) -> Result<(), Failure> {
    let d = load(&a.data)?;
    let task = Task::infer(&d);
    let ctx =
        DataContext { task: None, loss: a.loss.map(|l| l.name().to_string()), standardized: a.standardize };
    let report = Report::new(check_data(&d, &ctx));
    if a.json {
        let findings: Vec<Value> = report
            .findings
            .iter()
            .map(|f| {
                json!({
                    "severity": f.severity.to_string(),
                    "code": f.code,
                    "title": f.title,
                    "detail": f.detail,
                    "fix": f.fix,
                    "score": f.score,
                })
            })
            .collect();
        let out = json!({
            "command": "doctor",
            "data": {
                "path": a.data.data.display().to_string(),
                "rows": d.len(),
                "features": d.features,
                "target": d.target,
                "task": task_name(task),
            },
            "critical": report.critical(),
            "findings": findings,
        });
        let text = serde_json::to_string_pretty(&out).map_err(|e| Failure::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "doctor: {}: {} rows, {} features, target {:?} ({})",
            a.data.data.display(),
            d.len(),
            d.n_features(),
            d.target,
            task_name(task)
        );
        print!("{report}");
    }
    Ok(())
}

/// `downhill sweep`.
pub fn sweep(a: SweepArgs) -> Result<(), Failure> {
    let t = &a.train;
    let p = prepare(&a.data, t)?;
    if a.lr_min > a.lr_max || a.points < 2 {
        return Err(Failure::Usage(format!(
            "--lr-min ({}) must not exceed --lr-max ({}), and --points must be at least 2 (got {})",
            a.lr_min, a.lr_max, a.points
        )));
    }
    let cfg = SweepConfig {
        lr_min: a.lr_min,
        lr_max: a.lr_max,
        points: a.points,
        steps: a.steps,
        fit: FitConfig {
            batch_size: t.batch_size,
            seed: t.seed,
            l2: t.l2.map(L2::new),
            ..FitConfig::default()
        },
    };
    let settings = a.opt.settings.settings();
    // A setting the optimizer does not have, or out of range: a usage error before any training.
    a.opt.optimizer.build::<f64>(a.lr_min, &settings, None)?;
    let to_train = |f: Failure| downhill_train::Error::InvalidArgument { op: "sweep", message: f.message() };
    let s = lr_sweep(
        || {
            let mut params = Params::<f64>::new();
            let m =
                build_model(&t.model, t.activation, &mut params, p.features.len(), p.classes, p.loss, t.seed)
                    .map_err(to_train)?;
            Ok((m, params))
        },
        |lr| a.opt.optimizer.build(lr, &settings, None).map_err(to_train),
        p.loss,
        &p.train,
        &cfg,
    )?;
    let mut written = Vec::new();
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let csv = dir.join("sweep.csv");
        write(&csv, &s.to_csv()?)?;
        written.push(csv);
        let svg = dir.join("sweep.svg");
        write(&svg, &s.to_svg()?)?;
        written.push(svg);
    }
    if a.json {
        let points: Vec<Value> = s
            .points
            .iter()
            .map(|q| {
                json!({ "lr": q.lr, "final_loss": q.final_loss, "steps": q.steps,
                        "stop": q.stop.code(), "stable": q.stable })
            })
            .collect();
        let out = json!({
            "command": "sweep",
            "optimizer": a.opt.optimizer.effective(&settings).name(),
            "optimizer_settings": settings.to_json(),
            "model": t.model.to_string(),
            "loss": p.loss.name(),
            "steps_per_rate": a.steps,
            "initial_loss": s.initial_loss,
            "points": points,
            "largest_stable": s.largest_stable,
            "suggested": s.suggested,
            "best_loss_lr": s.best_loss_lr,
            "rule": "largest stable: the largest rate that, with every smaller swept rate, ran without a divergence \
                     guard and ended finite and below the initial loss; suggested: a third of it",
        });
        let text = serde_json::to_string_pretty(&out).map_err(|e| Failure::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "sweep      {} with {} on {} ({} steps per rate, initial loss {})",
            t.model,
            a.opt.optimizer.effective(&settings).name(),
            a.data.data.display(),
            a.steps,
            num(s.initial_loss)
        );
        println!("{:>12}  {:>14}  {:>6}  {:<12}  stable", "lr", "final loss", "steps", "stop");
        for q in &s.points {
            println!(
                "{:>12}  {:>14}  {:>6}  {:<12}  {}",
                num(q.lr),
                num(q.final_loss),
                q.steps,
                q.stop.code(),
                if q.stable { "yes" } else { "no" }
            );
        }
        match (s.largest_stable, s.suggested, s.best_loss_lr) {
            (Some(l), Some(g), b) => {
                println!("largest stable rate {}; suggested rate {} (a third of it)", num(l), num(g));
                if let Some(b) = b {
                    println!("lowest final loss at rate {}", num(b));
                }
            }
            _ => println!("no stable rate: even --lr-min {} is too high; sweep lower", num(a.lr_min)),
        }
        for w in &written {
            println!("wrote      {}", w.display());
        }
    }
    if s.largest_stable.is_none() {
        return Err(Failure::Diverged(format!(
            "no swept rate was stable (smallest {}); sweep lower with --lr-min",
            num(a.lr_min)
        )));
    }
    Ok(())
}

/// `downhill compare`.
pub fn compare(a: CompareArgs) -> Result<(), Failure> {
    let t = &a.train;
    let p = prepare(&a.data, t)?;
    if a.seeds.0.is_empty() {
        return Err(Failure::Usage("--seeds needs at least one seed".to_string()));
    }
    if let Some(x) = a.target_loss.filter(|x| !x.is_finite()) {
        return Err(Failure::Usage(format!("--target-loss must be a finite number, got {x}")));
    }
    let none = OptSettings::default();
    let to_train =
        |f: Failure| downhill_train::Error::InvalidArgument { op: "compare", message: f.message() };
    let mut contenders: Vec<Contender<'_, f64>> = Vec::new();
    for &(o, lr) in &a.optimizers.0 {
        let lr = lr.unwrap_or_else(|| o.default_lr());
        // Refuse a bad rate before any run.
        o.build::<f64>(lr, &none, None)?;
        contenders.push(Contender::new(format!("{}:{}", o.name(), num(lr)), move || {
            o.build(lr, &none, None).map_err(to_train)
        }));
    }
    let cfg = CompareConfig {
        seeds: a.seeds.0.clone(),
        budget: Budget::Updates(a.steps),
        fit: FitConfig { batch_size: t.batch_size, l2: t.l2.map(L2::new), ..FitConfig::default() },
        target_loss: a.target_loss,
        ..CompareConfig::default()
    };
    let c = run_compare(
        |seed| {
            let mut params = Params::<f64>::new();
            let m =
                build_model(&t.model, t.activation, &mut params, p.features.len(), p.classes, p.loss, seed)
                    .map_err(to_train)?;
            Ok((m, params))
        },
        &mut contenders,
        p.loss,
        &p.train,
        p.val.as_ref(),
        &cfg,
    )?;
    let mut written = Vec::new();
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        for (name, text) in
            [("compare.md", c.to_markdown()), ("summary.csv", c.summary_csv()?), ("runs.csv", c.runs_csv()?)]
        {
            let path = dir.join(name);
            write(&path, &text)?;
            written.push(path);
        }
    }
    // Lowest mean final training loss among optimizers none of whose runs diverged.
    let best = c
        .summaries
        .iter()
        .filter(|s| s.diverged == 0)
        .filter_map(|s| s.train_loss.map(|l| (s, l.mean)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(s, _)| s.optimizer.clone());
    if a.json {
        let stats = |s: Option<Stats>| {
            s.map(|s| json!({ "n": s.n, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max }))
        };
        let summaries: Vec<Value> = c
            .summaries
            .iter()
            .map(|s| {
                json!({
                    "optimizer": s.optimizer, "runs": s.runs, "diverged": s.diverged,
                    "mean_steps": s.mean_steps, "train_loss": stats(s.train_loss),
                    "val_loss": stats(s.val_loss), "reached_target": s.reached_target,
                    "steps_to_target": stats(s.steps_to_target),
                })
            })
            .collect();
        let runs: Vec<Value> = c
            .runs
            .iter()
            .map(|r| {
                json!({
                    "optimizer": r.optimizer, "seed": r.seed, "steps": r.steps, "train_loss": r.train_loss,
                    "val_loss": r.val_loss, "steps_to_target": r.steps_to_target, "stop": r.stop,
                    "diverged": r.diverged,
                })
            })
            .collect();
        let out = json!({
            "command": "compare",
            "model": t.model.to_string(),
            "loss": p.loss.name(),
            "steps_per_run": a.steps,
            "seeds": a.seeds.0,
            "target_loss": a.target_loss,
            "summaries": summaries,
            "runs": runs,
            "best": best,
        });
        let text = serde_json::to_string_pretty(&out).map_err(|e| Failure::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "compare    {} on {}, loss {}, {} updates per run, seeds {:?}, batch size {}",
            t.model,
            a.data.data.display(),
            p.loss.name(),
            a.steps,
            a.seeds.0,
            if t.batch_size >= p.train.len() { "full".to_string() } else { t.batch_size.to_string() }
        );
        let pm =
            |s: Option<Stats>| s.map_or("-".to_string(), |s| format!("{} ± {}", num(s.mean), num(s.std)));
        let width = c.summaries.iter().map(|s| s.optimizer.len()).max().unwrap_or(0).max(9);
        let mut head = format!(
            "{:<width$}  {:>4}  {:>8}  {:>24}",
            "optimizer", "runs", "diverged", "train loss (mean ± std)"
        );
        if p.val.is_some() {
            head.push_str(&format!("  {:>24}", "val loss (mean ± std)"));
        }
        if a.target_loss.is_some() {
            head.push_str(&format!("  {:>7}  {:>24}", "reached", "steps to target"));
        }
        println!("{head}");
        for s in &c.summaries {
            let mut row = format!(
                "{:<width$}  {:>4}  {:>8}  {:>24}",
                s.optimizer,
                s.runs,
                s.diverged,
                pm(s.train_loss)
            );
            if p.val.is_some() {
                row.push_str(&format!("  {:>24}", pm(s.val_loss)));
            }
            if a.target_loss.is_some() {
                row.push_str(&format!(
                    "  {:>7}  {:>24}",
                    format!("{}/{}", s.reached_target, s.runs),
                    pm(s.steps_to_target)
                ));
            }
            println!("{row}");
        }
        match &best {
            Some(b) => println!("lowest mean training loss without divergence: {b}"),
            None => println!("every optimizer diverged in at least one run: lower the rates"),
        }
        for w in &written {
            println!("wrote      {}", w.display());
        }
    }
    if c.runs.iter().all(|r| r.diverged) {
        return Err(Failure::Diverged("every run of every optimizer diverged: lower the rates".to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_for_people() {
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(0.123456789), "0.123457");
        assert_eq!(num(1234.5678), "1234.57");
        assert_eq!(num(1e-7), "1.0000e-7");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(0.0), "0");
    }
}

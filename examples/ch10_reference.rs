//! Book, chapter 10: reference. Every error a user can hit, produced by running the mistake, and
//! the optimizer defaults read from the config types.
//!
//! ```sh
//! cargo run --release --example ch10_reference            # writes book/src/generated/ch10/
//! cargo run --release --example ch10_reference -- DIR     # or into DIR
//! ```
//!
//! Each `errors_*.txt` holds, for one area (shapes, autodiff, parameters, models and losses, weight
//! files, optimizers, data files, checkpoints, gradient checks), the variant of the error enum, the
//! situation, and the real `Display` text of the error that running the mistake returns. Messages
//! name the caller's source line (`examples/ch10_reference.rs:LINE:COLUMN`); nothing names an
//! absolute path. `defaults.md` is the optimizer defaults table, the downhill column printed from
//! each config's `Default`. `tests/book_ch10.rs` checks that every variant of
//! `downhill::tensor::Error` appears, and that the committed output is up to date.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::{Debug, Display, Write as _};

use downhill::gradcheck::GradCheck;
use downhill::nn::loss::{mse_loss, softmax_cross_entropy};
use downhill::nn::{Init, Linear, LogisticRegression, Module};
use downhill::optim::{
    AdagradConfig, Adam, AdamConfig, AdamWConfig, LbfgsConfig, Momentum, MomentumConfig, NesterovConfig,
    Optimizer, OptimizerState, RmsPropConfig, Sgd, SgdConfig,
};
use downhill::prelude::{Params, Tape, Tensor, seeded_rng};
use downhill::tensor::io;
use downhill::train::checkpoint::Checkpoint;
use downhill::train::data::{CsvOptions, SplitOptions, Toy, load_csv, read_csv, toy};
use downhill::train::fit::{FitConfig, Loss, Trainer};

type Res<T> = std::result::Result<T, Box<dyn StdError>>;

// No figures in this chapter: only named text sections.
#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

// ANCHOR: cases
/// The errors of one area, as printed: `Variant: situation` and the message.
#[derive(Default)]
pub struct Cases(String);

impl Cases {
    /// Records the error `r` holds, or says loudly that the mistake was not caught.
    pub fn case<T, E: Debug + Display>(&mut self, situation: &str, r: std::result::Result<T, E>) {
        let _ = match r {
            Ok(_) => writeln!(self.0, "NO ERROR: {situation}\n"),
            Err(e) => writeln!(self.0, "{}: {situation}\n    {}\n", variant(&e), tidy(&e)),
        };
    }
}

/// The enum variant's name, from `Debug` (`LossShape { .. }` → `LossShape`), looking through the
/// train and gradcheck crates' `Tensor(..)` wrappers.
pub fn variant(e: &impl Debug) -> String {
    let debug = format!("{e:?}");
    let inner = debug.strip_prefix("Tensor(").unwrap_or(&debug);
    inner.chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

/// Messages name the caller's source file; the test build sees this file through
/// `tests/../examples/`, the example build as `examples/`. Print one spelling.
pub fn tidy(message: impl Display) -> String {
    message.to_string().replace("tests/../examples/", "examples/")
}
// ANCHOR_END: cases

/// One message, for the anatomy of an error.
fn anatomy() -> Res<String> {
    let t = Tape::new();
    let (pred, y) = (t.constant(&Tensor::<f64>::zeros([32, 1])), t.constant(&Tensor::zeros([32])));
    let err = mse_loss(pred, y).backward().err().ok_or("mse_loss accepted a [32] target")?;
    Ok(format!("{}\n", tidy(err)))
}

// ANCHOR: shapes
fn shapes() -> Res<String> {
    let mut c = Cases::default();
    let col = Tensor::<f64>::zeros([3, 1]);
    let vec3 = Tensor::<f64>::zeros([3]);
    let row = Tensor::<f64>::zeros([1, 3]);
    let t = Tape::new();
    c.case("a column [3, 1] plus a vector [3]", (t.constant(&col) + t.constant(&vec3)).value());
    let t = Tape::new();
    c.case("a column [3, 1] minus a row [1, 3]", (t.constant(&col) - t.constant(&row)).value());
    let t = Tape::new();
    let batch = t.constant(&Tensor::<f64>::zeros([4, 3]));
    c.case("a batch [4, 3] plus a bias row [1, 3]", (batch + t.constant(&row)).value());
    let t = Tape::new();
    let x = t.constant(&Tensor::<f64>::zeros([4, 3]));
    c.case("[4, 3] times [4, 2]", x.matmul(t.constant(&Tensor::zeros([4, 2]))).value());
    let t = Tape::new();
    c.case(
        "a matrix times a vector",
        t.constant(&Tensor::<f64>::zeros([2, 3])).matmul(t.constant(&vec3)).value(),
    );
    let t = Tape::new();
    c.case(
        "sum over axis 2 of a [4, 3] matrix",
        t.constant(&Tensor::<f64>::zeros([4, 3])).sum_axis(2, false).value(),
    );
    let t = Tape::new();
    c.case("broadcast a [3] vector to [4, 3]", t.constant(&vec3).broadcast_to([4, 3]).value());
    let t = Tape::new();
    c.case("reshape [4, 3] to [5, 2]", t.constant(&Tensor::<f64>::zeros([4, 3])).reshape([5, 2]).value());
    let t = Tape::new();
    c.case("permute [4, 3] with [0, 0]", t.constant(&Tensor::<f64>::zeros([4, 3])).permute(&[0, 0]).value());
    let t = Tape::new();
    let (a, b) = (t.constant(&Tensor::<f64>::zeros([2, 3])), t.constant(&Tensor::zeros([2, 4])));
    c.case("concat [2, 3] and [2, 4] along axis 0", t.concat(&[a, b], 0).value());
    let t = Tape::new();
    c.case("rows 2..6 of a [4, 3] matrix", t.constant(&Tensor::<f64>::zeros([4, 3])).narrow(0, 2, 4).value());
    let t = Tape::new();
    c.case(
        "select rows [0, 7] of a [4, 3] matrix",
        t.constant(&Tensor::<f64>::zeros([4, 3])).index_select(0, &[0, 7]).value(),
    );
    let t = Tape::new();
    c.case(
        "pick with 2 indices from 4 rows",
        t.constant(&Tensor::<f64>::zeros([4, 3])).pick(&[0, 1]).value(),
    );
    c.case("3 numbers for a [2, 2] tensor", Tensor::from_vec(vec![1.0, 2.0, 3.0], [2, 2]));
    c.case("a normal draw with std -1", Tensor::<f64>::rand_normal([2], 0.0, -1.0, &mut seeded_rng(0)));
    Ok(c.0)
}
// ANCHOR_END: shapes

// ANCHOR: autodiff
fn autodiff() -> Res<String> {
    let mut c = Cases::default();
    let t = Tape::new();
    let pred = t.constant(&Tensor::<f64>::vector(&[1.0, 2.0, 3.0]));
    c.case("backward from the per-example losses [3]", (pred * 2.0).backward());
    c.case("item of a [3] tensor", Tensor::<f64>::zeros([3]).item());
    let t = Tape::with_anomaly(); // anomaly mode: stop at the first op that makes a NaN or inf
    let p = t.constant(&Tensor::<f64>::vector(&[0.5, 0.0]));
    c.case("log of a probability 0 (anomaly mode)", p.log().sum().value());
    let (t1, t2) = (Tape::<f64>::new(), Tape::new());
    let x = t1.constant(&Tensor::vector(&[1.0]));
    c.case("adding values from two tapes", (x + t2.constant(&Tensor::vector(&[1.0]))).value());
    let mut params = Params::<f64>::new();
    let w = params.insert("w", Tensor::vector(&[1.0]))?;
    let unused = params.insert("unused", Tensor::vector(&[1.0]))?;
    let t = Tape::new();
    let grads = t.param(&params, w).square().sum().backward()?;
    c.case("the gradient of a parameter never put on the tape", grads.try_get(unused));
    Ok(c.0)
}
// ANCHOR_END: autodiff

// ANCHOR: params
fn params() -> Res<String> {
    let mut c = Cases::default();
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(0));
    let fc = Linear::new(&mut params, "fc1", 3, 2, Init::XavierUniform, &mut rng)?;
    c.case("a second layer named fc1", Linear::new(&mut params, "fc1", 2, 1, Init::XavierUniform, &mut rng));
    c.case("looking up fc9.weight", params.id("fc9.weight"));
    c.case("setting fc1.weight [3, 2] to a [2, 3] tensor", params.set(fc.weight(), Tensor::zeros([2, 3])));
    Ok(c.0)
}
// ANCHOR_END: params

// ANCHOR: models
fn models() -> Res<String> {
    let mut c = Cases::default();
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(0));
    let fc = Linear::new(&mut params, "fc1", 3, 1, Init::XavierUniform, &mut rng)?;
    c.case("a [4, 5] batch into a 3-input layer", fc.predict(&params, &Tensor::zeros([4, 5])));
    let t = Tape::new();
    let (pred, y) = (t.constant(&Tensor::<f64>::zeros([32, 1])), t.constant(&Tensor::zeros([32])));
    c.case("mse_loss of a [32, 1] prediction and a [32] target", mse_loss(pred, y).backward());
    let t = Tape::new();
    let (pred, y) = (t.constant(&Tensor::<f64>::zeros([32, 1])), t.constant(&Tensor::zeros([16, 1])));
    c.case("mse_loss of 32 predictions and 16 targets", mse_loss(pred, y).backward());
    let t = Tape::new();
    let logits = t.constant(&Tensor::<f64>::zeros([4, 3]));
    c.case("4 rows of logits, 3 labels", softmax_cross_entropy(logits, &[0, 1, 2]).backward());
    let t = Tape::new();
    let logits = t.constant(&Tensor::<f64>::zeros([4, 3]));
    c.case("label 3 with 3 classes", softmax_cross_entropy(logits, &[0, 1, 3, 2]).backward());
    let t = Tape::new();
    let logits = t.constant(&Tensor::<f64>::zeros([3]));
    c.case("logits of one example as a [3] vector", softmax_cross_entropy(logits, &[1]).backward());
    Ok(c.0)
}
// ANCHOR_END: models

// ANCHOR: files
fn files() -> Res<String> {
    let mut c = Cases::default();
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(0));
    Linear::new(&mut params, "fc1", 3, 2, Init::XavierUniform, &mut rng)?;
    let meta = BTreeMap::new();
    let tensors = |list: &[(&'static str, Tensor<f64>)]| -> Res<Vec<u8>> {
        Ok(io::to_bytes(list.iter().map(|(n, t)| (*n, t)), &meta)?)
    };
    c.case("loading weights from a file that is not there", io::load::<f64>("weights/missing.safetensors"));
    c.case(
        "reading bytes that are not safetensors",
        io::from_bytes::<f64>(b"not a tensor file", "model.safetensors"),
    );
    let small = io::to_bytes([("fc1.weight", &Tensor::<f32>::zeros([3, 2]))], &meta)?;
    c.case("f32 weights loaded as f64", io::from_bytes::<f64>(&small, "model.safetensors"));
    let (w, b) = (Tensor::zeros([3, 2]), Tensor::zeros([1, 2]));
    let mut load = |bytes: Vec<u8>| -> downhill::prelude::Result<BTreeMap<String, String>> {
        let file = io::from_bytes::<f64>(&bytes, "model.safetensors")?;
        io::assign(&mut params, file, "model.safetensors")
    };
    let no_bias = tensors(&[("fc1.weight", w.clone())])?;
    c.case("a file without fc1.bias", load(no_bias));
    let extra = tensors(&[("fc1.weight", w.clone()), ("fc1.bias", b.clone()), ("fc2.weight", w.clone())])?;
    c.case("a file with an extra fc2.weight", load(extra));
    let wide = tensors(&[("fc1.weight", Tensor::zeros([3, 4])), ("fc1.bias", b)])?;
    c.case("a file from a model with 4 hidden units", load(wide));
    Ok(c.0)
}
// ANCHOR_END: files

// ANCHOR: optimizers
fn optimizers() -> Res<String> {
    let mut c = Cases::default();
    c.case("Adam with beta2 = 1", Adam::<f64>::new(AdamConfig { beta2: 1.0, ..AdamConfig::default() }));
    c.case("SGD with lr = 0", Sgd::<f64>::new(SgdConfig::lr(0.0)));
    c.case(
        "momentum with beta = 0.9 given as 90",
        Momentum::<f64>::new(MomentumConfig { beta: 90.0, ..Default::default() }),
    );
    // A saved Adam state, from two parameters after one step.
    let mut params = Params::<f64>::new();
    let w = params.insert("w", Tensor::vector(&[1.0, 2.0]))?;
    params.insert("b", Tensor::scalar(0.0))?;
    let mut adam = Adam::new(AdamConfig::default())?;
    let t = Tape::new();
    let grads = (t.param(&params, w).square().sum() + t.param(&params, params.id("b")?)).backward()?;
    drop(t);
    adam.step(&mut params, &grads)?;
    let saved = OptimizerState::from_bytes(&adam.state(&params)?.to_bytes()?)?;
    let mut sgd = Sgd::new(SgdConfig::default())?;
    c.case("Adam's state loaded into SGD", sgd.load_state(&saved, &params));
    let mut fast = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() })?;
    c.case("Adam's state loaded into an Adam with another lr", fast.load_state(&saved, &params));
    let mut renamed = Params::<f64>::new();
    renamed.insert("w", Tensor::vector(&[1.0, 2.0]))?;
    renamed.insert("bias", Tensor::scalar(0.0))?;
    c.case(
        "the state of w and b, loaded for w and bias",
        Adam::new(AdamConfig::default())?.load_state(&saved, &renamed),
    );
    let mut more = params.clone();
    more.insert("v", Tensor::scalar(0.0))?;
    c.case(
        "the state of w and b, loaded for w, b and v",
        Adam::new(AdamConfig::default())?.load_state(&saved, &more),
    );
    let mut wider = Params::<f64>::new();
    wider.insert("w", Tensor::vector(&[1.0, 2.0, 3.0]))?;
    wider.insert("b", Tensor::scalar(0.0))?;
    c.case(
        "the state of a [2] w, loaded for a [3] w",
        Adam::new(AdamConfig::default())?.load_state(&saved, &wider),
    );
    let weights_only = io::to_bytes(params.iter().map(|(_, n, t)| (n, t)), &BTreeMap::new())?;
    c.case("a weights file read as optimizer state", OptimizerState::<f64>::from_bytes(&weights_only));
    Ok(c.0)
}
// ANCHOR_END: optimizers

// ANCHOR: data
fn data() -> Res<String> {
    let mut c = Cases::default();
    let opts = CsvOptions::target("price");
    let read = |text: &[u8]| read_csv(text, "houses.csv", &opts);
    c.case("a CSV file that is not there", load_csv("data/no-such-file.csv", &opts));
    c.case("a row with a missing field", read(b"rooms,area,price\n3,120,250\n4,300\n"));
    c.case(
        "a number with a comma as decimal separator",
        read(b"rooms,area,price\n3,120,250\n4,\"95,5\",199\n"),
    );
    c.case("an empty cell", read(b"rooms,area,price\n3,120,250\n4,,199\n"));
    c.case("no column named price", read_csv(&b"rooms,area,cost\n3,120,250\n"[..], "houses.csv", &opts));
    c.case("a header and no rows", read(b"rooms,area,price\n"));
    c.case("bytes that are not UTF-8", read(b"rooms,area,price\n3,120,\xff\n"));
    let houses = read(b"rooms,area,price\n3,120,250.5\n4,95,199\n")?;
    c.case("prices used as class labels", houses.labels());
    let split = SplitOptions { val: 0.6, test: 0.5, ..SplitOptions::default() };
    c.case("a split with val 0.6 and test 0.5", houses.split(&split));
    Ok(c.0)
}
// ANCHOR_END: data

// ANCHOR: checkpoints
fn checkpoints() -> Res<String> {
    let mut c = Cases::default();
    let data = toy(Toy::Moons, 40, 0.25, 1)?;
    let cfg = FitConfig { epochs: 2, batch_size: 8, seed: 1, ..FitConfig::default() };
    let saved = {
        let mut params = Params::<f64>::new();
        let model = LogisticRegression::new(&mut params, "logreg", 2)?;
        let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
        let mut run = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &data, None, &cfg)?;
        run.run_until(3)?;
        run.checkpoint()?.to_bytes()?
    };
    let ckpt = Checkpoint::<f64>::from_bytes(&saved)?;
    let mut params = Params::<f64>::new();
    let model = LogisticRegression::new(&mut params, "logreg", 2)?;
    let mut opt = Sgd::new(SgdConfig::lr(0.1))?;
    let other_seed = FitConfig { seed: 2, ..cfg.clone() };
    let mut run = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &data, None, &other_seed)?;
    c.case("resuming with seed 2 a run saved with seed 1", run.resume(&ckpt));
    drop(run);
    let mut run = Trainer::new(&model, &mut params, &mut opt, Loss::Mse, &data, None, &cfg)?;
    c.case("resuming with MSE a run saved with BCE", run.resume(&ckpt));
    c.case("a checkpoint cut short", Checkpoint::<f64>::from_bytes(&saved[..saved.len() / 2]));
    let weights = io::to_bytes(params.iter().map(|(_, n, t)| (n, t)), &BTreeMap::new())?;
    c.case("a weights file read as a checkpoint", Checkpoint::<f64>::from_bytes(&weights));
    Ok(c.0)
}
// ANCHOR_END: checkpoints

// ANCHOR: gradcheck
fn gradcheck() -> Res<String> {
    let mut c = Cases::default();
    let x = Tensor::vector(&[0.5, 0.0]);
    c.case("checking log at 0", GradCheck::new().check(&[("x", x)], |_, v| v[0].log().sum()));
    let x = Tensor::vector(&[1.0]);
    c.case(
        "a step eps of 0",
        GradCheck::with_tolerances(0.0, 1e-5, 1e-3).check(&[("x", x)], |_, v| v[0].sum()),
    );
    c.case("nothing to check", GradCheck::new().check(&[], |_, v| v[0].sum()));
    let x = Tensor::vector(&[1.0, f64::NAN]);
    c.case("an input holding NaN", GradCheck::new().check(&[("x", x)], |_, v| v[0].sum()));
    let x = Tensor::vector(&[1000.0f32]);
    let f32_check = GradCheck::<f32>::with_tolerances(1e-6, 1e-2, 1e-2);
    c.case(
        "an f32 check with eps 1e-6 at x = 1000",
        f32_check.check(&[("x", x)], |_, v| v[0].square().sum()),
    );
    Ok(c.0)
}
// ANCHOR_END: gradcheck

// ANCHOR: defaults
/// One row of the defaults table: optimizer, setting, downhill's default (from the code),
/// PyTorch's and optax's documented defaults.
type Row = (&'static str, &'static str, String, &'static str, &'static str);

fn defaults() -> String {
    let (sgd, mom, nes) = (SgdConfig::default(), MomentumConfig::default(), NesterovConfig::default());
    let (ada, rms) = (AdagradConfig::default(), RmsPropConfig::default());
    let (adam, adamw, lbfgs) = (AdamConfig::default(), AdamWConfig::default(), LbfgsConfig::default());
    let v = |x: &dyn Debug| format!("{x:?}");
    let rows: Vec<Row> = vec![
        ("Sgd", "lr", v(&sgd.lr), "1e-3", "required"),
        ("Sgd", "weight_decay", v(&sgd.weight_decay), "0 (L2)", "none (`add_decayed_weights`)"),
        ("Momentum", "lr", v(&mom.lr), "1e-3", "required"),
        ("Momentum", "beta", v(&mom.beta), "`momentum=0` (must be set)", "`momentum=None` (must be set)"),
        ("Momentum", "form", v(&mom.form), "classical, `dampening=0`", "classical (`trace`)"),
        ("Nesterov", "lr", v(&nes.lr), "1e-3", "required"),
        ("Nesterov", "beta", v(&nes.beta), "must be set (`nesterov=True`)", "must be set (`nesterov=True`)"),
        ("Adagrad", "lr", v(&ada.lr), "1e-2", "required"),
        ("Adagrad", "eps", v(&ada.eps), "1e-10", "1e-7"),
        ("Adagrad", "initial_accumulator_value", v(&ada.initial_accumulator_value), "0", "0.1"),
        ("RmsProp", "lr", v(&rms.lr), "1e-2", "required"),
        ("RmsProp", "alpha", v(&rms.alpha), "0.99", "`decay=0.9`"),
        ("RmsProp", "eps", v(&rms.eps), "1e-8", "1e-8 (inside the square root)"),
        ("RmsProp", "momentum", v(&rms.momentum), "0", "`None`"),
        ("RmsProp", "centered", v(&rms.centered), "False", "False"),
        ("Adam", "lr", v(&adam.lr), "1e-3", "required"),
        ("Adam", "beta1, beta2", format!("{:?}, {:?}", adam.beta1, adam.beta2), "0.9, 0.999", "0.9, 0.999"),
        ("Adam", "eps", v(&adam.eps), "1e-8", "1e-8"),
        ("Adam", "weight_decay", v(&adam.weight_decay), "0 (L2)", "none"),
        ("AdamW", "lr", v(&adamw.lr), "1e-3", "required"),
        ("AdamW", "weight_decay (decoupled)", v(&adamw.weight_decay), "1e-2", "1e-4"),
        ("Lbfgs", "lr", v(&lbfgs.lr), "1", "`None` (line search picks the step)"),
        ("Lbfgs", "max_iter", v(&lbfgs.max_iter), "20", "one iteration per `update`"),
        ("Lbfgs", "history_size", v(&lbfgs.history_size), "100", "`memory_size=10`"),
        ("Lbfgs", "tolerance_grad", v(&lbfgs.tolerance_grad), "1e-7", "none"),
        ("Lbfgs", "tolerance_change", v(&lbfgs.tolerance_change), "1e-9", "none"),
        ("Lbfgs", "line_search", v(&lbfgs.line_search), "`None`", "zoom line search (always)"),
    ];
    let mut out =
        String::from("| optimizer | setting | downhill | PyTorch | optax |\n|---|---|---|---|---|\n");
    for (opt, setting, ours, torch, optax) in rows {
        let _ = writeln!(out, "| `{opt}` | `{setting}` | `{ours}` | {torch} | {optax} |");
    }
    out
}
// ANCHOR_END: defaults

// ANCHOR: checkpoint
/// Linear regression, `y ≈ x·w + b`, trained for 50 Adam steps, with four bugs; the first
/// `fixed` of them are fixed. Returns the final loss, or the first error.
pub fn attempt(fixed: usize) -> downhill::prelude::Result<f64> {
    let mut rng = seeded_rng(4);
    let x = Tensor::<f64>::rand_normal([8, 3], 0.0, 1.0, &mut rng)?;
    let y = Tensor::<f64>::rand_normal([8], 0.0, 1.0, &mut rng)?; // one target per row
    // Bug 1: eps = 0 "to be exact". Fix: leave eps at its default.
    let eps = if fixed >= 1 { AdamConfig::default().eps } else { 0.0 };
    let mut opt = Adam::new(AdamConfig { lr: 0.1, eps, ..AdamConfig::default() })?;
    let mut params = Params::new();
    // Bug 2: the weight stored as a row. Fix: one row per input feature, [3, 1].
    let w = params.insert("w", Tensor::zeros(if fixed >= 2 { [3, 1] } else { [1, 3] }))?;
    let b = params.insert("b", Tensor::zeros([1, 1]))?;
    // Bug 4: a [8] target for a [8, 1] prediction. Fix: reshape the target.
    let y = if fixed >= 4 { y.reshape([8, 1])? } else { y };
    let mut tape = Tape::new();
    let mut loss = f64::NAN;
    for _ in 0..50 {
        let xw = tape.constant(&x).matmul(tape.param(&params, w));
        // Bug 3: `+` with a [1, 1] bias. Fix: broadcast_add says the bias is repeated per row.
        let pred =
            if fixed >= 3 { xw.broadcast_add(tape.param(&params, b)) } else { xw + tape.param(&params, b) };
        let l = mse_loss(pred, tape.constant(&y));
        let grads = l.backward()?;
        loss = l.item()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
    }
    Ok(loss)
}
// ANCHOR_END: checkpoint

/// The checkpoint exercise: the program with 0, 1, 2, 3 and 4 bugs fixed.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    for fixed in 0..=4 {
        let line = match attempt(fixed) {
            Ok(loss) => format!("{fixed} fixed: trains; loss after 50 steps {loss:.6}"),
            Err(e) => format!("{fixed} fixed: {}\n    {}", variant(&e), without_location(&tidy(e))),
        };
        writeln!(out, "{line}")?;
    }
    Ok(out)
}

/// The message with `at FILE:LINE:COLUMN` replaced by `at <line>` (the line moves when the
/// example is edited; the snapshot should not).
pub fn without_location(message: &str) -> String {
    let Some(i) = message.find(" at examples/") else { return message.to_string() };
    let rest = &message[i + 4..];
    let end = rest.find([';', ' ']).unwrap_or(rest.len());
    format!("{} at <line>{}", &message[..i], &rest[end..])
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let texts = vec![
        ("anatomy.txt", anatomy()?),
        ("errors_shapes.txt", shapes()?),
        ("errors_autodiff.txt", autodiff()?),
        ("errors_params.txt", params()?),
        ("errors_models.txt", models()?),
        ("errors_files.txt", files()?),
        ("errors_optimizers.txt", optimizers()?),
        ("errors_data.txt", data()?),
        ("errors_checkpoints.txt", checkpoints()?),
        ("errors_gradcheck.txt", gradcheck()?),
        ("defaults.md", defaults()),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures: Vec::new() })
}

fn main() -> Res<()> {
    chapter()?.write("ch10")
}

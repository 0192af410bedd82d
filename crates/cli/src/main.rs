//! `downhill`: train a model on a CSV file, diagnose a dataset, sweep learning rates, or compare
//! optimizers, from the command line.
//!
//! ```text
//! downhill fit data/breast_cancer.csv --skip-lines 1 --no-header --model logistic \
//!     --optimizer sgd --lr 0.1 --standardize --val 0.2 --epochs 20 --out run/ [--json]
//! downhill fit data.csv --model mlp:32 --optimizer momentum --lr 0.05 --momentum 0.9 --nesterov \
//!     --weight-decay 1e-4 --epochs 20 --checkpoint-every 5 --out run/ [--dtype f32]
//! downhill fit data.csv --model mlp:32 ...the same options... --epochs 40 \
//!     --resume run/checkpoint-epoch20.safetensors --out run2/
//! downhill doctor data/breast_cancer.csv --skip-lines 1 --no-header --loss bce_with_logits
//! downhill sweep data.csv --target y --model linear --optimizer sgd --standardize
//! downhill compare data.csv --target y --model linear --standardize \
//!     --optimizers sgd:0.1,momentum:0.05,adam:0.01 --steps 500 --seeds 0,1,2 --out cmp/
//! ```
//!
//! Optimizer settings beyond the rate (`--momentum`, `--nesterov`, `--beta1`, `--beta2`, `--eps`,
//! `--weight-decay`) apply to the optimizers that have them; any other use, or a value out of the
//! optimizer's range, is a usage error naming the option. `--checkpoint-every N --out DIR` writes
//! `DIR/checkpoint-epochE.safetensors` every N epochs; `--resume` continues such a run bit for bit
//! (same final weights and reports as the uninterrupted run) and refuses a checkpoint of another
//! model, optimizer setting, data split, seed, batch size, L2, dtype or budget, naming what
//! differs. `--dtype f32` trains in single precision (f64 is the default).
//!
//! `downhill <command> --help` lists every option with its default.
//!
//! # Exit codes
//!
//! Scripts can rely on these:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`doctor`: the checks ran, whatever they found) |
//! | 1 | training diverged (`fit`: a divergence guard stopped the run; the summary is still printed and `--out` still written. `sweep`: no rate was stable. `compare`: every run diverged) |
//! | 2 | usage error: a bad or missing argument, options that do not fit together, or a checkpoint of another run |
//! | 3 | data or file error: the CSV or a checkpoint cannot be read or parsed, the target column is missing, the targets do not suit the loss, or `--out` cannot be written |
//! | 4 | internal error: a bug in downhill (please report it with the command line) |
//!
//! Errors are printed on stderr as one `error: ...` line that names the file, line and column
//! where that applies, and says how to fix it; never a backtrace.

mod commands;
mod spec;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use downhill_train::fit::Loss;

use spec::{
    ActivationName, ModelSpec, OptSettings, OptimizerName, ScheduleSpec, parse_loss, parse_model,
    parse_schedule,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (doctor: the checks ran, whatever they found)
  1  training diverged (fit: a divergence guard stopped the run; the summary is still
     printed and --out still written; sweep: no rate was stable; compare: every
     run diverged)
  2  usage error: a bad or missing argument, options that do not fit together, or a
     checkpoint of another run (--resume)
  3  data or file error: the CSV or a checkpoint cannot be read or parsed, the target
     column is missing, the targets do not suit the loss, or --out cannot be written
  4  internal error: a bug in downhill (please report it with the command line)";

/// Train models on CSV files with gradient descent, diagnose datasets, sweep learning rates,
/// compare optimizers.
#[derive(Parser, Debug)]
#[command(name = "downhill", version, after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model on a CSV file and print a summary (and write the run to --out).
    #[command(after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
    Fit(FitArgs),
    /// Check a dataset before training: scales, correlations, loss/task match, initial loss.
    #[command(after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Train briefly at log-spaced learning rates and name the largest stable one.
    #[command(after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
    Sweep(SweepArgs),
    /// Compare optimizers on one model and dataset at the same update budget, over several seeds.
    ///
    /// For each seed every contender starts from the same initial weights and sees the same
    /// batches; the table gives mean and spread of the final losses and the diverged runs.
    #[command(after_help = EXIT_CODES, after_long_help = EXIT_CODES)]
    Compare(CompareArgs),
}

/// Where the data is and how to read it.
#[derive(Args, Debug)]
struct DataArgs {
    /// The CSV file (a `.gz` file is decompressed). Every cell must be a number.
    #[arg(value_name = "DATA.csv")]
    data: PathBuf,
    /// The target column by name (without a header the columns are named col0, col1, ...).
    /// Default: the last column.
    #[arg(long, value_name = "COL")]
    target: Option<String>,
    /// The file has no header line of column names.
    #[arg(long)]
    no_header: bool,
    /// Lines to skip before the header or the data (1 for data/breast_cancer.csv, whose first
    /// line is a shape line).
    #[arg(long, value_name = "N", default_value_t = 0)]
    skip_lines: usize,
    /// Field delimiter: one ASCII character, or `tab` / `space`.
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = parse_delimiter)]
    delimiter: u8,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" => Ok(b'\t'),
        "space" => Ok(b' '),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!("the delimiter must be one ASCII character, `tab` or `space`, got {s:?}")),
    }
}

fn parse_batch(s: &str) -> Result<usize, String> {
    if s == "full" {
        return Ok(usize::MAX);
    }
    match s.parse::<usize>() {
        Ok(0) | Err(_) => {
            Err(format!("the batch size must be a whole number >= 1, or `full` for full-batch GD, got {s:?}"))
        }
        Ok(b) => Ok(b),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..1.0).contains(&f) => Ok(f),
        _ => Err(format!("a split fraction must be a number in [0, 1), got {s:?}")),
    }
}

fn parse_lr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("a learning rate must be a finite number > 0, got {s:?}")),
    }
}

fn parse_l2(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("the L2 strength must be a finite number >= 0, got {s:?}")),
    }
}

/// The model, its loss, and how the data is prepared (shared by fit, sweep and compare).
#[derive(Args, Debug)]
struct TrainArgs {
    /// The model: linear, logistic, softmax, or mlp:H1,H2,... (hidden widths, e.g. mlp:32).
    #[arg(long, value_parser = parse_model)]
    model: ModelSpec,
    /// The activation between an MLP's layers (He init for relu, Xavier for the others).
    #[arg(long, value_enum, default_value_t = ActivationName::Relu)]
    activation: ActivationName,
    /// The loss: mse, half_mse, huber[:DELTA], bce_with_logits, cross_entropy. Default: the
    /// model's own (linear: mse, logistic: bce_with_logits, softmax: cross_entropy; mlp: from
    /// the targets).
    #[arg(long, value_parser = parse_loss)]
    loss: Option<Loss>,
    /// Rows per step: 1 is SGD, `full` is full-batch gradient descent.
    #[arg(long, value_name = "N|full", default_value = "32", value_parser = parse_batch)]
    batch_size: usize,
    /// L2 penalty strength λ (the penalty is λ/2·Σw², biases excluded).
    #[arg(long, value_name = "LAMBDA", value_parser = parse_l2)]
    l2: Option<f64>,
    /// Standardize the features with statistics of the training split.
    #[arg(long)]
    standardize: bool,
    /// Seed of the split, the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of rows held out for validation.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    val: f64,
    /// Fraction of rows held out for a final test.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = parse_fraction)]
    test: f64,
    /// Keep class proportions in the split (classification targets only).
    #[arg(long)]
    stratify: bool,
}

/// The optimizer of fit and sweep.
#[derive(Args, Debug)]
struct OptimizerArgs {
    /// The optimizer (settings not given below at their documented defaults).
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    optimizer: OptimizerName,
    #[command(flatten)]
    settings: OptArgs,
}

/// Optimizer settings beyond the rate; each applies to some optimizers only (a setting the chosen
/// optimizer does not have is a usage error).
#[derive(Args, Debug)]
struct OptArgs {
    /// Momentum coefficient in [0, 1): β of momentum and nesterov (default 0.9), momentum of
    /// rmsprop (default 0).
    #[arg(long, value_name = "BETA", help_heading = "Optimizer settings")]
    momentum: Option<f64>,
    /// Nesterov's look-ahead for --optimizer momentum (the same as --optimizer nesterov).
    #[arg(long, help_heading = "Optimizer settings")]
    nesterov: bool,
    /// Decay of adam's and adamw's first moment, in [0, 1) (default 0.9).
    #[arg(long, value_name = "BETA", help_heading = "Optimizer settings")]
    beta1: Option<f64>,
    /// Decay of adam's and adamw's second moment, in [0, 1) (default 0.999).
    #[arg(long, value_name = "BETA", help_heading = "Optimizer settings")]
    beta2: Option<f64>,
    /// The denominator's epsilon of adagrad (default 1e-10), rmsprop, adam and adamw (default
    /// 1e-8), > 0.
    #[arg(long, value_name = "EPS", help_heading = "Optimizer settings")]
    eps: Option<f64>,
    /// Weight decay λ >= 0, every optimizer: added to the gradient as λ·w (PyTorch's
    /// weight_decay; unlike --l2 it also decays biases and is not part of the reported loss);
    /// decoupled, w ← w·(1 − lr·λ), for adamw (default 0.01 there, 0 elsewhere).
    #[arg(long, value_name = "LAMBDA", help_heading = "Optimizer settings")]
    weight_decay: Option<f64>,
}

impl OptArgs {
    fn settings(&self) -> OptSettings {
        OptSettings {
            momentum: self.momentum,
            nesterov: self.nesterov,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }
}

#[derive(Args, Debug)]
struct FitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    opt: OptimizerArgs,
    /// Learning rate. Default: the optimizer's (sgd, momentum, nesterov, adam, adamw: 0.001;
    /// adagrad, rmsprop: 0.01).
    #[arg(long, value_parser = parse_lr)]
    lr: Option<f64>,
    /// Learning-rate schedule: constant, step:SIZE[,GAMMA], exp:GAMMA, cosine[:TOTAL[,FLOOR]]
    /// (TOTAL defaults to the run's steps), warmup:STEPS[,START].
    #[arg(long, default_value = "constant", value_parser = parse_schedule)]
    schedule: ScheduleSpec,
    /// Passes over the training split.
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Stop after this many steps in total.
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Early stopping: stop after this many epochs without a better validation loss and restore
    /// the best weights (needs --val).
    #[arg(long, value_name = "EPOCHS")]
    patience: Option<usize>,
    /// Write the run report here: summary.md, config.json, steps.csv, epochs.csv, SVG charts,
    /// plus weights.safetensors, scaler.safetensors (with --standardize) and summary.json (the
    /// --json summary).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print a machine-readable JSON summary instead of text.
    #[arg(long)]
    json: bool,
    /// The float type of the weights, optimizer state and arithmetic (the CSV is read in f64
    /// and converted once). f32 halves the memory and is usually faster, at about 7 significant
    /// digits.
    #[arg(long, value_enum, default_value_t = DtypeName::F64)]
    dtype: DtypeName,
    /// Write a checkpoint every N epochs to --out as checkpoint-epochE.safetensors (weights,
    /// optimizer state, data cursor, run log and scaler: everything --resume needs).
    #[arg(long, value_name = "N", value_parser = parse_every, requires = "out")]
    checkpoint_every: Option<u64>,
    /// Continue the run saved in this checkpoint. Give the same data and options as the run that
    /// wrote it (--epochs may be larger); the result is bit for bit the uninterrupted run's. A
    /// checkpoint of another model, optimizer, data or settings is refused, naming what differs.
    #[arg(long, value_name = "CHECKPOINT")]
    resume: Option<PathBuf>,
}

/// `--dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DtypeName {
    F32,
    F64,
}

fn parse_every(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) | Err(_) => {
            Err(format!("the checkpoint interval must be a whole number of epochs >= 1, got {s:?}"))
        }
        Ok(n) => Ok(n),
    }
}

#[derive(Args, Debug)]
struct DoctorArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The loss you plan to use (checked against the targets).
    #[arg(long, value_parser = parse_loss)]
    loss: Option<Loss>,
    /// You will standardize the features (scale findings are then informational).
    #[arg(long)]
    standardize: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    opt: OptimizerArgs,
    /// The smallest rate.
    #[arg(long, default_value_t = 1e-4, value_parser = parse_lr)]
    lr_min: f64,
    /// The largest rate.
    #[arg(long, default_value_t = 10.0, value_parser = parse_lr)]
    lr_max: f64,
    /// Number of rates, log-spaced from --lr-min to --lr-max.
    #[arg(long, default_value_t = 11)]
    points: usize,
    /// Optimizer steps per rate.
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// Write sweep.csv and sweep.svg here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the sweep as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CompareArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// The contenders, comma-separated: OPTIMIZER[:LR] (e.g. sgd:0.1,momentum:0.05,adam); the
    /// rate defaults to the optimizer's. Other settings are at their defaults.
    #[arg(long, value_name = "LIST", value_parser = parse_contenders)]
    optimizers: Contenders,
    /// Optimizer steps per run (the same budget for every contender).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = parse_steps)]
    steps: u64,
    /// Seeds, comma-separated: each seeds the initial weights (of an MLP) and the batch order, the
    /// same for every contender.
    #[arg(long, value_name = "LIST", default_value = "0,1,2", value_parser = parse_seeds)]
    seeds: Seeds,
    /// A training loss to reach: the table then counts the runs that reached it and the steps
    /// they took (measured at epoch ends).
    #[arg(long, value_name = "LOSS")]
    target_loss: Option<f64>,
    /// Write compare.md (the table), summary.csv (one row per optimizer) and runs.csv (one row
    /// per run) here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

/// `--optimizers`: the optimizer and its rate (`None`: the optimizer's default) of each contender.
#[derive(Clone, Debug)]
struct Contenders(Vec<(OptimizerName, Option<f64>)>);

fn parse_contenders(s: &str) -> Result<Contenders, String> {
    use clap::ValueEnum;
    let mut out = Vec::new();
    for part in s.split(',') {
        let (name, lr) = part.split_once(':').map_or((part, None), |(n, l)| (n, Some(l)));
        let Ok(opt) = OptimizerName::from_str(name.trim(), true) else {
            return Err(format!(
                "unknown optimizer {name:?} in {s:?}; choose from sgd, momentum, nesterov, adagrad, rmsprop, \
                 adam, adamw, each optionally with :LR (e.g. sgd:0.1)"
            ));
        };
        let lr = lr.map(|l| parse_lr(l.trim())).transpose()?;
        let rate = |l: Option<f64>, o: OptimizerName| l.unwrap_or_else(|| o.default_lr());
        if out.iter().any(|&(o, l)| o == opt && rate(l, o) == rate(lr, opt)) {
            return Err(format!(
                "{part:?} repeats an earlier contender in {s:?} (without :LR an optimizer runs at its default \
                 rate, {} for {}); list each contender once",
                opt.default_lr(),
                opt.name()
            ));
        }
        out.push((opt, lr));
    }
    Ok(Contenders(out))
}

fn parse_steps(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("the step budget must be a whole number >= 1, got {s:?}")),
        Ok(n) => Ok(n),
    }
}

/// `--seeds`.
#[derive(Clone, Debug)]
struct Seeds(Vec<u64>);

fn parse_seeds(s: &str) -> Result<Seeds, String> {
    let seeds = s
        .split(',')
        .map(|x| {
            x.trim().parse::<u64>().map_err(|_| format!("seed {x:?} in {s:?} is not a whole number >= 0"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    Ok(Seeds(seeds))
}

/// A failure, by exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: training diverged (the message says how).
    Diverged(String),
    /// Exit 2: bad arguments.
    Usage(String),
    /// Exit 3: the data or an output file.
    Data(String),
    /// Exit 4: a bug.
    Internal(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Diverged(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Data(_) => 3,
            Failure::Internal(_) => 4,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Diverged(m) => format!("training diverged: {m}"),
            Failure::Usage(m) => format!("{m}\n\nFor more information, try '--help'."),
            Failure::Data(m) => m.clone(),
            Failure::Internal(m) => format!("internal error (please report it): {m}"),
        }
    }
}

impl From<downhill_train::Error> for Failure {
    fn from(e: downhill_train::Error) -> Self {
        use downhill_train::Error as E;
        match e {
            E::Io { .. }
            | E::Csv { .. }
            | E::RaggedRow { .. }
            | E::BadCell { .. }
            | E::MissingTarget { .. }
            | E::Empty { .. }
            | E::NotLabels { .. } => Failure::Data(e.to_string()),
            E::InvalidArgument { .. } | E::CheckpointMismatch { .. } => Failure::Usage(e.to_string()),
            E::CheckpointCorrupt { .. } => Failure::Data(e.to_string()),
            other => Failure::Internal(other.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Fit(a) => commands::fit(a),
        Command::Doctor(a) => commands::doctor(a),
        Command::Sweep(a) => commands::sweep(a),
        Command::Compare(a) => commands::compare(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

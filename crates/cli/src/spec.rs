//! The small languages of the command line (`mlp:16,8`, `step:100,0.5`, `huber:2`) parsed into
//! values, and the models, losses, optimizers and schedules built from them.

use std::fmt;

use clap::ValueEnum;
use downhill_nn::{Activation, Init, LinearRegression, LogisticRegression, Mlp, Module, SoftmaxRegression};
use downhill_optim::schedule::{Constant, Cosine, Exponential, LinearWarmup, Schedule, StepDecay};
use downhill_optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Momentum, MomentumConfig, Nesterov,
    NesterovConfig, Optimizer, OptimizerState, RmsProp, RmsPropConfig, Sgd, SgdConfig, WeightDecay,
};
use downhill_tensor::{Float, Grads, ParamId, Params, Tape, Var, seeded_rng};
use downhill_train::doctor::Task;
use downhill_train::fit::Loss;

use crate::Failure;

/// `--model`: `linear`, `logistic`, `softmax` or `mlp:H1,H2,...`.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    Linear,
    Logistic,
    Softmax,
    Mlp(Vec<usize>),
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Linear => f.write_str("linear"),
            ModelSpec::Logistic => f.write_str("logistic"),
            ModelSpec::Softmax => f.write_str("softmax"),
            ModelSpec::Mlp(h) => {
                let h: Vec<String> = h.iter().map(usize::to_string).collect();
                write!(f, "mlp:{}", h.join(","))
            }
        }
    }
}

fn number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| format!("{what} {s:?} is not a valid number"))
}

/// Parses `--model`.
pub fn parse_model(s: &str) -> Result<ModelSpec, String> {
    match s {
        "linear" => Ok(ModelSpec::Linear),
        "logistic" => Ok(ModelSpec::Logistic),
        "softmax" => Ok(ModelSpec::Softmax),
        _ => {
            let Some(rest) = s.strip_prefix("mlp:") else {
                return Err(format!(
                    "unknown model {s:?}; choose linear, logistic, softmax or mlp:H1,H2,... (hidden widths, e.g. mlp:32)"
                ));
            };
            let h = rest
                .split(',')
                .map(|w| number::<usize>("hidden width", w))
                .collect::<Result<Vec<usize>, String>>()?;
            if h.contains(&0) {
                return Err(format!("hidden widths must be at least 1, got {s:?}"));
            }
            Ok(ModelSpec::Mlp(h))
        }
    }
}

/// Parses `--loss`: a [`Loss::name`], or `huber:DELTA`.
pub fn parse_loss(s: &str) -> Result<Loss, String> {
    if let Some(d) = s.strip_prefix("huber:") {
        let delta: f64 = number("huber delta", d)?;
        if !(delta.is_finite() && delta > 0.0) {
            return Err(format!("huber delta must be finite and > 0, got {delta}"));
        }
        return Ok(Loss::Huber { delta });
    }
    Loss::parse(s).map_err(|e| e.to_string().trim_start_matches("loss: ").to_string())
}

/// `--schedule`.
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleSpec {
    /// The optimizer's `lr` throughout.
    Constant,
    /// `step:SIZE[,GAMMA]`: multiply by GAMMA (default 0.1) every SIZE steps.
    Step { size: u64, gamma: f64 },
    /// `exp:GAMMA`: multiply by GAMMA every step.
    Exp { gamma: f64 },
    /// `cosine[:TOTAL[,FLOOR]]`: cosine decay to FLOOR (default 0) over TOTAL steps (default: the
    /// whole run).
    Cosine { total: Option<u64>, floor: f64 },
    /// `warmup:STEPS[,START]`: linear warmup from START·lr (default 1/3) over STEPS steps.
    Warmup { steps: u64, start: f64 },
}

impl fmt::Display for ScheduleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScheduleSpec::Constant => f.write_str("constant"),
            ScheduleSpec::Step { size, gamma } => write!(f, "step:{size},{gamma}"),
            ScheduleSpec::Exp { gamma } => write!(f, "exp:{gamma}"),
            ScheduleSpec::Cosine { total: Some(t), floor } => write!(f, "cosine:{t},{floor}"),
            ScheduleSpec::Cosine { total: None, floor: 0.0 } => f.write_str("cosine"),
            ScheduleSpec::Cosine { total: None, floor } => write!(f, "cosine:run,{floor}"),
            ScheduleSpec::Warmup { steps, start } => write!(f, "warmup:{steps},{start}"),
        }
    }
}

/// Parses `--schedule`.
pub fn parse_schedule(s: &str) -> Result<ScheduleSpec, String> {
    let (name, args) = s.split_once(':').unwrap_or((s, ""));
    let args: Vec<&str> = if args.is_empty() { Vec::new() } else { args.split(',').collect() };
    let arity = |lo: usize, hi: usize, form: &str| {
        if (lo..=hi).contains(&args.len()) {
            Ok(())
        } else {
            Err(format!("schedule {s:?} has {} argument(s); write it as {form}", args.len()))
        }
    };
    match name {
        "constant" => {
            arity(0, 0, "constant")?;
            Ok(ScheduleSpec::Constant)
        }
        "step" => {
            arity(1, 2, "step:SIZE[,GAMMA] (e.g. step:100,0.5)")?;
            Ok(ScheduleSpec::Step {
                size: number("step size", args[0])?,
                gamma: args.get(1).map_or(Ok(0.1), |g| number("gamma", g))?,
            })
        }
        "exp" => {
            arity(1, 1, "exp:GAMMA (e.g. exp:0.99)")?;
            Ok(ScheduleSpec::Exp { gamma: number("gamma", args[0])? })
        }
        "cosine" => {
            arity(0, 2, "cosine[:TOTAL[,FLOOR]] (e.g. cosine:1000)")?;
            Ok(ScheduleSpec::Cosine {
                total: args.first().map(|t| number("total steps", t)).transpose()?,
                floor: args.get(1).map_or(Ok(0.0), |f| number("floor", f))?,
            })
        }
        "warmup" => {
            arity(1, 2, "warmup:STEPS[,START] (e.g. warmup:100)")?;
            Ok(ScheduleSpec::Warmup {
                steps: number("warmup steps", args[0])?,
                start: args.get(1).map_or(Ok(1.0 / 3.0), |f| number("start factor", f))?,
            })
        }
        _ => Err(format!(
            "unknown schedule {s:?}; choose constant, step:SIZE[,GAMMA], exp:GAMMA, cosine[:TOTAL[,FLOOR]] or warmup:STEPS[,START]"
        )),
    }
}

impl ScheduleSpec {
    /// The same schedule with a cosine's total steps filled in from the run's.
    pub fn resolved(&self, total_steps: u64) -> ScheduleSpec {
        match *self {
            ScheduleSpec::Cosine { total: None, floor } => {
                ScheduleSpec::Cosine { total: Some(total_steps.max(1)), floor }
            }
            ref other => other.clone(),
        }
    }

    /// The schedule for base rate `lr` in a run of `total_steps` steps (`None` for constant).
    pub fn build(&self, lr: f64, total_steps: u64) -> Result<Option<Box<dyn Schedule>>, Failure> {
        let s: Box<dyn Schedule> = match *self {
            ScheduleSpec::Constant => {
                Constant::new(lr).map_err(usage)?;
                return Ok(None);
            }
            ScheduleSpec::Step { size, gamma } => {
                Box::new(StepDecay::with_gamma(lr, size, gamma).map_err(usage)?)
            }
            ScheduleSpec::Exp { gamma } => Box::new(Exponential::new(lr, gamma).map_err(usage)?),
            ScheduleSpec::Cosine { total, floor } => {
                Box::new(Cosine::with_floor(lr, total.unwrap_or(total_steps).max(1), floor).map_err(usage)?)
            }
            ScheduleSpec::Warmup { steps, start } => {
                Box::new(LinearWarmup::with(lr, steps, start).map_err(usage)?)
            }
        };
        Ok(Some(s))
    }
}

fn usage(e: impl fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    Sgd,
    Momentum,
    Nesterov,
    Adagrad,
    Rmsprop,
    Adam,
    Adamw,
}

impl OptimizerName {
    /// The name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerName::Sgd => "sgd",
            OptimizerName::Momentum => "momentum",
            OptimizerName::Nesterov => "nesterov",
            OptimizerName::Adagrad => "adagrad",
            OptimizerName::Rmsprop => "rmsprop",
            OptimizerName::Adam => "adam",
            OptimizerName::Adamw => "adamw",
        }
    }

    /// The optimizer's default learning rate (its config's default).
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerName::Sgd => SgdConfig::default().lr,
            OptimizerName::Momentum => MomentumConfig::default().lr,
            OptimizerName::Nesterov => NesterovConfig::default().lr,
            OptimizerName::Adagrad => AdagradConfig::default().lr,
            OptimizerName::Rmsprop => RmsPropConfig::default().lr,
            OptimizerName::Adam => AdamConfig::default().lr,
            OptimizerName::Adamw => AdamWConfig::default().lr,
        }
    }

    /// The optimizer that actually runs: `momentum` with `--nesterov` is `nesterov`.
    pub fn effective(self, settings: &OptSettings) -> OptimizerName {
        if self == OptimizerName::Momentum && settings.nesterov { OptimizerName::Nesterov } else { self }
    }

    /// Builds the optimizer with rate `lr`, the settings given on the command line (the others at
    /// their documented defaults) and an optional schedule.
    pub fn build<T: Float>(
        self,
        lr: f64,
        settings: &OptSettings,
        schedule: Option<Box<dyn Schedule>>,
    ) -> Result<DynOptimizer<T>, Failure> {
        fn finish<T: Float, O: Optimizer<T> + 'static>(
            o: downhill_tensor::Result<O>,
            s: Option<Box<dyn Schedule>>,
            with: impl FnOnce(O, Box<dyn Schedule>) -> O,
        ) -> Result<DynOptimizer<T>, Failure> {
            let o = o.map_err(setting_error)?;
            Ok(DynOptimizer(Box::new(match s {
                Some(s) => with(o, s),
                None => o,
            })))
        }
        settings.check(self)?;
        let s = settings;
        let l2 = s.weight_decay.map_or(WeightDecay::None, WeightDecay::L2);
        match self.effective(settings) {
            OptimizerName::Sgd => {
                finish(Sgd::new(SgdConfig { lr, weight_decay: l2 }), schedule, Sgd::with_schedule)
            }
            OptimizerName::Momentum => {
                let d = MomentumConfig::default();
                finish(
                    Momentum::new(MomentumConfig {
                        lr,
                        beta: s.momentum.unwrap_or(d.beta),
                        weight_decay: l2,
                        ..d
                    }),
                    schedule,
                    Momentum::with_schedule,
                )
            }
            OptimizerName::Nesterov => {
                let d = NesterovConfig::default();
                finish(
                    Nesterov::new(NesterovConfig {
                        lr,
                        beta: s.momentum.unwrap_or(d.beta),
                        weight_decay: l2,
                    }),
                    schedule,
                    Nesterov::with_schedule,
                )
            }
            OptimizerName::Adagrad => {
                let d = AdagradConfig::default();
                finish(
                    Adagrad::new(AdagradConfig { lr, eps: s.eps.unwrap_or(d.eps), weight_decay: l2, ..d }),
                    schedule,
                    Adagrad::with_schedule,
                )
            }
            OptimizerName::Rmsprop => {
                let d = RmsPropConfig::default();
                finish(
                    RmsProp::new(RmsPropConfig {
                        lr,
                        eps: s.eps.unwrap_or(d.eps),
                        momentum: s.momentum.unwrap_or(d.momentum),
                        weight_decay: l2,
                        ..d
                    }),
                    schedule,
                    RmsProp::with_schedule,
                )
            }
            OptimizerName::Adam => {
                let d = AdamConfig::default();
                finish(
                    Adam::new(AdamConfig {
                        lr,
                        beta1: s.beta1.unwrap_or(d.beta1),
                        beta2: s.beta2.unwrap_or(d.beta2),
                        eps: s.eps.unwrap_or(d.eps),
                        weight_decay: l2,
                    }),
                    schedule,
                    Adam::with_schedule,
                )
            }
            OptimizerName::Adamw => {
                let d = AdamWConfig::default();
                finish(
                    AdamW::new(AdamWConfig {
                        lr,
                        beta1: s.beta1.unwrap_or(d.beta1),
                        beta2: s.beta2.unwrap_or(d.beta2),
                        eps: s.eps.unwrap_or(d.eps),
                        weight_decay: s.weight_decay.unwrap_or(d.weight_decay),
                    }),
                    schedule,
                    AdamW::with_schedule,
                )
            }
        }
    }
}

/// The optimizer settings beyond the rate, as given on the command line (`None`: the
/// optimizer's default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OptSettings {
    /// `--momentum`: β of momentum and nesterov, `momentum` of rmsprop.
    pub momentum: Option<f64>,
    /// `--nesterov`: momentum with Nesterov's look-ahead.
    pub nesterov: bool,
    /// `--beta1` of adam and adamw.
    pub beta1: Option<f64>,
    /// `--beta2` of adam and adamw.
    pub beta2: Option<f64>,
    /// `--eps` of adagrad, rmsprop, adam and adamw.
    pub eps: Option<f64>,
    /// `--weight-decay`: L2 added to the gradient (decoupled for adamw).
    pub weight_decay: Option<f64>,
}

/// Which optimizers take each setting (the option, the optimizers, the setting's meaning).
const ACCEPTED: [(&str, &[OptimizerName]); 6] = {
    use OptimizerName::*;
    [
        ("--momentum", &[Momentum, Nesterov, Rmsprop]),
        ("--nesterov", &[Momentum, Nesterov]),
        ("--beta1", &[Adam, Adamw]),
        ("--beta2", &[Adam, Adamw]),
        ("--eps", &[Adagrad, Rmsprop, Adam, Adamw]),
        ("--weight-decay", &[Sgd, Momentum, Nesterov, Adagrad, Rmsprop, Adam, Adamw]),
    ]
};

impl OptSettings {
    /// The options given, by name.
    fn given(&self) -> [(&'static str, bool); 6] {
        [
            ("--momentum", self.momentum.is_some()),
            ("--nesterov", self.nesterov),
            ("--beta1", self.beta1.is_some()),
            ("--beta2", self.beta2.is_some()),
            ("--eps", self.eps.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
        ]
    }

    /// Refuses a setting the optimizer does not have.
    pub fn check(&self, opt: OptimizerName) -> Result<(), Failure> {
        for ((option, given), (_, takers)) in self.given().into_iter().zip(ACCEPTED) {
            if given && !takers.contains(&opt) {
                let names: Vec<&str> = takers.iter().map(|o| o.name()).collect();
                let list = match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                    _ => names.join(""),
                };
                return Err(Failure::Usage(format!(
                    "{option} does not apply to --optimizer {}: it is a setting of {list}; drop {option} or \
                     choose one of those optimizers",
                    opt.name()
                )));
            }
        }
        Ok(())
    }

    /// The settings given, for the summary (`null` for the optimizer's default).
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        })
    }

    /// The settings given, as `, name value` pieces for the text summary.
    pub fn describe(&self, fmt: impl Fn(f64) -> String) -> String {
        let mut s = String::new();
        for (name, v) in [
            ("momentum", self.momentum),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("eps", self.eps),
            ("weight decay", self.weight_decay),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(", {name} {}", fmt(v)));
            }
        }
        s
    }
}

/// An optimizer's own range check, naming the command-line option it came from.
fn setting_error(e: downhill_tensor::Error) -> Failure {
    if let downhill_tensor::Error::Hyperparameter { name, value, .. } = &e {
        let option = match *name {
            "beta" | "momentum" => "--momentum",
            "beta1" => "--beta1",
            "beta2" => "--beta2",
            "eps" => "--eps",
            "weight_decay" => "--weight-decay",
            "lr" => "--lr",
            _ => return usage(e),
        };
        return Failure::Usage(format!("invalid value {value} for {option}: {e}"));
    }
    usage(e)
}

/// `--activation` of an MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ActivationName {
    Relu,
    Tanh,
    Sigmoid,
}

/// Any optimizer behind a box, usable where a sized `Optimizer` is required.
pub struct DynOptimizer<T: Float>(pub Box<dyn Optimizer<T>>);

impl<T: Float> Optimizer<T> for DynOptimizer<T> {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn step(&mut self, params: &mut Params<T>, grads: &Grads<T>) -> downhill_tensor::Result<()> {
        self.0.step(params, grads)
    }
    fn step_count(&self) -> u64 {
        self.0.step_count()
    }
    fn lr(&self) -> f64 {
        self.0.lr()
    }
    fn lr_scale(&self) -> f64 {
        self.0.lr_scale()
    }
    fn set_lr_scale(&mut self, scale: f64) -> downhill_tensor::Result<()> {
        self.0.set_lr_scale(scale)
    }
    fn last_grad_norm(&self) -> Option<f64> {
        self.0.last_grad_norm()
    }
    fn state(&self, params: &Params<T>) -> downhill_tensor::Result<OptimizerState<T>> {
        self.0.state(params)
    }
    fn load_state(&mut self, state: &OptimizerState<T>, params: &Params<T>) -> downhill_tensor::Result<()> {
        self.0.load_state(state, params)
    }
}

/// Any model behind a box, usable where a sized `Module` is required.
pub struct DynModel<T: Float>(pub Box<dyn Module<T>>);

impl<T: Float> Module<T> for DynModel<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        self.0.forward(tape, params, x)
    }
    fn params(&self) -> Vec<ParamId> {
        self.0.params()
    }
}

/// The loss used when `--loss` is not given: the one each model is meant for; for an MLP, the
/// one the targets call for (0/1 → `bce_with_logits`, class labels → `cross_entropy`, else `mse`).
pub fn default_loss(model: &ModelSpec, task: Task) -> Loss {
    match (model, task) {
        (ModelSpec::Linear, _) => Loss::Mse,
        (ModelSpec::Logistic, _) => Loss::BceWithLogits,
        (ModelSpec::Softmax, _) => Loss::CrossEntropy,
        (ModelSpec::Mlp(_), Task::Binary) => Loss::BceWithLogits,
        (ModelSpec::Mlp(_), Task::Multiclass) => Loss::CrossEntropy,
        (ModelSpec::Mlp(_), Task::Regression) => Loss::Mse,
    }
}

/// Refuses a loss the model's output does not fit (every model outputs logits or raw values).
pub fn check_pair(model: &ModelSpec, loss: Loss) -> Result<(), Failure> {
    let ok = match model {
        ModelSpec::Linear => matches!(loss, Loss::Mse | Loss::HalfMse | Loss::Huber { .. }),
        ModelSpec::Logistic => loss == Loss::BceWithLogits,
        ModelSpec::Softmax => loss == Loss::CrossEntropy,
        ModelSpec::Mlp(_) => loss != Loss::Bce,
    };
    if ok {
        return Ok(());
    }
    let hint = match model {
        ModelSpec::Linear => {
            "a linear model takes mse, half_mse or huber (for 0/1 targets use --model logistic)"
        }
        ModelSpec::Logistic => "a logistic model outputs logits: use --loss bce_with_logits",
        ModelSpec::Softmax => "a softmax model outputs logits over classes: use --loss cross_entropy",
        ModelSpec::Mlp(_) => {
            "an MLP outputs logits, not probabilities: use --loss bce_with_logits instead of bce"
        }
    };
    Err(Failure::Usage(format!("--model {model} does not fit --loss {}: {hint}", loss.name())))
}

/// Builds the model for `features` inputs (`classes` outputs for cross-entropy), its weights
/// drawn from `seed`.
pub fn build_model<T: Float>(
    spec: &ModelSpec,
    activation: ActivationName,
    params: &mut Params<T>,
    features: usize,
    classes: usize,
    loss: Loss,
    seed: u64,
) -> Result<DynModel<T>, Failure> {
    let internal = |e: downhill_tensor::Error| Failure::Internal(e.to_string());
    let m: Box<dyn Module<T>> = match spec {
        ModelSpec::Linear => Box::new(LinearRegression::new(params, "linear", features).map_err(internal)?),
        ModelSpec::Logistic => {
            Box::new(LogisticRegression::new(params, "logistic", features).map_err(internal)?)
        }
        ModelSpec::Softmax => {
            Box::new(SoftmaxRegression::new(params, "softmax", features, classes).map_err(internal)?)
        }
        ModelSpec::Mlp(hidden) => {
            let out = if loss == Loss::CrossEntropy { classes } else { 1 };
            let mut sizes = vec![features];
            sizes.extend(hidden);
            sizes.push(out);
            let (act, init) = match activation {
                ActivationName::Relu => (Activation::Relu, Init::HeNormal),
                ActivationName::Tanh => (Activation::Tanh, Init::XavierUniform),
                ActivationName::Sigmoid => (Activation::Sigmoid, Init::XavierUniform),
            };
            Box::new(Mlp::new(params, "mlp", &sizes, act, init, &mut seeded_rng(seed)).map_err(internal)?)
        }
    };
    Ok(DynModel(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs() {
        assert_eq!(parse_model("mlp:16,8"), Ok(ModelSpec::Mlp(vec![16, 8])));
        assert_eq!(parse_model("mlp:16,8").unwrap().to_string(), "mlp:16,8");
        assert_eq!(parse_model("logistic"), Ok(ModelSpec::Logistic));
        assert!(parse_model("mlp:").is_err());
        assert!(parse_model("mlp:4,0").is_err());
        assert!(parse_model("tree").unwrap_err().contains("choose linear"));
    }

    #[test]
    fn schedule_specs() {
        assert_eq!(parse_schedule("step:100"), Ok(ScheduleSpec::Step { size: 100, gamma: 0.1 }));
        assert_eq!(parse_schedule("step:10,0.5"), Ok(ScheduleSpec::Step { size: 10, gamma: 0.5 }));
        assert_eq!(parse_schedule("cosine"), Ok(ScheduleSpec::Cosine { total: None, floor: 0.0 }));
        assert_eq!(parse_schedule("exp:0.9"), Ok(ScheduleSpec::Exp { gamma: 0.9 }));
        assert_eq!(parse_schedule("warmup:5,0"), Ok(ScheduleSpec::Warmup { steps: 5, start: 0.0 }));
        assert!(parse_schedule("exp").unwrap_err().contains("exp:GAMMA"));
        assert!(parse_schedule("step:x").unwrap_err().contains("not a valid number"));
        assert!(parse_schedule("linear").is_err());
        let s = ScheduleSpec::Cosine { total: None, floor: 0.0 }.build(0.1, 10).unwrap().unwrap();
        assert_eq!((s.lr_at(0), s.lr_at(10)), (0.1, 0.0));
        assert!(matches!(ScheduleSpec::Step { size: 0, gamma: 0.5 }.build(0.1, 10), Err(Failure::Usage(_))));
    }

    #[test]
    fn losses_and_pairs() {
        assert_eq!(parse_loss("huber:2"), Ok(Loss::Huber { delta: 2.0 }));
        assert!(parse_loss("huber:-1").is_err());
        assert!(parse_loss("l1").unwrap_err().starts_with("unknown loss"));
        assert!(check_pair(&ModelSpec::Logistic, Loss::Mse).is_err());
        assert!(check_pair(&ModelSpec::Mlp(vec![4]), Loss::CrossEntropy).is_ok());
        assert_eq!(default_loss(&ModelSpec::Mlp(vec![4]), Task::Multiclass), Loss::CrossEntropy);
        let none = OptSettings::default();
        let o = OptimizerName::Adam.build::<f64>(0.5, &none, None).unwrap();
        assert_eq!((o.kind(), o.lr()), ("adam", 0.5));
        assert!(matches!(OptimizerName::Sgd.build::<f64>(-1.0, &none, None), Err(Failure::Usage(_))));
    }

    #[test]
    fn optimizer_settings_reach_the_optimizer() {
        let params = Params::<f64>::new();
        let hyper = |o: OptimizerName, s: OptSettings| {
            let opt = o.build::<f64>(0.1, &s, None).unwrap();
            let st = opt.state(&params).unwrap();
            (opt.kind(), st.metadata)
        };
        let (kind, m) = hyper(
            OptimizerName::Momentum,
            OptSettings { momentum: Some(0.5), nesterov: true, ..Default::default() },
        );
        assert_eq!((kind, m["hyper.beta"].as_str()), ("nesterov", "0.5"));
        let (_, m) = hyper(
            OptimizerName::Adam,
            OptSettings {
                beta1: Some(0.8),
                beta2: Some(0.99),
                eps: Some(1e-6),
                weight_decay: Some(0.01),
                ..Default::default()
            },
        );
        assert_eq!(
            (
                m["hyper.beta1"].as_str(),
                m["hyper.beta2"].as_str(),
                m["hyper.eps"].as_str(),
                m["weight_decay"].as_str()
            ),
            ("0.8", "0.99", "1e-6", "L2(0.01)")
        );
        let (_, m) =
            hyper(OptimizerName::Adamw, OptSettings { weight_decay: Some(0.1), ..Default::default() });
        assert_eq!(m["weight_decay"], "Decoupled(0.1)");
        let (_, m) = hyper(OptimizerName::Rmsprop, OptSettings { momentum: Some(0.9), ..Default::default() });
        assert_eq!(m["hyper.momentum"], "0.9");
        let bad = OptSettings { beta1: Some(0.9), ..Default::default() };
        let Err(Failure::Usage(msg)) = OptimizerName::Sgd.build::<f64>(0.1, &bad, None) else { panic!() };
        assert!(
            msg.contains("--beta1 does not apply to --optimizer sgd: it is a setting of adam and adamw"),
            "{msg}"
        );
        let bad = OptSettings { beta2: Some(1.0), ..Default::default() };
        let Err(Failure::Usage(msg)) = OptimizerName::Adam.build::<f64>(0.1, &bad, None) else { panic!() };
        assert!(msg.starts_with("invalid value 1 for --beta2: adam: beta2"), "{msg}");
    }
}

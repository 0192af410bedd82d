//! Book, chapter 9: extending downhill from outside its crates.
//!
//! ```sh
//! cargo run --release --example ch09_extending            # writes book/src/generated/ch09/
//! cargo run --release --example ch09_extending -- DIR     # or into DIR
//! ```
//!
//! Four extensions, each written here (outside the crates) with the public extension points and
//! each checked: a new op (`L2Normalize`, a [`CustomOp`] recorded with `Tape::custom`, its
//! forward and backward side by side) with its gradient check, and the same op with a wrong
//! backward caught by the checker; a new layer (`Glu`, a gated linear unit implementing
//! [`Module`], four named parameters in a stable order); a new loss (`pinball_loss`, the quantile
//! loss, with typed errors through `Tape::record`); a new optimizer (`Lion`, implementing
//! [`Optimizer`] including its savable state). The checkpoint fits three quantile lines with the
//! new loss and the new optimizer. `tests/book_ch09.rs` tests every extension and checks that the
//! committed output is up to date.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::Write as _;

use downhill::gradcheck::GradCheck;
use downhill::nn::loss::check_same_shape;
use downhill::nn::{Init, Linear, LogisticRegression, Module};
use downhill::optim::{Optimizer, OptimizerState};
use downhill::prelude::{Error, Float, Grads, ParamId, Params, Result, Tape, Tensor, Var, seeded_rng};
use downhill::tensor::{CustomOp, Site, TensorRef};
use downhill::train::checkpoint::Checkpoint;
use downhill::train::data::{Toy, toy};
use downhill::train::fit::{FitConfig, Loss, Trainer};
use downhill::train::plot::{LineChart, Series};

type Res<T> = std::result::Result<T, Box<dyn StdError>>;

/// Error messages name the caller's source file; the test build sees this file through
/// `tests/../examples/`, the example build as `examples/`. Print one spelling.
pub fn tidy(message: impl std::fmt::Display) -> String {
    message.to_string().replace("tests/../examples/", "examples/")
}

// ANCHOR: op
/// Scales every row of a `[n, k]` matrix to unit length: `y[i, :] = x[i, :] / ‖x[i, :]‖`.
///
/// Backward, per row with `r = ‖x‖` and `g = ∂L/∂y`: `∂L/∂x = (g − y·(y·g)) / r`. The
/// Jacobian `(I − y yᵀ)/r` removes the part of `g` along `y`: growing `x` along itself does not
/// change its direction.
pub struct L2Normalize;

/// `(rows, columns)` of a rank-2 input, or the message of an [`Error::InvalidArgument`].
fn rows_cols(x: &TensorRef<'_, impl Float>) -> std::result::Result<(usize, usize), String> {
    match x.shape.dims() {
        &[n, k] => Ok((n, k)),
        _ => Err(format!("needs a [rows, columns] matrix, got shape {}; reshape it to rank 2", x.shape)),
    }
}

fn row_norm<T: Float>(row: &[T]) -> T {
    row.iter().fold(T::zero(), |s, &v| s + v * v).sqrt()
}

impl<T: Float> CustomOp<T> for L2Normalize {
    fn name(&self) -> &'static str {
        "l2_normalize"
    }

    fn forward(&self, inputs: &[TensorRef<'_, T>]) -> std::result::Result<Tensor<T>, String> {
        let [x] = inputs else { return Err(format!("takes 1 input, got {}", inputs.len())) };
        let (_, k) = rows_cols(x)?;
        let mut y = Vec::with_capacity(x.data.len());
        for (i, row) in x.data.chunks(k.max(1)).enumerate() {
            let r = row_norm(row);
            if r == T::zero() {
                return Err(format!(
                    "row {i} is all zeros and has no direction; drop it or add a tiny offset"
                ));
            }
            y.extend(row.iter().map(|&v| v / r));
        }
        Tensor::from_vec(y, x.shape.clone()).map_err(|e| e.to_string())
    }

    fn backward(&self, inputs: &[TensorRef<'_, T>], y: TensorRef<'_, T>, g: &[T], dx: &mut [Vec<T>]) {
        let ([x], [dx]) = (inputs, dx) else { return };
        let k = x.shape.dims()[1].max(1);
        let rows = x.data.chunks(k).zip(y.data.chunks(k)).zip(g.chunks(k)).zip(dx.chunks_mut(k));
        for (((x, y), g), dx) in rows {
            let r = row_norm(x);
            let along = y.iter().zip(g).fold(T::zero(), |s, (&y, &g)| s + y * g); // y·g
            for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                *d += (g - y * along) / r;
            }
        }
    }
}

/// Records [`L2Normalize`] on `x`'s tape: like every op, no `?`; a mistake surfaces later.
#[track_caller]
pub fn l2_normalize<'t, T: Float>(x: Var<'t, T>) -> Var<'t, T> {
    x.tape().custom(L2Normalize, &[x])
}
// ANCHOR_END: op

// ANCHOR: wrong_op
/// The same op with a classic mistake in its backward: the norm `r` treated as a constant, so
/// the gradient is `g / r` and the projection term `−y·(y·g)/r` is missing.
pub struct WrongL2Normalize;

impl<T: Float> CustomOp<T> for WrongL2Normalize {
    fn name(&self) -> &'static str {
        "wrong_l2_normalize"
    }

    fn forward(&self, inputs: &[TensorRef<'_, T>]) -> std::result::Result<Tensor<T>, String> {
        L2Normalize.forward(inputs)
    }

    fn backward(&self, inputs: &[TensorRef<'_, T>], _y: TensorRef<'_, T>, g: &[T], dx: &mut [Vec<T>]) {
        let ([x], [dx]) = (inputs, dx) else { return };
        let k = x.shape.dims()[1].max(1);
        for ((x, g), dx) in x.data.chunks(k).zip(g.chunks(k)).zip(dx.chunks_mut(k)) {
            let r = row_norm(x);
            for (d, &g) in dx.iter_mut().zip(g) {
                *d += g / r; // wrong: forgets that r depends on x
            }
        }
    }
}
// ANCHOR_END: wrong_op

// ANCHOR: layer
/// A gated linear unit: `y = (x·W + b) ⊙ σ(x·V + c)`. The sigmoid gate, computed from the same
/// input, decides per output how much of the linear value passes.
///
/// Parameters, registered in this order: `{name}.weight` `[in, out]`, `{name}.bias` `[1, out]`,
/// `{name}.gate.weight` `[in, out]`, `{name}.gate.bias` `[1, out]`.
pub struct Glu {
    name: String,
    in_features: usize,
    out_features: usize,
    ids: [ParamId; 4],
}

impl Glu {
    /// Registers the four parameters: weights Xavier-uniform, biases zero.
    pub fn new<T: Float>(
        params: &mut Params<T>,
        name: &str,
        in_features: usize,
        out_features: usize,
        rng: &mut downhill::prelude::SeededRng,
    ) -> Result<Self> {
        let (shape_w, shape_b) = ([in_features, out_features], [1, out_features]);
        let w = Init::XavierUniform.sample_with_fans::<T, _>(shape_w, in_features, out_features, rng)?;
        let v = Init::XavierUniform.sample_with_fans::<T, _>(shape_w, in_features, out_features, rng)?;
        let ids = [
            params.insert(format!("{name}.weight"), w)?,
            params.insert(format!("{name}.bias"), Tensor::zeros(shape_b))?,
            params.insert(format!("{name}.gate.weight"), v)?,
            params.insert(format!("{name}.gate.bias"), Tensor::zeros(shape_b))?,
        ];
        Ok(Glu { name: name.to_string(), in_features, out_features, ids })
    }

    /// [`Module::forward`], returning a wrong input shape at once.
    #[track_caller]
    pub fn try_forward<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let at = Site::caller();
        let shape = x.shape()?;
        if shape.rank() != 2 || shape.dims()[1] != self.in_features {
            return Err(Error::LayerInput {
                layer: format!("glu {} ({} -> {})", self.name, self.in_features, self.out_features).into(),
                expected: format!("[batch, {}]", self.in_features).into(),
                got: shape,
                fix: "pass one row per example with the layer's input width".into(),
                at,
            });
        }
        let [w, b, v, c] = self.ids.map(|id| tape.param(params, id));
        let value = x.matmul(w).broadcast_add(b);
        let gate = x.matmul(v).broadcast_add(c).sigmoid();
        Ok(value * gate)
    }
}

impl<T: Float> Module<T> for Glu {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        tape.record(self.try_forward(tape, params, x))
    }

    fn params(&self) -> Vec<ParamId> {
        self.ids.to_vec()
    }
}
// ANCHOR_END: layer

// ANCHOR: loss
/// The pinball (quantile) loss: with residual `r = target − pred`, the mean of
/// `τ·max(r, 0) + (1 − τ)·max(−r, 0)`. Under-predicting costs `τ` per unit, over-predicting
/// `1 − τ`, so the best constant prediction is the `τ`-quantile of the targets.
#[track_caller]
pub fn pinball_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, tau: f64) -> Var<'t, T> {
    pred.tape().record(try_pinball_loss(pred, target, tau))
}

/// [`pinball_loss`], returning a bad `tau` or a shape mismatch at once.
#[track_caller]
pub fn try_pinball_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, tau: f64) -> Result<Var<'t, T>> {
    if !(tau > 0.0 && tau < 1.0) {
        let message = format!("tau = {tau} is not a quantile level; pass a value in (0, 1), e.g. 0.9");
        return Err(Error::InvalidArgument { op: "pinball_loss", message, at: Site::caller() });
    }
    check_same_shape("pinball_loss", pred, target)?;
    let r = target - pred;
    let loss = (r.relu() * T::of(tau) + (-r).relu() * T::of(1.0 - tau)).mean();
    loss.shape().map(|_| loss) // the first error the ops recorded, if any
}
// ANCHOR_END: loss

// ANCHOR: lion_config
/// Settings of [`Lion`] (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LionConfig {
    /// Learning rate (finite, > 0). Default 1e-4 (the paper uses 3-10x smaller rates than AdamW).
    pub lr: f64,
    /// Interpolation between momentum and gradient for the update direction, in [0, 1). Default 0.9.
    pub beta1: f64,
    /// Momentum decay, in [0, 1). Default 0.99.
    pub beta2: f64,
    /// Decoupled weight decay λ (finite, >= 0): `θ ← θ − lr·λ·θ`. Default 0.
    pub weight_decay: f64,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig { lr: 1e-4, beta1: 0.9, beta2: 0.99, weight_decay: 0.0 }
    }
}
// ANCHOR_END: lion_config

// ANCHOR: lion
/// Lion: every coordinate moves by exactly `lr` per step, in the direction of the sign of an
/// interpolation between the momentum and the gradient.
///
/// ```text
/// c = β1·m + (1 − β1)·g
/// θ ← θ − lr·(sign(c) + λ·θ)
/// m ← β2·m + (1 − β2)·g
/// ```
#[derive(Clone, Debug)]
pub struct Lion<T: Float> {
    config: LionConfig,
    steps: u64,
    lr_scale: f64,
    /// The momentum `m` of each parameter, keyed by its name (ordered storage).
    moments: BTreeMap<String, Tensor<T>>,
    last_norm: Option<f64>,
}

fn hyper(
    owner: &'static str,
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::Hyperparameter { owner, name, value, expected }) }
}

impl<T: Float> Lion<T> {
    /// Validates the settings.
    pub fn new(config: LionConfig) -> Result<Self> {
        let LionConfig { lr, beta1, beta2, weight_decay: wd } = config;
        hyper("lion", "lr", lr, lr.is_finite() && lr > 0.0, "finite and > 0 (typical: 1e-4)")?;
        hyper("lion", "beta1", beta1, (0.0..1.0).contains(&beta1), "in [0, 1) (default: 0.9)")?;
        hyper("lion", "beta2", beta2, (0.0..1.0).contains(&beta2), "in [0, 1) (default: 0.99)")?;
        hyper("lion", "weight_decay", wd, wd.is_finite() && wd >= 0.0, "finite and >= 0")?;
        Ok(Lion { config, steps: 0, lr_scale: 1.0, moments: BTreeMap::new(), last_norm: None })
    }
}

/// sign(x) with sign(0) = 0 (`f64::signum` gives 1 for +0).
fn sign<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

impl<T: Float> Optimizer<T> for Lion<T> {
    fn kind(&self) -> &'static str {
        "lion"
    }

    fn step(&mut self, params: &mut Params<T>, grads: &Grads<T>) -> Result<()> {
        // Check everything before changing anything.
        for (id, g) in grads.iter() {
            let p = params.try_get(id)?;
            if p.shape() != g.shape() {
                let (name, expected, got) = (params.name(id).into(), p.shape().clone(), g.shape().clone());
                return Err(Error::ParamShape { name, expected, got });
            }
        }
        self.last_norm = Some(grads.global_norm());
        self.steps += 1;
        let LionConfig { beta1, beta2, weight_decay, .. } = self.config;
        let lr = self.lr();
        let (b1, b2, lr, decay) = (T::of(beta1), T::of(beta2), T::of(lr), T::of(lr * weight_decay));
        for (id, g) in grads.iter() {
            let name = params.name(id).to_string();
            let m = self.moments.entry(name).or_insert_with(|| Tensor::zeros(g.shape().clone()));
            let p = params.get_mut(id).data_mut();
            for ((p, m), &g) in p.iter_mut().zip(m.data_mut()).zip(g.data()) {
                let c = b1 * *m + (T::one() - b1) * g;
                *p = *p - decay * *p - lr * sign(c);
                *m = b2 * *m + (T::one() - b2) * g;
            }
        }
        Ok(())
    }

    fn step_count(&self) -> u64 {
        self.steps
    }

    fn lr(&self) -> f64 {
        self.config.lr * self.lr_scale
    }

    fn lr_scale(&self) -> f64 {
        self.lr_scale
    }

    fn set_lr_scale(&mut self, scale: f64) -> Result<()> {
        hyper("lion", "lr_scale", scale, scale.is_finite() && scale >= 0.0, "finite and >= 0")?;
        self.lr_scale = scale;
        Ok(())
    }

    fn last_grad_norm(&self) -> Option<f64> {
        self.last_norm
    }
    // ANCHOR_END: lion

    // ANCHOR: lion_state
    /// Tensors `exp_avg/{parameter}`; metadata: the settings, `lr_scale`, the store's names.
    fn state(&self, params: &Params<T>) -> Result<OptimizerState<T>> {
        let mut st = OptimizerState::new("lion", self.steps);
        for (name, m) in &self.moments {
            let id = params.id(name)?;
            if params.get(id).shape() != m.shape() {
                let (expected, found) = (params.get(id).shape().clone(), m.shape().clone());
                let tensor = format!("exp_avg/{name}").into();
                return Err(Error::StateShape { origin: "this optimizer".into(), tensor, expected, found });
            }
            st.tensors.push((format!("exp_avg/{name}"), m.clone())); // BTreeMap: ordered by name
        }
        for (key, value) in self.settings() {
            st.metadata.insert(key.into(), value);
        }
        st.metadata.insert("lr_scale".into(), format!("{:?}", self.lr_scale));
        let names: Vec<&str> = params.iter().map(|(_, n, _)| n).collect();
        st.metadata.insert("params".into(), names.join("\n"));
        Ok(st)
    }

    /// All or nothing: every check runs before anything changes.
    fn load_state(&mut self, st: &OptimizerState<T>, params: &Params<T>) -> Result<()> {
        let origin = st.origin.clone();
        let corrupt = |message: String| Error::StateCorrupt { origin: origin.clone(), message };
        let meta =
            |key: &str| st.metadata.get(key).ok_or_else(|| corrupt(format!("no {key:?} in the metadata")));
        let found = st.kind().unwrap_or("");
        if found != "lion" {
            let (expected, found) = ("lion".into(), found.into());
            return Err(Error::StateKind { origin: origin.clone(), expected, found });
        }
        for (key, current) in self.settings() {
            let saved = meta(key)?;
            if *saved != current {
                let (field, saved) = (key.into(), saved.clone());
                return Err(Error::StateMismatch { origin: origin.clone(), field, saved, current });
            }
        }
        let store: Vec<&str> = params.iter().map(|(_, n, _)| n).collect();
        let saved: Vec<&str> = meta("params")?.split('\n').filter(|n| !n.is_empty()).collect();
        if let Some(name) = saved.iter().find(|n| !store.contains(n)) {
            let (name, available) = (name.to_string(), format!("{store:?}"));
            return Err(Error::StateUnknownParam { origin: origin.clone(), name, available });
        }
        if let Some(name) = store.iter().find(|n| !saved.contains(n)) {
            let (name, covered) = (name.to_string(), format!("{saved:?}"));
            return Err(Error::StateMissingParam { origin: origin.clone(), name, covered });
        }
        let mut moments = BTreeMap::new();
        for (key, m) in &st.tensors {
            let name =
                key.strip_prefix("exp_avg/").ok_or_else(|| corrupt(format!("stray tensor {key:?}")))?;
            let id = params.id(name).map_err(|_| corrupt(format!("{key:?} belongs to no parameter")))?;
            if params.get(id).shape() != m.shape() {
                let (expected, found) = (params.get(id).shape().clone(), m.shape().clone());
                let (origin, tensor) = (origin.as_str().into(), key.as_str().into());
                return Err(Error::StateShape { origin, tensor, expected, found });
            }
            moments.insert(name.to_string(), m.clone());
        }
        let steps = st.step().map_err(|_| corrupt("no valid \"step\" in the metadata".into()))?;
        let lr_scale =
            meta("lr_scale")?.parse().map_err(|_| corrupt("\"lr_scale\" is not a number".into()))?;
        (self.steps, self.lr_scale, self.moments) = (steps, lr_scale, moments);
        Ok(())
    }
}

impl<T: Float> Lion<T> {
    /// The settings stored with the state and compared on load (shortest round-trip text).
    fn settings(&self) -> [(&'static str, String); 4] {
        let c = &self.config;
        [
            ("lr", format!("{:?}", c.lr)),
            ("hyper.beta1", format!("{:?}", c.beta1)),
            ("hyper.beta2", format!("{:?}", c.beta2)),
            ("weight_decay", format!("{:?}", c.weight_decay)),
        ]
    }
}
// ANCHOR_END: lion_state

#[path = "support/chapter.rs"]
mod book;
pub use book::Chapter;

fn row(xs: &[f64]) -> String {
    let xs: Vec<String> = xs.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", xs.join(", "))
}

/// Section 1: the new op's forward on a small matrix, its gradient check, and its error.
fn op() -> Res<String> {
    let mut out = String::new();
    let x = Tensor::from_vec(vec![3.0, 4.0, 1.0, -1.0, 0.0, 2.0], [2, 3])?;
    let tape = Tape::new();
    let y = l2_normalize(tape.constant(&x)).value()?;
    writeln!(out, "x rows:      {} {}", row(&x.data()[..3]), row(&x.data()[3..]))?;
    writeln!(out, "l2_normalize {} {}", row(&y.data()[..3]), row(&y.data()[3..]))?;
    // ANCHOR: op_check
    let mut rng = seeded_rng(9);
    let x = Tensor::rand_normal([4, 3], 0.0, 1.0, &mut rng)?;
    let report = GradCheck::new().check(&[("x", x.clone())], |_, v| l2_normalize(v[0]))?;
    // ANCHOR_END: op_check
    writeln!(out, "\n{report}")?;
    // ANCHOR: op_error
    let zero_row = Tensor::from_vec(vec![1.0, 2.0, 0.0, 0.0], [2, 2])?;
    let tape = Tape::new();
    let unit = l2_normalize(tape.constant(&zero_row));
    let err = unit.sum().backward().unwrap_err();
    // ANCHOR_END: op_error
    writeln!(out, "a zero row: {}", tidy(err))?;
    Ok(out)
}

/// Section 2: the wrong backward, caught.
fn wrong_backward() -> Res<String> {
    // ANCHOR: wrong_check
    let mut rng = seeded_rng(9);
    let x = Tensor::rand_normal([4, 3], 0.0, 1.0, &mut rng)?;
    let report = GradCheck::new().check(&[("x", x)], |tape, v| tape.custom(WrongL2Normalize, &[v[0]]))?;
    assert!(!report.passed());
    // ANCHOR_END: wrong_check
    Ok(report.to_string())
}

/// Section 3: the layer: parameter names, a forward, the whole-layer check, a wrong input.
fn layer() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: layer_use
    let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(3));
    let glu = Glu::new(&mut params, "block", 3, 2, &mut rng)?;
    let head = Linear::new(&mut params, "head", 2, 1, Init::XavierUniform, &mut rng)?;
    let x = Tensor::rand_normal([5, 3], 0.0, 1.0, &mut rng)?;
    let y = Tensor::rand_normal([5, 1], 0.0, 1.0, &mut rng)?;
    // Non-zero biases, so a mixed-up bias gradient would show.
    for id in params.ids().collect::<Vec<_>>() {
        if params.name(id).ends_with("bias") {
            let noise = Tensor::rand_normal(params.get(id).shape().clone(), 0.0, 0.5, &mut rng)?;
            params.set(id, noise)?;
        }
    }
    let report = GradCheck::new().check_params(&params, |tape, p| {
        let h = glu.forward(tape, p, tape.constant(&x));
        downhill::nn::loss::mse_loss(head.forward(tape, p, h), tape.constant(&y))
    })?;
    // ANCHOR_END: layer_use
    writeln!(out, "parameters of the layer, in order: {:?}", glu.param_names(&params))?;
    writeln!(out, "scalars in the layer: {}", glu.num_params(&params))?;
    writeln!(out, "output of the layer on x [5, 3]: {:?}", glu.predict(&params, &x)?.dims())?;
    writeln!(out, "\n{report}")?;
    let wide = Tensor::<f64>::zeros([5, 4]);
    let err = glu.predict(&params, &wide).unwrap_err();
    writeln!(out, "a [5, 4] input: {}", tidy(err))?;
    Ok(out)
}

/// Section 4: the loss: values by hand, the best constant, gradients, kinks, errors.
fn loss(figures: &mut Vec<(&'static str, String)>) -> Res<String> {
    let mut out = String::new();
    let tape = Tape::<f64>::new();
    let pred = tape.constant(&Tensor::vector(&[1.0, 1.0]));
    let target = tape.constant(&Tensor::vector(&[3.0, 0.0]));
    let l = pinball_loss(pred, target, 0.9).item()?;
    writeln!(out, "pred [1, 1], target [3, 0], tau 0.9: loss {l:.6}  (by hand: (0.9*2 + 0.1*1)/2 = 0.95)")?;
    // The best constant is the tau-quantile: scan constants over the targets 1..=10.
    let targets = Tensor::from_vec((1..=10).map(f64::from).collect(), [10])?;
    for tau in [0.1, 0.5, 0.9] {
        let mut best = (f64::INFINITY, 0.0);
        for k in 0..=100 {
            let c = k as f64 * 0.1;
            let tape = Tape::new();
            let pred = tape.constant(&Tensor::full([10], c));
            let l = pinball_loss(pred, tape.constant(&targets), tau).item()?;
            if l < best.0 - 1e-12 {
                best = (l, c);
            }
        }
        writeln!(out, "targets 1..=10, tau {tau}: best constant {:.1} (loss {:.4})", best.1, best.0)?;
    }
    // ANCHOR: loss_check
    let mut rng = seeded_rng(5);
    let p = Tensor::rand_normal([6, 1], 0.0, 1.0, &mut rng)?;
    let t = Tensor::rand_normal([6, 1], 0.0, 1.0, &mut rng)?;
    let check = GradCheck::new();
    let report = check.check(&[("pred", p.clone()), ("target", t)], |_, v| pinball_loss(v[0], v[1], 0.9))?;
    // At pred == target the loss has a kink: the checker reports it instead of failing.
    let on_kink = check.check(&[("pred", p.clone()), ("target", p)], |_, v| pinball_loss(v[0], v[1], 0.9))?;
    // ANCHOR_END: loss_check
    writeln!(out, "\n{report}")?;
    writeln!(out, "pred == target:\n{on_kink}")?;
    // ANCHOR: loss_errors
    let (pred, target) = (Tensor::<f64>::zeros([4, 1]), Tensor::zeros([4]));
    let tape = Tape::new(); // a tape keeps its first error: one tape per mistake shown
    let p = tape.constant(&pred);
    let bad_tau = pinball_loss(p, p, 90.0).backward().unwrap_err();
    let tape = Tape::new();
    let bad_shape = pinball_loss(tape.constant(&pred), tape.constant(&target), 0.9).backward().unwrap_err();
    // ANCHOR_END: loss_errors
    writeln!(out, "\ntau = 90: {}", tidy(bad_tau))?;
    writeln!(out, "target [4]: {}", tidy(bad_shape))?;

    let mut series = Vec::new();
    for tau in [0.1, 0.5, 0.9] {
        let pts = (0..=80)
            .map(|i| -2.0 + 4.0 * i as f64 / 80.0)
            .map(|r: f64| (r, tau * r.max(0.0) + (1.0 - tau) * (-r).max(0.0)))
            .collect();
        series.push(Series::new(format!("tau {tau}"), pts));
    }
    let chart = LineChart {
        title: "Pinball loss of one residual r = target - pred".into(),
        x_label: "r = target - pred".into(),
        y_label: "loss".into(),
        log_x: false,
        log_y: false,
        series,
    };
    figures.push(("pinball.svg", chart.to_svg()?));
    Ok(out)
}

/// Section 5: Lion by hand, its state round trip, and a mismatched load.
fn optimizer() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: lion_steps
    let mut params = Params::<f64>::new();
    let w = params.insert("w", Tensor::vector(&[0.15, -3.0]))?;
    let mut opt = Lion::new(LionConfig { lr: 0.1, ..LionConfig::default() })?;
    let (mut tape, mut trace) = (Tape::new(), Vec::new());
    for _ in 0..4 {
        let loss = tape.param(&params, w).square().sum(); // f(w) = w0² + w1², ∇f = 2w
        let grads = loss.backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
        let m = opt.state(&params)?.get("exp_avg/w").map(|m| m.data().to_vec()).unwrap_or_default();
        trace.push((grads.try_get(w)?.data().to_vec(), params.get(w).data().to_vec(), m));
    }
    // ANCHOR_END: lion_steps
    for (k, (g, w, m)) in trace.iter().enumerate() {
        writeln!(out, "step {}: grad {} -> w {}, m {}", k + 1, row(g), row(w), row(m))?;
    }
    // ANCHOR: lion_resume
    // Five steps straight, against three steps, save, load into a fresh Lion, two more steps.
    let run = |opt: &mut Lion<f64>, params: &mut Params<f64>, steps: usize| -> Result<()> {
        let mut tape = Tape::new();
        for _ in 0..steps {
            let loss = (tape.param(params, w) - 1.0).square().sum();
            let grads = loss.backward()?;
            tape.clear();
            opt.step(params, &grads)?;
        }
        Ok(())
    };
    let config = LionConfig { lr: 0.05, weight_decay: 0.1, ..LionConfig::default() };
    let start = Tensor::vector(&[0.3, -0.7]);
    let (mut straight, mut resumed) = (Params::new(), Params::new());
    straight.insert("w", start.clone())?;
    resumed.insert("w", start)?;
    let mut a = Lion::new(config)?;
    run(&mut a, &mut straight, 5)?;
    let mut b = Lion::new(config)?;
    run(&mut b, &mut resumed, 3)?;
    let bytes = b.state(&resumed)?.to_bytes()?;
    let mut c = Lion::new(config)?;
    c.load_state(&OptimizerState::from_bytes(&bytes)?, &resumed)?;
    run(&mut c, &mut resumed, 2)?;
    let identical = straight.get(w).data() == resumed.get(w).data();
    // ANCHOR_END: lion_resume
    let state = OptimizerState::<f64>::from_bytes(&bytes)?;
    writeln!(out, "\nsaved state: tensors {:?}", state.tensors.iter().map(|(n, _)| n).collect::<Vec<_>>())?;
    writeln!(out, "  metadata {:?}", state.metadata)?;
    writeln!(
        out,
        "5 steps straight vs 3 + save/load + 2: w {} vs {}, bit-identical: {identical}",
        row(straight.get(w).data()),
        row(resumed.get(w).data())
    )?;
    let mut other = Lion::<f64>::new(LionConfig { beta2: 0.98, ..config })?;
    let err = other.load_state(&state, &resumed).unwrap_err();
    writeln!(out, "load into beta2 = 0.98: {err}")?;
    let err = Lion::<f64>::new(LionConfig { beta1: 1.0, ..config }).err().map(|e| e.to_string());
    writeln!(out, "beta1 = 1: {}", err.unwrap_or_default())?;
    let (straight, resumed) = lion_in_trainer()?;
    writeln!(
        out,
        "\nin a Trainer, 12 steps straight vs 5 + checkpoint + 7: {} vs {}, bit-identical: {}",
        row(&straight),
        row(&resumed),
        straight == resumed
    )?;
    Ok(out)
}

// ANCHOR: lion_trainer
/// Lion inside the train crate's `Trainer`: 12 steps of logistic regression straight, against 5
/// steps, a checkpoint through bytes, and 7 more in a fresh trainer. Returns both parameter
/// vectors.
pub fn lion_in_trainer() -> Res<(Vec<f64>, Vec<f64>)> {
    let data = toy(Toy::Moons, 64, 0.2, 3)?;
    let cfg = FitConfig { epochs: 3, batch_size: 16, seed: 3, ..FitConfig::default() };
    let run = |resume: Option<&Checkpoint<f64>>, until: u64| -> Res<(Vec<f64>, Checkpoint<f64>)> {
        let mut params = Params::new();
        let model = LogisticRegression::new(&mut params, "logreg", 2)?;
        let mut opt = Lion::new(LionConfig { lr: 0.01, ..LionConfig::default() })?;
        let mut t = Trainer::new(&model, &mut params, &mut opt, Loss::BceWithLogits, &data, None, &cfg)?;
        if let Some(ckpt) = resume {
            t.resume(ckpt)?; // loads the weights and calls Lion's load_state
        }
        t.run_until(until)?;
        let ckpt = t.checkpoint()?; // calls Lion's state
        Ok((t.params().iter().flat_map(|(_, _, p)| p.data().to_vec()).collect(), ckpt))
    };
    let (straight, _) = run(None, 12)?;
    let (_, at5) = run(None, 5)?;
    let (resumed, _) = run(Some(&Checkpoint::from_bytes(&at5.to_bytes()?)?), 12)?;
    Ok((straight, resumed))
}
// ANCHOR_END: lion_trainer

// ANCHOR: quantile_fit
/// Fits `y ≈ w·x + b` with the pinball loss at level `tau` and Lion; returns `(w, b)` and the
/// fraction of the targets on or below the fitted line.
pub fn quantile_line(x: &Tensor<f64>, y: &Tensor<f64>, tau: f64, steps: usize) -> Res<(f64, f64, f64)> {
    let (mut params, mut rng) = (Params::new(), seeded_rng(0));
    let line = Linear::new(&mut params, "line", 1, 1, Init::Zeros, &mut rng)?;
    let mut opt = Lion::new(LionConfig { lr: 0.01, ..LionConfig::default() })?;
    let mut tape = Tape::new();
    for step in 0..steps {
        if step == steps * 3 / 4 {
            opt.set_lr_scale(0.1)?; // finer steps for the last quarter: Lion moves by lr or not at all
        }
        let loss = pinball_loss(line.forward(&tape, &params, tape.constant(x)), tape.constant(y), tau);
        let grads = loss.backward()?;
        tape.clear();
        opt.step(&mut params, &grads)?;
    }
    let (w, b) = (params.get(line.weight()).data()[0], params.get(params.id("line.bias")?).data()[0]);
    let fit = line.predict(&params, x)?;
    let below = fit.data().iter().zip(y.data()).filter(|&(f, y)| y <= f).count();
    Ok((w, b, below as f64 / y.numel() as f64))
}
// ANCHOR_END: quantile_fit

/// The checkpoint: three quantile lines through noisy data, with the new loss and optimizer.
fn checkpoint() -> Res<String> {
    let mut out = String::new();
    // ANCHOR: checkpoint
    // y = 1 + 2x + noise, noise ~ N(0, 0.5²): the tau-quantile line is 1 + 0.5·z_tau + 2x.
    let mut rng = seeded_rng(11);
    let x = Tensor::<f64>::rand_uniform([400, 1], 0.0, 2.0, &mut rng)?;
    let noise = Tensor::<f64>::rand_normal([400, 1], 0.0, 0.5, &mut rng)?;
    let y: Vec<f64> = x.data().iter().zip(noise.data()).map(|(x, e)| 1.0 + 2.0 * x + e).collect();
    let y = Tensor::from_vec(y, [400, 1])?;
    let fits = [0.1, 0.5, 0.9].map(|tau| quantile_line(&x, &y, tau, 1200).map(|f| (tau, f)));
    // ANCHOR_END: checkpoint
    writeln!(
        out,
        "400 points, y = 1 + 2x + N(0, 0.5^2); Linear 1 -> 1, pinball loss, Lion lr 0.01, 1200 steps"
    )?;
    writeln!(out, "{:>4}  {:>8}  {:>8}  {:>12}  {:>10}", "tau", "w", "b", "b expected", "below line")?;
    for fit in fits {
        let (tau, (w, b, below)) = fit?;
        let z = normal_quantile(tau);
        writeln!(out, "{tau:>4}  {w:>8.4}  {b:>8.4}  {:>12.4}  {below:>10.4}", 1.0 + 0.5 * z)?;
    }
    Ok(out)
}

/// The standard normal quantile z with Φ(z) = p, by bisection on Φ(z) = (1 + erf(z/√2))/2, with
/// erf from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, far below the 4 decimals
/// printed).
fn normal_quantile(p: f64) -> f64 {
    let erf = |x: f64| {
        let t = 1.0 / (1.0 + 0.3275911 * x.abs());
        let poly =
            t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        (1.0 - poly * (-x * x).exp()).copysign(x)
    };
    let (mut lo, mut hi) = (-10.0_f64, 10.0_f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if 0.5 * (1.0 + erf(mid / std::f64::consts::SQRT_2)) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Runs every section of the chapter.
pub fn chapter() -> Res<Chapter> {
    let mut figures = Vec::new();
    let texts = vec![
        ("op.txt", op()?),
        ("wrong_backward.txt", wrong_backward()?),
        ("layer.txt", layer()?),
        ("loss.txt", loss(&mut figures)?),
        ("optimizer.txt", optimizer()?),
        ("checkpoint.txt", checkpoint()?),
    ];
    Ok(Chapter { texts, figures })
}

fn main() -> Res<()> {
    chapter()?.write("ch09")
}

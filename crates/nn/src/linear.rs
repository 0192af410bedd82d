//! The fully connected layer `y = x·W + b`.

use downhill_tensor::{Error, Float, ParamId, Params, Result, Shape, Site, Tape, Var};
use rand::Rng;

use crate::{Init, Module};

/// A fully connected layer: `y = x·W + b` for a batch `x` of shape `[batch, in]`.
///
/// Parameters, registered in the caller's store under the layer's name prefix:
/// - `{name}.weight` of shape **`[in, out]`**, so the forward pass is a plain `x.matmul(w)`.
///   PyTorch's `nn.Linear` stores the transpose, `[out, in]`, and computes `x·Wᵀ`: to move
///   weights between the two, transpose them.
/// - `{name}.bias` of shape **`[1, out]`**: one row, added to every row of the batch with an
///   explicit [`Var::broadcast_add`] (downhill never broadcasts silently). PyTorch's bias is a
///   vector `[out]`: reshape it to `[1, out]`.
///
/// The output has shape `[batch, out]`. An input of another shape is a typed
/// [`Error::LayerInput`] naming the layer, the shapes, your source line and the fix.
#[derive(Clone, Debug)]
pub struct Linear {
    name: String,
    weight: ParamId,
    bias: Option<ParamId>,
    in_features: usize,
    out_features: usize,
}

fn join(prefix: &str, leaf: &str) -> String {
    if prefix.is_empty() { leaf.to_string() } else { format!("{prefix}.{leaf}") }
}

impl Linear {
    /// Registers `{name}.weight` (`[in, out]`, drawn by `init`) and `{name}.bias` (`[1, out]`,
    /// zeros) in `params`.
    ///
    /// Fails if a name is taken ([`Error::DuplicateParam`]), a size is zero, or `init` has
    /// invalid arguments.
    #[track_caller]
    pub fn new<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        in_features: usize,
        out_features: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Self::with_bias_init(params, name, in_features, out_features, init, Some(Init::Zeros), rng)
    }

    /// Like [`Linear::new`] but without a bias: `y = x·W`.
    #[track_caller]
    pub fn no_bias<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        in_features: usize,
        out_features: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Self::with_bias_init(params, name, in_features, out_features, init, None, rng)
    }

    /// The general constructor: `bias_init = None` means no bias. The bias is drawn with the
    /// layer's fans (`fan_in = in`, `fan_out = out`), so `Some(Init::Uniform { .. })` with bound
    /// `1/√in` reproduces PyTorch's default bias.
    #[track_caller]
    pub fn with_bias_init<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        in_features: usize,
        out_features: usize,
        init: Init,
        bias_init: Option<Init>,
        rng: &mut R,
    ) -> Result<Self> {
        let at = Site::caller();
        if in_features == 0 || out_features == 0 {
            return Err(Error::InvalidArgument {
                op: "Linear::new",
                message: format!(
                    "layer {name:?} needs at least one input and one output feature, got {in_features} -> {out_features}"
                ),
                at,
            });
        }
        // Draw everything before inserting anything, so a failure leaves the store unchanged.
        let w = init.sample_with_fans::<T, R>([in_features, out_features], in_features, out_features, rng)?;
        let b = match bias_init {
            Some(bi) => {
                Some(bi.sample_with_fans::<T, R>([1, out_features], in_features, out_features, rng)?)
            }
            None => None,
        };
        let (wname, bname) = (join(name, "weight"), join(name, "bias"));
        for n in std::iter::once(&wname).chain(b.as_ref().map(|_| &bname)) {
            if params.id(n).is_ok() {
                return Err(Error::DuplicateParam { name: n.clone() });
            }
        }
        let weight = params.insert(wname, w)?;
        let bias = match b {
            Some(b) => Some(params.insert(bname, b)?),
            None => None,
        };
        Ok(Linear { name: name.to_string(), weight, bias, in_features, out_features })
    }

    /// The ids of the weight and (if any) the bias, in that order: the [`Module::params`] of the
    /// layer, callable without naming the float type.
    pub fn params(&self) -> Vec<ParamId> {
        std::iter::once(self.weight).chain(self.bias).collect()
    }

    /// The id of the weight `[in, out]`.
    pub fn weight(&self) -> ParamId {
        self.weight
    }

    /// The id of the bias `[1, out]`, if the layer has one.
    pub fn bias(&self) -> Option<ParamId> {
        self.bias
    }

    /// The number of input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The number of output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The name prefix of the layer's parameters.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// [`Module::forward`], returning a bad input shape (or an earlier error) at once.
    #[track_caller]
    pub fn try_forward<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let at = Site::caller();
        check_input(&x.shape()?, || self.describe(), self.in_features, at)?;
        self.forward_checked(tape, params, x)
    }

    /// `x·W + b` for an `x` whose shape [`check_input`] accepted.
    fn forward_checked<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let mut y = x.matmul(tape.param(params, self.weight));
        if let Some(b) = self.bias {
            y = y.broadcast_add(tape.param(params, b));
        }
        y.shape()?;
        Ok(y)
    }

    /// The mean binary cross-entropy of this layer's logits against 0/1 targets `y [batch, 1]`:
    /// the value of `bce_with_logits_loss(self.forward(tape, params, x), y)`, returning a bad
    /// shape at once.
    ///
    /// A layer with one output and a bias, given [`LARGE`](downhill_tensor::LARGE) input values
    /// or more (a full-batch step over a large data set), records it as one fused node,
    /// [`Var::linear_bce_with_logits_mean`]: `x` is read once per step instead of twice (the
    /// product, then `xᵀ·(σ(z) − y)` in the backward pass); the last digits differ from the
    /// composite's. Anything else records the composite, with its exact digits.
    #[track_caller]
    pub fn try_bce_with_logits_loss<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        let at = Site::caller();
        let shape = x.shape()?;
        check_input(&shape, || self.describe(), self.in_features, at)?;
        match self.bias {
            Some(b) if self.out_features == 1 && shape.numel() >= downhill_tensor::LARGE => {
                let (w, b) = (tape.param(params, self.weight), tape.param(params, b));
                x.try_linear_bce_with_logits_mean(w, b, y)
            }
            _ => crate::loss::try_bce_with_logits_loss(self.forward_checked(tape, params, x)?, y),
        }
    }

    fn describe(&self) -> String {
        let name = if self.name.is_empty() { String::new() } else { format!(" {}", self.name) };
        format!("linear{name} ({} -> {})", self.in_features, self.out_features)
    }
}

/// Checks that `shape` is `[batch, features]`. `layer` names the layer in the error; it is only
/// called on a bad shape, so a good one allocates nothing (a training step must not).
pub(crate) fn check_input(
    shape: &Shape,
    layer: impl FnOnce() -> String,
    features: usize,
    at: Site,
) -> Result<()> {
    let d = shape.dims();
    if d.len() == 2 && d[1] == features {
        return Ok(());
    }
    let fix = match d {
        [k] if *k == features => format!("a single example needs a batch axis: .reshape([1, {k}])"),
        [n, _] if *n == features => "the input looks transposed (features in rows): use .t()".to_string(),
        [_, m] => format!(
            "the layer was built for {features} input features but the data has {m} columns: check the data's columns or build the layer with {m} inputs"
        ),
        _ => format!("the input must be a matrix with one example per row: .reshape([batch, {features}])"),
    };
    Err(Error::LayerInput {
        layer: layer().into(),
        expected: format!("[batch, {features}]").into(),
        got: shape.clone(),
        fix: fix.into(),
        at,
    })
}

impl<T: Float> Module<T> for Linear {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        tape.record(self.try_forward(tape, params, x))
    }

    fn params(&self) -> Vec<ParamId> {
        Linear::params(self)
    }

    /// [`Linear::try_bce_with_logits_loss`]: one fused pass over `x` for a one-output layer on
    /// large inputs.
    #[track_caller]
    fn bce_with_logits_loss<'t>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Var<'t, T> {
        tape.record(self.try_bce_with_logits_loss(tape, params, x, y))
    }
}

//! L2 regularization as a loss term over a chosen set of parameters.

use downhill_tensor::{Error, Float, ParamId, Params, Result, Site, Tape, Var};

/// True for the name of a bias: `bias` or anything ending in `.bias` (`fc1.bias`).
pub fn is_bias(name: &str) -> bool {
    name == "bias" || name.ends_with(".bias")
}

/// An L2 penalty `(λ/2)·Σ w²` over a set of parameters; add it to the loss.
///
/// Its gradient is `λ·w`, exactly what PyTorch's `weight_decay=λ` adds to the gradient of SGD
/// (the `L2` mode of downhill's optimizers), so the two are interchangeable. scikit-learn's
/// `C` on a loss averaged over `n` examples corresponds to `λ = 1/(C·n)`.
///
/// Which parameters: every parameter of the store, or an explicit list ([`L2::only`]), minus
/// biases (selected by name with [`is_bias`]) unless [`L2::include_biases`] is called.
/// Penalizing a bias only shifts the model towards predicting zero, so it is left out by default.
///
/// ```
/// use downhill_nn::{L2, Linear, Init, Module, loss::mse_loss};
/// use downhill_tensor::{Params, Tape, Tensor, seeded_rng};
///
/// # fn main() -> downhill_tensor::Result<()> {
/// let mut params = Params::<f64>::new();
/// let fc = Linear::new(&mut params, "fc", 2, 1, Init::Constant(1.0), &mut seeded_rng(0))?;
/// let tape = Tape::new();
/// let x = tape.constant(&Tensor::ones([4, 2]));
/// let y = tape.constant(&Tensor::zeros([4, 1]));
/// let l2 = L2::new(0.1);
/// assert_eq!(l2.selected(&params), vec![fc.weight()]); // the bias is excluded
/// let loss = mse_loss(fc.forward(&tape, &params, x), y) + l2.penalty(&tape, &params);
/// assert!((loss.item()? - (4.0 + 0.05 * 2.0)).abs() < 1e-12);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct L2 {
    lambda: f64,
    only: Option<Vec<ParamId>>,
    exclude_biases: bool,
}

impl L2 {
    /// A penalty of strength `λ` over every parameter except biases.
    pub fn new(lambda: f64) -> Self {
        L2 { lambda, only: None, exclude_biases: true }
    }

    /// Restricts the penalty to these parameters (e.g. `model.params()`); biases among them are
    /// still excluded unless [`L2::include_biases`] is called.
    pub fn only(mut self, ids: impl IntoIterator<Item = ParamId>) -> Self {
        self.only = Some(ids.into_iter().collect());
        self
    }

    /// Penalizes biases too.
    pub fn include_biases(mut self) -> Self {
        self.exclude_biases = false;
        self
    }

    /// The strength `λ`.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The parameters the penalty covers, in store order (explicit ids not in `params` are kept,
    /// and reported by [`L2::penalty`]).
    pub fn selected<T: Float>(&self, params: &Params<T>) -> Vec<ParamId> {
        let keep = |id: &ParamId| match params.try_get(*id) {
            Ok(_) => !(self.exclude_biases && is_bias(params.name(*id))),
            Err(_) => true,
        };
        match &self.only {
            Some(ids) => {
                let mut ids: Vec<ParamId> = ids.iter().copied().filter(keep).collect();
                ids.sort();
                ids.dedup();
                ids
            }
            None => params.ids().filter(keep).collect(),
        }
    }

    /// `(λ/2)·Σ w²` over the selected parameters, recorded on `tape` (0 if none is selected).
    #[track_caller]
    pub fn penalty<'t, T: Float>(&self, tape: &'t Tape<T>, params: &Params<T>) -> Var<'t, T> {
        tape.record(self.try_penalty(tape, params))
    }

    /// [`L2::penalty`], returning a bad `λ` or an unknown parameter at once.
    #[track_caller]
    pub fn try_penalty<'t, T: Float>(&self, tape: &'t Tape<T>, params: &Params<T>) -> Result<Var<'t, T>> {
        let at = Site::caller();
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::InvalidArgument {
                op: "L2",
                message: format!("lambda must be finite and >= 0, got {}", self.lambda),
                at,
            });
        }
        let mut total = tape.scalar(T::zero());
        for id in self.selected(params) {
            params.try_get(id)?;
            total = total + tape.param(params, id).square().sum();
        }
        let out = total * T::of(self.lambda / 2.0);
        out.shape()?;
        Ok(out)
    }
}

/// Shorthand for `L2::new(lambda).penalty(tape, params)`: `(λ/2)·Σ w²` over every parameter
/// except biases.
#[track_caller]
pub fn l2_penalty<'t, T: Float>(tape: &'t Tape<T>, params: &Params<T>, lambda: f64) -> Var<'t, T> {
    L2::new(lambda).penalty(tape, params)
}

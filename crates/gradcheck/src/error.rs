//! What can go wrong when *running* a check (as opposed to a check that runs and finds wrong
//! gradients, which is a [`Report`](crate::Report) with failures).

use thiserror::Error;

/// A misuse of the checker, or an error from evaluating the checked function.
///
/// A check that runs to the end returns `Ok(Report)` even when gradients disagree; these errors
/// mean the check could not run at all.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum GradCheckError {
    /// There was nothing to check.
    #[error(
        "gradcheck: no inputs to check; pass at least one named tensor to `check` (or a Params store with at least one parameter to `check_params`)"
    )]
    NoInputs,

    /// An input holds NaN or an infinity, so finite differences around it mean nothing.
    #[error(
        "gradcheck: input `{input}` holds {value} at index {index:?}; finite differences need finite inputs, so fix the data or the initialisation"
    )]
    NonFiniteInput {
        /// The input's name.
        input: String,
        /// The multi-index of the first non-finite element.
        index: Vec<usize>,
        /// The offending value.
        value: f64,
    },

    /// A tolerance, step or sampling setting is out of range.
    #[error("gradcheck: {setting} must be {requirement}, got {value}")]
    InvalidSetting {
        /// The setting (`"eps"`, `"atol"`, `"rtol"`, `"sample size"`).
        setting: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// What it was.
        value: f64,
    },

    /// The checked function's value was NaN or infinite, at the unperturbed inputs or at a
    /// perturbed point.
    #[error(
        "gradcheck: the function's value is {value} {point}; finite differences need a finite value there: keep the inputs inside the function's domain (e.g. log and sqrt need inputs at least eps above 0) or use a smaller eps"
    )]
    NonFiniteValue {
        /// Where: "at the unperturbed inputs" or "with input `x`[1, 2] moved by +1e-6".
        point: String,
        /// The value.
        value: f64,
    },

    /// The step is so small relative to an input's magnitude that `x + eps` rounds back to `x`
    /// in the function's float type.
    #[error(
        "gradcheck: eps {eps:e} does not move input `{input}`{index:?} (value {value}) in {dtype}: x + eps rounds to x; use a larger eps (for f32, at least ~1e-3 times the input's magnitude)"
    )]
    StepTooSmall {
        /// The input's name.
        input: String,
        /// The element's multi-index.
        index: Vec<usize>,
        /// The element's value.
        value: f64,
        /// The step.
        eps: f64,
        /// `"f32"` or `"f64"`.
        dtype: &'static str,
    },

    /// The function returned a different shape when an input was perturbed.
    #[error(
        "gradcheck: the function's output shape changed from {before:?} to {after:?} when input `{input}` was perturbed; a checked function must have a fixed output shape"
    )]
    OutputShapeChanged {
        /// The perturbed input.
        input: String,
        /// The output shape at the unperturbed inputs.
        before: Vec<usize>,
        /// The output shape after the perturbation.
        after: Vec<usize>,
    },

    /// Building, evaluating or differentiating the function failed (a shape mismatch, a bad
    /// axis, a duplicate input name, ...): the tensor crate's error, unchanged.
    #[error(transparent)]
    Tensor(#[from] downhill_tensor::Error),
}

//! The checker's settings: step, tolerances, sampling and seed, with documented defaults.

use std::marker::PhantomData;

use downhill_tensor::Float;

use crate::error::GradCheckError;

/// The three numbers that decide a check: the finite-difference step and the two tolerances.
///
/// An element passes when `|analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// The step `h` of the central difference `(f(x + h) − f(x − h)) / 2h` (absolute, not
    /// relative to `x`).
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Tolerances {
    /// True if `a` and `b` agree: `|a − b| ≤ atol + rtol · max(|a|, |b|)` (never for NaN).
    pub fn close(&self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.bound(a, b)
    }

    /// The allowed difference between `a` and `b`: `atol + rtol · max(|a|, |b|)`.
    pub fn bound(&self, a: f64, b: f64) -> f64 {
        self.atol + self.rtol * a.abs().max(b.abs())
    }

    pub(crate) fn validate(&self) -> Result<(), GradCheckError> {
        let bad =
            |setting, requirement, value| Err(GradCheckError::InvalidSetting { setting, requirement, value });
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", "finite and > 0", self.eps);
        }
        if !(self.atol.is_finite() && self.atol >= 0.0) {
            return bad("atol", "finite and >= 0", self.atol);
        }
        if !(self.rtol.is_finite() && self.rtol >= 0.0) {
            return bad("rtol", "finite and >= 0", self.rtol);
        }
        if self.atol == 0.0 && self.rtol == 0.0 {
            return bad("atol + rtol", "> 0 (with both at 0 only bit-exact gradients would pass)", 0.0);
        }
        Ok(())
    }
}

/// A gradient checker for functions evaluated in `T` (`f64` or `f32`).
///
/// Build one with [`GradCheck::new`] (`f64`, documented defaults) or
/// [`GradCheck::with_tolerances`] (any float type, explicit numbers), adjust it with the builder
/// methods, then call [`GradCheck::check`] for a function of named tensors or
/// [`GradCheck::check_params`] for a model's loss over its whole [`Params`](downhill_tensor::Params)
/// store.
///
/// # Defaults (`f64`)
///
/// | setting | downhill | PyTorch `gradcheck` | JAX `check_grads` |
/// |---|---|---|---|
/// | step `eps` | `1e-6` | `1e-6` | `1e-4` |
/// | `atol` | `1e-5` | `1e-5` | `1e-5` (f64) |
/// | `rtol` | `1e-3` | `1e-3` | `1e-5` (f64) |
/// | criterion | `|a−n| ≤ atol + rtol·max(|a|,|n|)` | `|a−n| ≤ atol + rtol·|n|` | `allclose` on one random direction |
/// | elements | every one (seeded sample of 1024 above 4096 per input) | every one | one random projection |
///
/// downhill follows PyTorch's numbers and, like PyTorch, checks every element rather than one
/// random projection as JAX does, so a failure names the exact input element that is wrong. The
/// criterion is symmetric in analytic and numeric values. With `eps = 1e-6` in `f64` the
/// central difference has a truncation error of about `eps²·|f'''|/6 ≈ 1e-13` and a rounding
/// error of about `1e-16·|f| / eps ≈ 1e-10·|f|`, far below `atol`.
///
/// # `f32`
///
/// There is no `GradCheck::<f32>::new()` and no `Default` for `f32`: single precision has about 7
/// significant digits, so the `f64` defaults would fail correct gradients, and any defaults we
/// picked would silently pass wrong ones for some function scales. You must state the numbers:
/// `GradCheck::<f32>::with_tolerances(1e-2, 1e-2, 1e-2)` is a reasonable start for functions
/// with values of order 1. The function is evaluated in `f32` (that is what is being checked),
/// the perturbed inputs are rounded to `f32` and the actual step `x₊ − x₋` (not `2·eps`) is used as
/// the denominator, and the differences and the cotangent contraction are accumulated in `f64`.
///
/// ```
/// use downhill_gradcheck::GradCheck;
/// use downhill_tensor::Tensor;
///
/// # fn main() -> Result<(), downhill_gradcheck::GradCheckError> {
/// let x = Tensor::from_vec(vec![0.5f32, -1.0, 2.0], [3])?;
/// let report = GradCheck::<f32>::with_tolerances(1e-2, 1e-2, 1e-2).check(&[("x", x)], |_, v| v[0].tanh())?;
/// assert!(report.passed(), "{report}");
/// # Ok(()) }
/// ```
///
/// Asking for `f32` defaults does not compile:
///
/// ```compile_fail,E0599
/// let checker = downhill_gradcheck::GradCheck::<f32>::new();
/// ```
///
/// ```compile_fail,E0277
/// let checker: downhill_gradcheck::GradCheck<f32> = Default::default();
/// ```
#[derive(Clone, Debug)]
pub struct GradCheck<T: Float> {
    pub(crate) tol: Tolerances,
    pub(crate) sample_above: usize,
    pub(crate) sample_size: usize,
    pub(crate) seed: u64,
    _dtype: PhantomData<fn() -> T>,
}

impl GradCheck<f64> {
    /// The default step for `f64`: `1e-6` (PyTorch's).
    pub const DEFAULT_EPS: f64 = 1e-6;
    /// The default absolute tolerance for `f64`: `1e-5` (PyTorch's).
    pub const DEFAULT_ATOL: f64 = 1e-5;
    /// The default relative tolerance for `f64`: `1e-3` (PyTorch's).
    pub const DEFAULT_RTOL: f64 = 1e-3;

    /// An `f64` checker with the documented defaults (see the type's docs): `eps = 1e-6`,
    /// `atol = 1e-5`, `rtol = 1e-3`, every element of inputs up to 4096 elements and a seeded
    /// sample of 1024 above that, seed 0.
    pub fn new() -> Self {
        Self::with_tolerances(Self::DEFAULT_EPS, Self::DEFAULT_ATOL, Self::DEFAULT_RTOL)
    }
}

impl Default for GradCheck<f64> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> GradCheck<T> {
    /// Inputs with more elements than this are sampled by default.
    pub const DEFAULT_SAMPLE_ABOVE: usize = 4096;
    /// How many elements of a large input are checked by default.
    pub const DEFAULT_SAMPLE_SIZE: usize = 1024;

    /// A checker with an explicit step and tolerances: the only constructor for `f32`.
    ///
    /// The values are validated when a check runs (`eps > 0`, `atol, rtol ≥ 0`, not both 0).
    pub fn with_tolerances(eps: f64, atol: f64, rtol: f64) -> Self {
        GradCheck {
            tol: Tolerances { eps, atol, rtol },
            sample_above: Self::DEFAULT_SAMPLE_ABOVE,
            sample_size: Self::DEFAULT_SAMPLE_SIZE,
            seed: 0,
            _dtype: PhantomData,
        }
    }

    /// Sets the finite-difference step.
    pub fn eps(mut self, eps: f64) -> Self {
        self.tol.eps = eps;
        self
    }

    /// Sets the absolute tolerance.
    pub fn atol(mut self, atol: f64) -> Self {
        self.tol.atol = atol;
        self
    }

    /// Sets the relative tolerance.
    pub fn rtol(mut self, rtol: f64) -> Self {
        self.tol.rtol = rtol;
        self
    }

    /// Checks a seeded sample of `sample_size` elements of every input with more than
    /// `threshold` elements (every element of the others). The report says which inputs were
    /// sampled and how many elements were checked.
    pub fn sample_above(mut self, threshold: usize, sample_size: usize) -> Self {
        self.sample_above = threshold;
        self.sample_size = sample_size;
        self
    }

    /// Checks every element of every input, however large.
    pub fn exhaustive(mut self) -> Self {
        self.sample_above = usize::MAX;
        self
    }

    /// Seeds the random cotangent and the element sample (default 0). The same seed gives the
    /// same report.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The step and tolerances in use.
    pub fn tolerances(&self) -> Tolerances {
        self.tol
    }

    pub(crate) fn validate(&self) -> Result<(), GradCheckError> {
        self.tol.validate()?;
        if self.sample_size == 0 {
            return Err(GradCheckError::InvalidSetting {
                setting: "sample size",
                requirement: ">= 1",
                value: 0.0,
            });
        }
        Ok(())
    }
}

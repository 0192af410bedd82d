//! The check itself: one backward pass for the analytic gradient, then central differences
//! element by element, with kinks told apart from mistakes.
//!
//! For every checked element `x` of every input, with step `h`:
//!
//! 1. `f₊ = F(x + h)`, `f₋ = F(x − h)` (the other elements fixed; `F` is the function's value, or
//!    `sum(f · c)` for a non-scalar output with the seeded cotangent `c`), and `f₀ = F(x)`
//!    computed once. Central difference `n = (f₊ − f₋) / (x₊ − x₋)`; one-sided slopes
//!    `r = (f₊ − f₀) / (x₊ − x)` and `l = (f₀ − f₋) / (x − x₋)`.
//! 2. If `l` and `r` agree within tolerance the function is smooth here: the element passes if
//!    the analytic value `a` is close to `n`.
//! 3. Otherwise the element may sit on a kink, or the function may just curve strongly (`r − l ≈
//!    h·f''`). The slopes are recomputed with step `h/10`: if they still disagree, the slope
//!    jumps within `h/10` of `x` — a **kink**. It is reported, and it fails only if `a` lies
//!    outside `[min(l, r), max(l, r)]` (plus tolerance), since any value in between is a valid
//!    subgradient choice. If they now agree, the curvature was the cause, and `a` is compared with
//!    the nearer of the two central differences (at `h` and at `h/10`; both are valid estimates).
//!
//! Smooth elements cost two evaluations; the refinement costs two more and happens only where the
//! one-sided slopes disagree (kinks, or curvature above about `tol / h`).

use downhill_tensor::{Float, Params, Tape, Tensor, Var, seeded_rng};

use crate::config::{GradCheck, Tolerances};
use crate::error::GradCheckError;
use crate::report::{InputSummary, Kink, Mismatch, Report};
use crate::sample::{cotangent, indices, unravel};

/// How much smaller the second step is when the one-sided slopes disagree.
const REFINE: f64 = 10.0;

impl<T: Float> GradCheck<T> {
    /// Checks the gradient of `f` with respect to every named input.
    ///
    /// `f` receives the inputs as trainable vars on a fresh tape, in the order given, and returns
    /// the value to differentiate. A scalar (rank-0) result is differentiated as is; any other
    /// result `y` is contracted with a seeded random cotangent `c` as `sum(y · c)`, so every
    /// output element is checked and a backward that swaps output positions cannot hide.
    ///
    /// Returns `Ok(report)` whenever the check ran (look at [`Report::passed`]); `Err` for misuse
    /// (no inputs, non-finite inputs or values, bad settings) or when `f` itself fails (its tensor
    /// error is passed through unchanged).
    ///
    /// ```
    /// use downhill_gradcheck::GradCheck;
    /// use downhill_tensor::Tensor;
    ///
    /// # fn main() -> Result<(), downhill_gradcheck::GradCheckError> {
    /// let x = Tensor::from_vec(vec![0.5, -1.0, 2.0], [3])?;
    /// let w = Tensor::from_vec(vec![1.5, 0.25, -0.75], [3])?;
    /// let report = GradCheck::new().check(&[("x", x), ("w", w)], |_, v| (v[0] * v[1]).tanh())?;
    /// assert!(report.passed(), "{report}");
    /// assert_eq!(report.checked(), 6);
    /// # Ok(()) }
    /// ```
    pub fn check<F>(&self, inputs: &[(&str, Tensor<T>)], f: F) -> Result<Report, GradCheckError>
    where
        F: for<'t> Fn(&'t Tape<T>, &[Var<'t, T>]) -> Var<'t, T>,
    {
        if inputs.is_empty() {
            return Err(GradCheckError::NoInputs);
        }
        let mut params = Params::new();
        for (name, t) in inputs {
            params.insert(*name, t.clone())?;
        }
        let ids: Vec<_> = params.ids().collect();
        self.check_params(&params, |tape, p| {
            let vars: Vec<Var<'_, T>> = ids.iter().map(|&id| tape.param(p, id)).collect();
            f(tape, &vars)
        })
    }

    /// Checks the gradient of `f` with respect to every parameter of a store: the whole-model
    /// check.
    ///
    /// `f` brings the parameters it uses onto the tape with [`Tape::param`] and returns the loss
    /// (a non-scalar result is contracted as in [`GradCheck::check`]). A parameter `f` never
    /// brings onto the tape has an analytic gradient of zero, so if the loss does depend on it
    /// the check fails there. The caller's store is not modified: the checker perturbs a copy.
    pub fn check_params<F>(&self, params: &Params<T>, f: F) -> Result<Report, GradCheckError>
    where
        F: for<'t> Fn(&'t Tape<T>, &Params<T>) -> Var<'t, T>,
    {
        self.validate()?;
        if params.is_empty() {
            return Err(GradCheckError::NoInputs);
        }
        for (_, name, t) in params.iter() {
            if let Some(k) = t.data().iter().position(|x| !x.is_finite()) {
                return Err(GradCheckError::NonFiniteInput {
                    input: name.to_string(),
                    index: unravel(k, t.dims()),
                    value: t.data()[k].f64(),
                });
            }
        }
        let mut rng = seeded_rng(self.seed);
        let mut ev =
            Evaluator { tape: Tape::new(), work: params.clone(), f: &f, cot: None, dims: Vec::new() };

        // The analytic gradient: one forward, one backward.
        let (f0, analytic) = ev.base(&mut rng)?;

        let tol = self.tol;
        let mut inputs = Vec::new();
        let mut failures = Vec::new();
        let mut kinks = Vec::new();
        let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
        let ids: Vec<_> = params.ids().collect();
        for (id, grad) in ids.into_iter().zip(analytic) {
            let name = params.name(id).to_string();
            let dims = params.get(id).dims().to_vec();
            let numel = params.get(id).numel();
            let (chosen, sampled) = indices(numel, self.sample_above, self.sample_size, &mut rng);
            for &k in &chosen {
                let a = grad[k];
                let at = Point { input: &name, id, k, dims: &dims };
                match ev.classify(&at, tol, f0, a)? {
                    Verdict::Smooth { numeric } => {
                        let (abs, rel) = errors(a, numeric);
                        max_abs = max_abs.max(abs);
                        max_rel = max_rel.max(rel);
                        if !tol.close(a, numeric) {
                            failures.push(mismatch(&at, a, numeric, tol, false));
                        }
                    }
                    Verdict::Kink { left, right } => {
                        let (lo, hi) = if left <= right { (left, right) } else { (right, left) };
                        let slack = tol.bound(lo, hi);
                        if !(a >= lo - slack && a <= hi + slack) {
                            let m = mismatch(&at, a, if a < lo { lo } else { hi }, tol, true);
                            max_abs = max_abs.max(m.abs_error);
                            max_rel = max_rel.max(m.rel_error);
                            failures.push(m);
                        }
                        kinks.push(Kink { input: name.clone(), index: at.index(), analytic: a, left, right });
                    }
                }
            }
            inputs.push(InputSummary { name, dims, numel, checked: chosen.len(), sampled });
        }
        failures.sort_by(|x: &Mismatch, y: &Mismatch| y.excess.total_cmp(&x.excess));
        Ok(Report {
            dtype: T::DTYPE,
            tol,
            seed: self.seed,
            output_dims: ev.dims.clone(),
            contracted: ev.cot.is_some(),
            inputs,
            failures,
            kinks,
            max_abs_error: max_abs,
            max_rel_error: max_rel,
        })
    }
}

/// `(|a − n|, |a − n| / max(|a|, |n|))`, NaN-safe (a NaN error is reported as infinite).
fn errors(a: f64, n: f64) -> (f64, f64) {
    let abs = (a - n).abs();
    if abs.is_nan() {
        return (f64::INFINITY, f64::INFINITY);
    }
    let scale = a.abs().max(n.abs());
    (abs, if scale > 0.0 { abs / scale } else { 0.0 })
}

fn mismatch(at: &Point<'_>, a: f64, n: f64, tol: Tolerances, at_kink: bool) -> Mismatch {
    let (abs_error, rel_error) = errors(a, n);
    let bound = tol.bound(a, n);
    let excess = if bound > 0.0 { abs_error / bound } else { f64::INFINITY };
    Mismatch {
        input: at.input.to_string(),
        index: at.index(),
        analytic: a,
        numeric: n,
        abs_error,
        rel_error,
        excess: if excess.is_nan() { f64::INFINITY } else { excess },
        at_kink,
    }
}

/// One element of one input.
struct Point<'a> {
    input: &'a str,
    id: downhill_tensor::ParamId,
    k: usize,
    dims: &'a [usize],
}

impl Point<'_> {
    fn index(&self) -> Vec<usize> {
        unravel(self.k, self.dims)
    }
}

enum Verdict {
    /// The one-sided slopes agree (possibly after refining): compare with this difference.
    Smooth { numeric: f64 },
    /// The slope jumps at this element.
    Kink { left: f64, right: f64 },
}

/// Evaluates the function on a private, perturbable copy of the parameters, reusing one tape.
struct Evaluator<'f, T: Float, F> {
    tape: Tape<T>,
    work: Params<T>,
    f: &'f F,
    /// The cotangent (as `f64`) for a non-scalar output.
    cot: Option<Vec<f64>>,
    /// The output shape at the unperturbed point.
    dims: Vec<usize>,
}

impl<T: Float, F> Evaluator<'_, T, F>
where
    F: for<'t> Fn(&'t Tape<T>, &Params<T>) -> Var<'t, T>,
{
    /// The unperturbed value `F(x)` and the analytic gradient of every parameter (as `f64`,
    /// zeros for a parameter the function never used). Draws the cotangent if needed.
    fn base(&mut self, rng: &mut downhill_tensor::SeededRng) -> Result<(f64, Vec<Vec<f64>>), GradCheckError> {
        self.tape.clear();
        let (value, grads) = {
            let out = (self.f)(&self.tape, &self.work);
            let value = out.value()?;
            let loss = if value.shape().is_scalar() {
                out
            } else {
                let c: Tensor<T> = cotangent(value.shape(), rng);
                self.cot = Some(c.data().iter().map(|x| x.f64()).collect());
                (out * self.tape.constant(&c)).sum()
            };
            (value, loss.backward()?)
        };
        self.tape.clear();
        self.dims = value.dims().to_vec();
        let f0 = self.contract(&value);
        if !f0.is_finite() {
            return Err(GradCheckError::NonFiniteValue {
                point: "at the unperturbed inputs".into(),
                value: f0,
            });
        }
        let analytic = self
            .work
            .iter()
            .map(|(id, _, t)| match grads.get(id) {
                Some(g) => g.data().iter().map(|x| x.f64()).collect(),
                None => vec![0.0; t.numel()],
            })
            .collect();
        Ok((f0, analytic))
    }

    /// `F` as `f64`: the value, or `Σ y·c` accumulated in `f64` in row-major order.
    fn contract(&self, y: &Tensor<T>) -> f64 {
        match &self.cot {
            None => y.data().first().map_or(0.0, |v| v.f64()),
            Some(c) => y.data().iter().zip(c).map(|(v, c)| v.f64() * c).sum(),
        }
    }

    /// `F` with element `at` set to `x`.
    fn eval_at(&mut self, at: &Point<'_>, x: T, step: f64) -> Result<f64, GradCheckError> {
        let original = self.work.get(at.id).data()[at.k];
        self.work.get_mut(at.id).data_mut()[at.k] = x;
        let r = self.eval();
        self.work.get_mut(at.id).data_mut()[at.k] = original;
        let value = r?;
        if value.dims() != self.dims.as_slice() {
            return Err(GradCheckError::OutputShapeChanged {
                input: at.input.to_string(),
                before: self.dims.clone(),
                after: value.dims().to_vec(),
            });
        }
        let v = self.contract(&value);
        if !v.is_finite() {
            return Err(GradCheckError::NonFiniteValue {
                point: format!("with input `{}`{:?} moved by {step:+e}", at.input, at.index()),
                value: v,
            });
        }
        Ok(v)
    }

    fn eval(&mut self) -> Result<Tensor<T>, GradCheckError> {
        self.tape.clear();
        let r = (self.f)(&self.tape, &self.work).value();
        // Release the tape's views of the parameters before the next perturbation writes one.
        self.tape.clear();
        Ok(r?)
    }

    /// Central difference and one-sided slopes at step `h`: `(central, left, right)`.
    fn differences(&mut self, at: &Point<'_>, h: f64, f0: f64) -> Result<(f64, f64, f64), GradCheckError> {
        let x = self.work.get(at.id).data()[at.k];
        let (xp, xm) = (T::of(x.f64() + h), T::of(x.f64() - h));
        // The steps actually taken (in f32, x ± h is rounded).
        let (up, down) = (xp.f64() - x.f64(), x.f64() - xm.f64());
        if up <= 0.0 || down <= 0.0 {
            return Err(GradCheckError::StepTooSmall {
                input: at.input.to_string(),
                index: at.index(),
                value: x.f64(),
                eps: h,
                dtype: T::DTYPE,
            });
        }
        let fp = self.eval_at(at, xp, h)?;
        let fm = self.eval_at(at, xm, -h)?;
        Ok(((fp - fm) / (up + down), (f0 - fm) / down, (fp - f0) / up))
    }

    /// Tells a smooth element (with its best central difference) from a kink; `a` is the
    /// analytic value, used only to pick between two equally valid central differences.
    fn classify(
        &mut self,
        at: &Point<'_>,
        tol: Tolerances,
        f0: f64,
        a: f64,
    ) -> Result<Verdict, GradCheckError> {
        let (central, left, right) = self.differences(at, tol.eps, f0)?;
        if tol.close(left, right) {
            return Ok(Verdict::Smooth { numeric: central });
        }
        let (fine, fine_left, fine_right) = self.differences(at, tol.eps / REFINE, f0)?;
        if !tol.close(fine_left, fine_right) {
            return Ok(Verdict::Kink { left: fine_left, right: fine_right });
        }
        // Smooth but strongly curved: the finer central difference has 100× less truncation
        // error, the coarser one less rounding error; both are valid estimates, so the analytic
        // value is compared with the nearer one.
        let numeric = if (a - fine).abs() <= (a - central).abs() { fine } else { central };
        Ok(Verdict::Smooth { numeric })
    }
}

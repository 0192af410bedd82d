//! The result of a check: what was checked, what disagreed (worst first), which elements sit on
//! kinks, and a readable table.

use std::fmt;

use crate::config::Tolerances;

/// One checked input: its name, shape, and how many of its elements were checked.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSummary {
    /// The input's (parameter's) name.
    pub name: String,
    /// Its shape.
    pub dims: Vec<usize>,
    /// Its element count.
    pub numel: usize,
    /// How many elements were checked (`numel` unless sampled).
    pub checked: usize,
    /// True if a seeded sample of the elements was checked instead of all of them.
    pub sampled: bool,
}

/// An element whose analytic gradient disagrees with the finite difference.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// The input's name.
    pub input: String,
    /// The element's multi-index (`[]` for a rank-0 input).
    pub index: Vec<usize>,
    /// The gradient from `backward()` (widened to `f64`).
    pub analytic: f64,
    /// The central difference (for a kink: the nearer end of the one-sided slopes' range).
    pub numeric: f64,
    /// `|analytic − numeric|`.
    pub abs_error: f64,
    /// `|analytic − numeric| / max(|analytic|, |numeric|)` (0 when both are 0).
    pub rel_error: f64,
    /// `abs_error / (atol + rtol · max(|analytic|, |numeric|))`: above 1 fails; failures are
    /// sorted by it, worst first.
    pub excess: f64,
    /// True if the element sits on a kink and the analytic value lies outside the range of the
    /// one-sided slopes (no valid subgradient choice gives it).
    pub at_kink: bool,
}

/// An element where the function has a kink: the slopes from the left and from the right
/// disagree (relu, abs, max, clamp, maximum/minimum at their switch points).
///
/// A kink is not a failure when the analytic value lies between the two one-sided slopes (any
/// such value is a valid subgradient choice, e.g. `relu'(0) = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Kink {
    /// The input's name.
    pub input: String,
    /// The element's multi-index.
    pub index: Vec<usize>,
    /// The gradient from `backward()`.
    pub analytic: f64,
    /// `(f(x) − f(x − h)) / h`.
    pub left: f64,
    /// `(f(x + h) − f(x)) / h`.
    pub right: f64,
}

/// The outcome of a gradient check.
///
/// `Display` prints a summary and tables of failures (worst first) and kinks.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub(crate) dtype: &'static str,
    pub(crate) tol: Tolerances,
    pub(crate) seed: u64,
    pub(crate) output_dims: Vec<usize>,
    pub(crate) contracted: bool,
    pub(crate) inputs: Vec<InputSummary>,
    pub(crate) failures: Vec<Mismatch>,
    pub(crate) kinks: Vec<Kink>,
    pub(crate) max_abs_error: f64,
    pub(crate) max_rel_error: f64,
}

/// How many rows of each table `Display` prints.
const SHOWN_ROWS: usize = 12;

impl Report {
    /// True if no checked element failed (kinks with a valid subgradient do not fail).
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The elements that disagree, worst first (by [`Mismatch::excess`]).
    pub fn failures(&self) -> &[Mismatch] {
        &self.failures
    }

    /// The elements found on kinks, in input and element order.
    pub fn kinks(&self) -> &[Kink] {
        &self.kinks
    }

    /// The number of failing elements.
    pub fn num_failures(&self) -> usize {
        self.failures.len()
    }

    /// The number of elements on kinks.
    pub fn num_kinks(&self) -> usize {
        self.kinks.len()
    }

    /// The number of elements checked over all inputs (kinks included).
    pub fn checked(&self) -> usize {
        self.inputs.iter().map(|i| i.checked).sum()
    }

    /// The checked inputs, in order.
    pub fn inputs(&self) -> &[InputSummary] {
        &self.inputs
    }

    /// True if any input was sampled rather than checked element by element.
    pub fn sampled(&self) -> bool {
        self.inputs.iter().any(|i| i.sampled)
    }

    /// The largest `|analytic − numeric|` over the checked elements that are not on kinks, and
    /// the kinks that fail (measured to the nearer one-sided slope); 0 if there are none.
    pub fn max_abs_error(&self) -> f64 {
        self.max_abs_error
    }

    /// The largest `|analytic − numeric| / max(|analytic|, |numeric|)` over the same elements as
    /// [`Report::max_abs_error`]. Near-zero gradients make it large without failing: the pass
    /// criterion also has `atol`.
    pub fn max_rel_error(&self) -> f64 {
        self.max_rel_error
    }

    /// The step and tolerances used.
    pub fn tolerances(&self) -> Tolerances {
        self.tol
    }

    /// The float type the function was evaluated in (`"f64"` or `"f32"`).
    pub fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// The shape of the function's output.
    pub fn output_dims(&self) -> &[usize] {
        &self.output_dims
    }

    /// True if the output was not a scalar and was contracted with a seeded random cotangent
    /// `c` (the check is then of `sum(f(x) · c)`).
    pub fn contracted(&self) -> bool {
        self.contracted
    }
}

fn fmt_dims(d: &[usize]) -> String {
    let inner: Vec<String> = d.iter().map(usize::to_string).collect();
    format!("[{}]", inner.join(", "))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.tol;
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        writeln!(
            f,
            "gradcheck {verdict} ({}, eps {:e}, atol {:e}, rtol {:e}): {} of {} checked elements fail, {} on kinks",
            self.dtype,
            t.eps,
            t.atol,
            t.rtol,
            self.failures.len(),
            self.checked(),
            self.kinks.len()
        )?;
        if self.contracted {
            writeln!(
                f,
                "  output {} contracted with a seeded random cotangent (seed {})",
                fmt_dims(&self.output_dims),
                self.seed
            )?;
        } else {
            writeln!(f, "  output {} (scalar)", fmt_dims(&self.output_dims))?;
        }
        for i in &self.inputs {
            if i.sampled {
                writeln!(
                    f,
                    "  input `{}` {}: {} of {} elements checked (seeded sample, seed {})",
                    i.name,
                    fmt_dims(&i.dims),
                    i.checked,
                    i.numel,
                    self.seed
                )?;
            } else {
                writeln!(f, "  input `{}` {}: all {} elements checked", i.name, fmt_dims(&i.dims), i.numel)?;
            }
        }
        writeln!(f, "  max abs error {:.3e}, max rel error {:.3e}", self.max_abs_error, self.max_rel_error)?;
        if !self.failures.is_empty() {
            writeln!(f, "  failures, worst first:")?;
            let rows: Vec<[String; 7]> = self
                .failures
                .iter()
                .take(SHOWN_ROWS)
                .map(|m| {
                    [
                        m.input.clone(),
                        fmt_dims(&m.index),
                        format!("{:.6e}", m.analytic),
                        format!("{:.6e}", m.numeric),
                        format!("{:.2e}", m.abs_error),
                        format!("{:.2e}", m.rel_error),
                        if m.at_kink { "kink, outside one-sided slopes".into() } else { String::new() },
                    ]
                })
                .collect();
            table(f, ["input", "index", "analytic", "numeric", "abs err", "rel err", "note"], &rows)?;
            if self.failures.len() > SHOWN_ROWS {
                writeln!(f, "    ... and {} more", self.failures.len() - SHOWN_ROWS)?;
            }
        }
        if !self.kinks.is_empty() {
            writeln!(f, "  kinks (one-sided slopes disagree; a subgradient between them is accepted):")?;
            let rows: Vec<[String; 5]> = self
                .kinks
                .iter()
                .take(SHOWN_ROWS)
                .map(|k| {
                    [
                        k.input.clone(),
                        fmt_dims(&k.index),
                        format!("{:.6e}", k.analytic),
                        format!("{:.6e}", k.left),
                        format!("{:.6e}", k.right),
                    ]
                })
                .collect();
            table(f, ["input", "index", "analytic", "left slope", "right slope"], &rows)?;
            if self.kinks.len() > SHOWN_ROWS {
                writeln!(f, "    ... and {} more", self.kinks.len() - SHOWN_ROWS)?;
            }
        }
        Ok(())
    }
}

/// Writes a left-aligned table indented by four spaces.
fn table<const N: usize>(f: &mut fmt::Formatter<'_>, header: [&str; N], rows: &[[String; N]]) -> fmt::Result {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: [&str; N]| -> fmt::Result {
        let mut s = String::from("   ");
        for (c, w) in cells.iter().zip(width) {
            s.push(' ');
            s.push_str(c);
            s.extend(std::iter::repeat_n(' ', w - c.chars().count()));
            s.push(' ');
        }
        writeln!(f, "{}", s.trim_end())
    };
    line(f, header)?;
    for r in rows {
        line(f, r.each_ref().map(String::as_str))?;
    }
    Ok(())
}

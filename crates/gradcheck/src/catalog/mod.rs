//! One table of every public op of the tensor crate: how to draw random inputs of random shapes
//! for it, and the function to check.
//!
//! The per-op property tests (`tests/ops.rs`), the coverage test (every public op has an entry,
//! every entry records the ops it claims) and `examples/gradcheck_all.rs` all read this table,
//! so adding an op means adding one [`Entry`] here.
//!
//! Inputs are drawn where the op is smooth and defined: positive values for `log`, `sqrt`, `pow`
//! and denominators; values bounded away from 0 for `relu`, `abs` and friends; well-separated
//! values for `max` and `maximum`. Entries whose op has kinks also have a [`Entry::kink`] maker
//! that puts some inputs exactly on the switch points, to test that the checker reports them as
//! kinks rather than failures.
//!
//! ```
//! use downhill_gradcheck::{GradCheck, catalog};
//!
//! # fn main() -> Result<(), downhill_gradcheck::GradCheckError> {
//! let entry = catalog::find("softmax").expect("softmax is catalogued");
//! let outcome = entry.run(7, &GradCheck::new())?;
//! assert!(outcome.passed, "{}", outcome.report);
//! # Ok(()) }
//! ```

mod binary;
mod composite;
mod custom;
mod draw;
mod linalg;
mod movement;
mod reduce;
mod unary;

pub use custom::{MulExp, RowDot, ScaledCube};

use std::fmt;

use downhill_tensor::{Params, SeededRng, Tape, Tensor, Var, seeded_rng};

use crate::{GradCheck, GradCheckError, Report};

/// The op families, one per source file of the tensor crate's `ops/` (plus composites).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Elementwise ops of one tensor, including the scalar-operand arithmetic (`x + 2.0`).
    Unary,
    /// Elementwise ops of two tensors, and the explicit `broadcast_*` forms.
    Binary,
    /// Sums, means, maxima, log-sum-exp and the softmax family.
    Reduce,
    /// Matrix products.
    Linalg,
    /// Reshapes, permutations, broadcasts, slices, gathers, concatenation, detach.
    Movement,
    /// Ops defined outside the crate: `Tape::custom`, `Var::map_unary`, `Var::map_binary`.
    Custom,
    /// Small models and losses built from many ops.
    Composite,
}

impl Family {
    /// Every family, in table order.
    pub const ALL: [Family; 7] = [
        Family::Unary,
        Family::Binary,
        Family::Reduce,
        Family::Linalg,
        Family::Movement,
        Family::Custom,
        Family::Composite,
    ];

    /// The lower-case name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Family::Unary => "unary",
            Family::Binary => "binary",
            Family::Reduce => "reduce",
            Family::Linalg => "linalg",
            Family::Movement => "movement",
            Family::Custom => "custom",
            Family::Composite => "composite",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a correct op's check looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Analytic and numeric gradients agree (every op but `detach`).
    Gradient,
    /// The op is a stop-gradient: the forward depends on the named input, the backward must
    /// not. Finite differences see the forward, so a correct op makes *every* element of that
    /// input disagree with an analytic gradient of exactly 0, while every other input passes.
    BlocksGradient {
        /// The input whose gradient is blocked.
        input: &'static str,
    },
}

/// The function of a [`Case`]: its inputs' vars in order → the value to check.
type CaseFn = Box<dyn for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>>;

/// One random instance of an entry: named inputs, the op's arguments, and the function.
pub struct Case {
    /// The named inputs, in the order the function takes them.
    pub inputs: Vec<(&'static str, Tensor<f64>)>,
    /// The op's non-tensor arguments, for display (`"axis 1, keepdim"`), or empty.
    pub args: String,
    /// For a kink case: how many input elements were placed on a kink (the checker must report
    /// exactly this many). 0 for an ordinary case.
    pub kinks: usize,
    f: CaseFn,
}

impl Case {
    /// A case from inputs, a description of the arguments, and the function.
    pub fn new(
        inputs: Vec<(&'static str, Tensor<f64>)>,
        args: impl Into<String>,
        f: impl for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64> + 'static,
    ) -> Self {
        Case { inputs, args: args.into(), kinks: 0, f: Box::new(f) }
    }

    /// Marks `n` input elements as placed on kinks.
    pub fn with_kinks(mut self, n: usize) -> Self {
        self.kinks = n;
        self
    }

    /// The input shapes, e.g. `"x [2, 3], w [3]"`.
    pub fn shapes(&self) -> String {
        let parts: Vec<String> = self.inputs.iter().map(|(n, t)| format!("{n} {}", t.shape())).collect();
        parts.join(", ")
    }

    /// Runs the checker on this case.
    pub fn check(&self, checker: &GradCheck<f64>) -> Result<Report, GradCheckError> {
        checker.check(&self.inputs, &*self.f)
    }

    /// Records the function once on a fresh tape (inputs as parameters) and returns the op name
    /// of every node it recorded, leaves (`param`, `constant`) excluded.
    pub fn op_names(&self) -> Result<Vec<&'static str>, GradCheckError> {
        let mut params = Params::new();
        let mut ids = Vec::new();
        for (name, t) in &self.inputs {
            ids.push(params.insert(*name, t.clone())?);
        }
        let tape = Tape::new();
        let vars: Vec<Var<'_, f64>> = ids.iter().map(|&id| tape.param(&params, id)).collect();
        (self.f)(&tape, &vars).value()?;
        Ok(tape.op_names().into_iter().filter(|n| *n != "param" && *n != "constant").collect())
    }
}

/// One row of the catalogue.
pub struct Entry {
    /// A unique row name (the method's name, with a qualifier when one method has several rows,
    /// e.g. `"matmul_batched"`).
    pub name: &'static str,
    /// The op family.
    pub family: Family,
    /// The public methods of the tensor crate this row exercises, as named in the source
    /// (`try_` stripped: `"add"` is `+` / `try_add`).
    pub methods: &'static [&'static str],
    /// The op names the function records on the tape (leaves excluded), as a set.
    pub records: &'static [&'static str],
    /// What a correct op's check looks like.
    pub expect: Expect,
    /// Draws a random case (random shapes, values in the op's smooth domain).
    pub make: fn(&mut SeededRng) -> Case,
    /// For ops with kinks: draws a case with some inputs exactly on the switch points.
    pub kink: Option<fn(&mut SeededRng) -> Case>,
}

/// The result of running one entry.
pub struct Outcome {
    /// The entry's name.
    pub name: &'static str,
    /// The entry's family.
    pub family: Family,
    /// The input shapes.
    pub shapes: String,
    /// The op's arguments.
    pub args: String,
    /// The checker's report.
    pub report: Report,
    /// How many input elements the case placed on kinks (0 unless it is a kink case).
    pub planted_kinks: usize,
    /// True if the report is what a correct op gives (see [`Expect`]; for a kink case, also
    /// that exactly the planted kinks were reported).
    pub passed: bool,
}

impl Entry {
    /// A seed for this entry derived from a base seed and the entry's name (FNV-1a), so every
    /// entry draws a different case from one base seed, and adding an entry changes no other
    /// entry's case.
    pub fn seed(&self, base: u64) -> u64 {
        self.name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325 ^ base, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    /// Of the 8 seeds `self.seed(base + i)`, the one whose case has the most input elements
    /// (the first on ties): a deterministic, non-trivial case for tables and the book, where a
    /// rank-0 or one-element draw would show little.
    pub fn showcase_seed(&self, base: u64) -> u64 {
        let size = |seed: u64| -> usize { self.case(seed).inputs.iter().map(|(_, t)| t.numel()).sum() };
        let seeds = (0..8).map(|i| self.seed(base.wrapping_add(i)));
        seeds.fold((self.seed(base), 0), |best, s| if size(s) > best.1 { (s, size(s)) } else { best }).0
    }

    /// The case drawn from `seed`.
    pub fn case(&self, seed: u64) -> Case {
        (self.make)(&mut seeded_rng(seed))
    }

    /// Draws the case for `seed` and checks it.
    pub fn run(&self, seed: u64, checker: &GradCheck<f64>) -> Result<Outcome, GradCheckError> {
        self.outcome(self.case(seed), checker)
    }

    /// For an op with kinks, draws the kink case for `seed` and checks it; `None` otherwise.
    pub fn run_kink(&self, seed: u64, checker: &GradCheck<f64>) -> Option<Result<Outcome, GradCheckError>> {
        self.kink.map(|make| self.outcome(make(&mut seeded_rng(seed)), checker))
    }

    fn outcome(&self, case: Case, checker: &GradCheck<f64>) -> Result<Outcome, GradCheckError> {
        let report = case.check(checker)?;
        let passed = match self.expect {
            Expect::Gradient => report.passed() && report.num_kinks() == case.kinks,
            Expect::BlocksGradient { input } => blocks(&report, input),
        };
        Ok(Outcome {
            name: self.name,
            family: self.family,
            shapes: case.shapes(),
            args: case.args,
            report,
            planted_kinks: case.kinks,
            passed,
        })
    }
}

/// Every element of `input` fails with an analytic gradient of exactly 0; nothing else fails.
fn blocks(report: &Report, input: &str) -> bool {
    let Some(summary) = report.inputs().iter().find(|i| i.name == input) else {
        return false;
    };
    let failures = report.failures();
    failures.len() == summary.checked
        && failures.iter().all(|m| m.input == input && m.analytic == 0.0 && !m.at_kink)
        && report.num_kinks() == 0
}

/// Every entry, family by family in [`Family::ALL`] order.
pub fn entries() -> Vec<&'static Entry> {
    [
        unary::ENTRIES,
        binary::ENTRIES,
        reduce::ENTRIES,
        linalg::ENTRIES,
        movement::ENTRIES,
        custom::ENTRIES,
        composite::ENTRIES,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The entry with this name.
pub fn find(name: &str) -> Option<&'static Entry> {
    entries().into_iter().find(|e| e.name == name)
}

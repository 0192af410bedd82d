//! `doctor`: the case study's debugging checklist, run automatically. Findings are ranked by
//! severity, and each says what was measured and how to fix it.
//!
//! [`check_data`] looks at a dataset before training; [`check_log`], [`check_predictions`],
//! [`check_run`], [`check_mlp`] and [`check_run_mlp`] look at a run after it (or after it failed).

mod data;
mod linalg;
mod run;

pub use data::{DataContext, Task, check_data};
pub use linalg::symmetric_eigenvalues;
pub use run::{
    CRAWL_REMAINING, MLP_ROWS, SATURATED_LOGIT, SPIKE_FACTOR, check_log, check_mlp, check_predictions,
    check_run, check_run_mlp, hidden_preactivations,
};

use std::fmt;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Training will fail or be wrong until this is fixed.
    Critical,
    /// Training will be slow, unstable or misleading.
    Warning,
    /// Worth knowing when reading the results.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One diagnosis: what was found, the numbers behind it, and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Severity (the report is sorted by it).
    pub severity: Severity,
    /// A stable identifier, e.g. `"feature-scale"`.
    pub code: &'static str,
    /// One line: what is wrong.
    pub title: String,
    /// The measurements behind it.
    pub detail: String,
    /// What to do about it.
    pub fix: String,
    /// A number to rank findings of the same severity by (larger first), e.g. a ratio.
    pub score: f64,
}

/// Findings, most severe first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The findings, ranked.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Ranks `findings` by severity, then by score (larger first), then by code.
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal))
                .then(a.code.cmp(b.code))
        });
        Report { findings }
    }

    /// The findings with this code.
    pub fn find(&self, code: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }

    /// The number of critical findings.
    pub fn critical(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Critical).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return writeln!(f, "doctor: no findings");
        }
        for (i, x) in self.findings.iter().enumerate() {
            writeln!(f, "{}. [{}] {}: {}", i + 1, x.severity, x.code, x.title)?;
            writeln!(f, "   found: {}", x.detail)?;
            writeln!(f, "   fix:   {}", x.fix)?;
        }
        Ok(())
    }
}

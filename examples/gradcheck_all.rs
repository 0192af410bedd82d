//! Checks every op of the tensor crate against central finite differences in f64.
//!
//! ```sh
//! cargo run --release --example gradcheck_all
//! ```
//!
//! One row per catalogue entry (`downhill::gradcheck::catalog`): random inputs of random shapes
//! drawn from a fixed seed, the largest absolute and relative error between the tape's gradient
//! and the finite difference, and the verdict. A second table plants inputs exactly on the kinks
//! of relu, abs, clamp, max and friends and shows that the checker reports them as kinks rather
//! than failures. The process exits with status 1 if any row fails.

use std::process::ExitCode;

use downhill::gradcheck::catalog::{self, Expect, Outcome};
use downhill::gradcheck::{GradCheck, GradCheckError};

/// Every entry draws its case from a seed derived from this one and its name (the largest of 8
/// such cases, see [`Entry::showcase_seed`](catalog::Entry::showcase_seed)), so the output is the
/// same on every run.
const SEED: u64 = 2024;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, GradCheckError> {
    let checker = GradCheck::new();
    let t = checker.tolerances();
    println!(
        "gradcheck of every op: f64, eps {:e}, atol {:e}, rtol {:e}, seed {SEED}\n",
        t.eps, t.atol, t.rtol
    );

    let mut rows = Vec::new();
    let mut kink_rows = Vec::new();
    let mut all_passed = true;
    for entry in catalog::entries() {
        let seed = entry.showcase_seed(SEED);
        let outcome = entry.run(seed, &checker)?;
        all_passed &= outcome.passed;
        let verdict = match (outcome.passed, entry.expect) {
            (true, Expect::BlocksGradient { .. }) => "pass (x: gradient 0)".to_string(),
            (true, _) => "pass".to_string(),
            (false, _) => "FAIL".to_string(),
        };
        let (abs, rel) = errors(&outcome, entry.expect);
        rows.push([
            entry.name.to_string(),
            entry.family.to_string(),
            outcome.shapes.clone(),
            outcome.report.checked().to_string(),
            abs,
            rel,
            verdict,
        ]);
        if !outcome.passed {
            eprintln!("{} ({}): {}", entry.name, outcome.args, outcome.report);
        }
        if let Some(kinked) = entry.run_kink(seed, &checker) {
            let k = kinked?;
            all_passed &= k.passed;
            kink_rows.push([
                k.name.to_string(),
                k.shapes.clone(),
                k.planted_kinks.to_string(),
                k.report.num_kinks().to_string(),
                k.report.num_failures().to_string(),
                if k.passed { "pass" } else { "FAIL" }.to_string(),
            ]);
            if !k.passed {
                eprintln!("{} kinks ({}): {}", k.name, k.args, k.report);
            }
        }
    }
    print_table(["op", "family", "inputs", "checked", "max abs err", "max rel err", "result"], &rows);
    println!("\nkinks: inputs placed exactly on switch points are reported, not failed\n");
    print_table(["op", "inputs", "planted", "kinks reported", "failures", "result"], &kink_rows);
    println!(
        "\n{} ops, {} kink cases: {}",
        rows.len(),
        kink_rows.len(),
        if all_passed { "all passed" } else { "SOME FAILED" }
    );
    Ok(all_passed)
}

/// The error columns. For a stop-gradient op the row shows the largest analytic gradient of the
/// blocked input, which must be exactly 0 (its finite difference is not: the forward uses it).
fn errors(o: &Outcome, expect: Expect) -> (String, String) {
    match expect {
        Expect::Gradient => {
            (format!("{:.1e}", o.report.max_abs_error()), format!("{:.1e}", o.report.max_rel_error()))
        }
        Expect::BlocksGradient { input } => {
            let blocked = o.report.failures().iter().filter(|m| m.input == input);
            let worst = blocked.map(|m| m.analytic.abs()).fold(0.0f64, f64::max);
            (format!("{worst:.1e}"), "-".to_string())
        }
    }
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::new();
        for (c, w) in cells.iter().zip(width) {
            s.push_str(c);
            s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
        }
        println!("{}", s.trim_end());
    };
    line(header);
    line(width.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for r in rows {
        line(r.each_ref().map(String::as_str));
    }
}

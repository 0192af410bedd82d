//! One property test per catalogue entry: random shapes and values (f64), drawn by the entry's
//! generator from a seed that proptest chooses, checked with the default tolerances.
//!
//! proptest picks and reports the seed; the entry turns it into shapes, values and op arguments,
//! and a failure message shows them with the checker's report. Reproduce a failure with
//! `catalog::find(name).unwrap().run(seed, &GradCheck::new())`.
//!
//! Ops with kinks get a second property: inputs planted exactly on the switch points are
//! reported as kinks (exactly as many as planted) and do not fail.

use std::collections::BTreeSet;

use downhill_gradcheck::GradCheck;
use downhill_gradcheck::catalog::{self, Expect};
use proptest::prelude::*;

/// Cases per op: 67 entries × this many checks must stay well under a minute at opt-level 1.
const CASES: u32 = 128;

fn check_entry(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let entry =
        catalog::find(name).ok_or_else(|| TestCaseError::fail(format!("no catalogue entry {name}")))?;
    let outcome =
        entry.run(seed, &GradCheck::new()).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    prop_assert!(
        outcome.passed,
        "{name} with {} ({}), seed {seed}:\n{}",
        outcome.shapes,
        outcome.args,
        outcome.report
    );
    if entry.expect == Expect::Gradient {
        prop_assert_eq!(outcome.report.num_kinks(), 0, "{} found kinks away from switch points", name);
    }
    Ok(())
}

fn check_kinks(name: &str, seed: u64) -> Result<(), TestCaseError> {
    let entry =
        catalog::find(name).ok_or_else(|| TestCaseError::fail(format!("no catalogue entry {name}")))?;
    let outcome = entry
        .run_kink(seed, &GradCheck::new())
        .ok_or_else(|| TestCaseError::fail(format!("{name} has no kink case")))?
        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    prop_assert!(outcome.planted_kinks > 0, "{name}: the kink case planted nothing");
    prop_assert_eq!(outcome.report.num_kinks(), outcome.planted_kinks, "{}:\n{}", name, outcome.report);
    prop_assert!(outcome.report.passed(), "{name} with {}, seed {seed}:\n{}", outcome.shapes, outcome.report);
    prop_assert!(outcome.passed);
    Ok(())
}

macro_rules! op_properties {
    ($($name:ident),* $(,)?) => {
        /// The entries that have a property test here, to compare with the catalogue.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        proptest! {
            #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]
            $(
                #[test]
                fn $name(seed in any::<u64>()) {
                    check_entry(stringify!($name), seed)?;
                }
            )*
        }
    };
}

macro_rules! kink_properties {
    ($($test:ident => $name:ident),* $(,)?) => {
        /// The entries whose kink case has a property test here.
        const KINK_TESTED: &[&str] = &[$(stringify!($name)),*];
        proptest! {
            #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]
            $(
                #[test]
                fn $test(seed in any::<u64>()) {
                    check_kinks(stringify!($name), seed)?;
                }
            )*
        }
    };
}

op_properties! {
    // unary
    neg, add_scalar, sub_scalar, rsub_scalar, mul_scalar, div_scalar, rdiv_scalar, square, sqrt, exp,
    log, abs, tanh, sigmoid, relu, leaky_relu, softplus, pow, clamp,
    // binary
    add, sub, mul, div, maximum, minimum, add_rank0, sub_rank0, mul_rank0, div_rank0, maximum_rank0,
    minimum_rank0, broadcast_add, broadcast_sub, broadcast_mul, broadcast_div, broadcast_add_row,
    broadcast_sub_row, broadcast_mul_row, broadcast_div_row,
    // reduce
    sum, mean, bce_with_logits_mean, linear_bce_with_logits_mean, softmax_cross_entropy_mean, max, sum_axis, mean_axis, max_axis, log_sum_exp, log_softmax, softmax,
    // linalg
    matmul, matmul_batched,
    // movement
    reshape, unsqueeze, squeeze, permute, transpose, t, broadcast_to, narrow, index_select, pick, concat,
    detach,
    // custom
    custom, map_unary, map_binary,
    // composite
    mse_loss, cross_entropy, logistic_bce, mlp_loss, attention, layer_norm,
}

kink_properties! {
    abs_kinks => abs,
    relu_kinks => relu,
    leaky_relu_kinks => leaky_relu,
    clamp_kinks => clamp,
    maximum_kinks => maximum,
    minimum_kinks => minimum,
    max_kinks => max,
    max_axis_kinks => max_axis,
}

#[test]
fn the_examples_seeds_pass_for_every_entry() {
    // `examples/gradcheck_all.rs` runs every entry (and kink case) with seed
    // `entry.showcase_seed(2024)`; CI requires it to exit 0, so those exact cases are pinned here.
    for entry in catalog::entries() {
        let seed = entry.showcase_seed(2024);
        check_entry(entry.name, seed).unwrap();
        if entry.kink.is_some() {
            check_kinks(entry.name, seed).unwrap();
        }
    }
}

#[test]
fn every_catalogue_entry_has_a_property_test() {
    let catalogued: BTreeSet<&str> = catalog::entries().iter().map(|e| e.name).collect();
    let tested: BTreeSet<&str> = TESTED.iter().copied().collect();
    assert_eq!(tested.len(), TESTED.len(), "a name is listed twice");
    assert_eq!(catalogued, tested, "add the missing names to op_properties! (or remove stale ones)");

    let kinked: BTreeSet<&str> =
        catalog::entries().iter().filter(|e| e.kink.is_some()).map(|e| e.name).collect();
    let kink_tested: BTreeSet<&str> = KINK_TESTED.iter().copied().collect();
    assert_eq!(kinked, kink_tested, "add the missing names to kink_properties!");
}

//! Hyperparameter validation shared by every optimizer, clip and schedule.

use downhill_tensor::{Error, Result};

fn err(owner: &'static str, name: &'static str, value: f64, expected: &'static str) -> Error {
    Error::Hyperparameter { owner, name, value, expected }
}

/// `value` finite and > 0.
pub(crate) fn positive(
    owner: &'static str,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<()> {
    if value.is_finite() && value > 0.0 { Ok(()) } else { Err(err(owner, name, value, expected)) }
}

/// `value` finite and >= 0.
pub(crate) fn non_negative(
    owner: &'static str,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<()> {
    if value.is_finite() && value >= 0.0 { Ok(()) } else { Err(err(owner, name, value, expected)) }
}

/// `value` in [0, 1).
pub(crate) fn unit(
    owner: &'static str,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<()> {
    if (0.0..1.0).contains(&value) { Ok(()) } else { Err(err(owner, name, value, expected)) }
}

/// `value` in (0, 1].
pub(crate) fn factor(
    owner: &'static str,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<()> {
    if value > 0.0 && value <= 1.0 { Ok(()) } else { Err(err(owner, name, value, expected)) }
}

/// A count that must be at least 1.
pub(crate) fn at_least_one(
    owner: &'static str,
    name: &'static str,
    value: u64,
    expected: &'static str,
) -> Result<()> {
    if value >= 1 { Ok(()) } else { Err(err(owner, name, value as f64, expected)) }
}

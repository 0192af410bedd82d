//! # downhill-train
//!
//! Everything around an optimizer that a training run needs: data (CSV loading with typed errors,
//! the bundled real datasets, seeded splits, scaling fitted on the training split only, seeded
//! mini-batches). The fit loop, diagnostics, checkpoints and reports build on it.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod compare;
pub mod data;
pub mod doctor;
mod error;
pub mod fit;
pub mod log;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod report;
pub mod stop;
pub mod surfaces;
pub mod sweep;
pub mod tuning;

pub use error::{Error, Result};

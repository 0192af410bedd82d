#![doc = include_str!("../README.md")]
//!
//! ---
//! The facade crate: re-exports of the workspace crates and a [`prelude`].

/// Tensors, the tape, reverse-mode autodiff, typed errors (`downhill-tensor`).
pub use downhill_tensor as tensor;

/// Gradient checking against central finite differences (`downhill-gradcheck`).
pub use downhill_gradcheck as gradcheck;

/// Layers, models, losses, initializers (`downhill-nn`).
pub use downhill_nn as nn;

/// Optimizers, clipping, schedules, optimizer state (`downhill-optim`).
pub use downhill_optim as optim;

/// Data, the fit loop, metrics, diagnostics, plots (`downhill-train`).
pub use downhill_train as train;

/// The names almost every program needs: `use downhill::prelude::*;`.
pub mod prelude {
    pub use downhill_nn::loss;
    pub use downhill_nn::{
        Activation, Init, L2, Linear, LinearRegression, LogisticRegression, Mlp, Module, Sequential,
        SoftmaxRegression,
    };
    pub use downhill_optim::{
        Adam, AdamConfig, AdamW, AdamWConfig, Momentum, MomentumConfig, Optimizer, Schedule, Sgd, SgdConfig,
        WeightDecay,
    };
    pub use downhill_tensor::{
        Error, Float, Grads, ParamId, Params, Result, SeededRng, Shape, Tape, Tensor, Var, seeded_rng,
    };
}

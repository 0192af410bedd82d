//! Gradient checking (in progress).

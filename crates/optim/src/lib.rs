//! Optimizers, clipping, schedules, optimizer state (being built; see issue 3).

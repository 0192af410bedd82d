//! Layers, models, losses and initializers (being built; see issue 3).

//! Weight decay and parameter groups: which parameters decay, and how strongly, chosen by name.

use downhill_tensor::Result;

use crate::check;

/// How an optimizer shrinks the weights, made explicit.
///
/// - `L2(λ)` adds `λ·θ` to the gradient before the update rule sees it (PyTorch's
///   `weight_decay=λ` on SGD, Adagrad, RMSprop and Adam). With an adaptive optimizer the decay is
///   then rescaled like any gradient.
/// - `Decoupled(λ)` shrinks the weights directly, `θ ← θ·(1 − lr·λ)`, before the update
///   (AdamW, Loshchilov & Hutter 2019; PyTorch's `AdamW(weight_decay=λ)`; optax's
///   `add_decayed_weights` followed by the learning rate). Works with every optimizer here.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum WeightDecay {
    /// No decay.
    #[default]
    None,
    /// Add `λ·θ` to the gradient.
    L2(f64),
    /// `θ ← θ·(1 − lr·λ)` before the update.
    Decoupled(f64),
}

impl WeightDecay {
    pub(crate) fn validate(self, owner: &'static str) -> Result<()> {
        match self {
            WeightDecay::None => Ok(()),
            WeightDecay::L2(l) | WeightDecay::Decoupled(l) => check::non_negative(
                owner,
                "weight_decay",
                l,
                "finite and >= 0 (typical: 1e-4 for L2, 0.01 for decoupled)",
            ),
        }
    }
}

/// Which parameters a [`ParamGroup`] applies to, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    /// Exactly this name.
    Exact(String),
    /// Names starting with this (e.g. `"encoder."`).
    Prefix(String),
    /// Names ending with this (e.g. `".bias"`).
    Suffix(String),
    /// Names containing this.
    Contains(String),
    /// Names matching any of these.
    Any(Vec<Select>),
}

impl Select {
    /// True if `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Select::Exact(s) => name == s,
            Select::Prefix(s) => name.starts_with(s.as_str()),
            Select::Suffix(s) => name.ends_with(s.as_str()),
            Select::Contains(s) => name.contains(s.as_str()),
            Select::Any(all) => all.iter().any(|s| s.matches(name)),
        }
    }
}

/// Overrides for the parameters whose names match `select`.
///
/// Groups are checked in the order they were added; the first match wins, and a parameter no
/// group matches uses the optimizer's own settings. A group overrides the weight decay and scales
/// the learning rate (the scheduled learning rate times `lr_scale`, so one schedule drives every
/// group, as PyTorch's schedulers scale every group's own `lr`). Other hyperparameters (betas,
/// eps, momentum) are the optimizer's for every parameter.
///
/// ```
/// use downhill_optim::{ParamGroup, Select, WeightDecay};
/// // The usual choice: no weight decay on biases.
/// let g = ParamGroup::no_decay_on_biases();
/// assert!(g.select.matches("fc1.bias") && g.select.matches("bias"));
/// assert!(!g.select.matches("fc1.weight"));
/// assert_eq!(g.weight_decay, Some(WeightDecay::None));
/// // Half the learning rate for an embedding table:
/// let e = ParamGroup::new(Select::Prefix("embed.".into())).lr_scale(0.5);
/// assert_eq!(e.lr_scale, Some(0.5));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGroup {
    /// Which parameters the group holds.
    pub select: Select,
    /// Weight decay for the group (`None` keeps the optimizer's).
    pub weight_decay: Option<WeightDecay>,
    /// Multiplies the learning rate for the group (`None` is 1).
    pub lr_scale: Option<f64>,
}

impl ParamGroup {
    /// A group with no overrides yet.
    pub fn new(select: Select) -> Self {
        ParamGroup { select, weight_decay: None, lr_scale: None }
    }

    /// Names ending in `.bias` (and the name `bias`), with weight decay off.
    pub fn no_decay_on_biases() -> Self {
        ParamGroup::new(Select::Any(vec![Select::Suffix(".bias".into()), Select::Exact("bias".into())]))
            .weight_decay(WeightDecay::None)
    }

    /// Sets the group's weight decay.
    pub fn weight_decay(mut self, decay: WeightDecay) -> Self {
        self.weight_decay = Some(decay);
        self
    }

    /// Sets the group's learning-rate multiplier (finite, >= 0).
    pub fn lr_scale(mut self, scale: f64) -> Self {
        self.lr_scale = Some(scale);
        self
    }

    pub(crate) fn validate(&self, owner: &'static str) -> Result<()> {
        if let Some(d) = self.weight_decay {
            d.validate(owner)?;
        }
        if let Some(s) = self.lr_scale {
            check::non_negative(owner, "group lr_scale", s, "finite and >= 0 (1 keeps the learning rate)")?;
        }
        Ok(())
    }
}

/// The learning-rate multiplier and weight decay that apply to `name`.
pub(crate) fn resolve(groups: &[ParamGroup], default: WeightDecay, name: &str) -> (f64, WeightDecay) {
    match groups.iter().find(|g| g.select.matches(name)) {
        Some(g) => (g.lr_scale.unwrap_or(1.0), g.weight_decay.unwrap_or(default)),
        None => (1.0, default),
    }
}

//! Optimizer state as data: named tensors plus string metadata, saved as safetensors.
//!
//! Layout written by every first-order optimizer:
//!
//! - one tensor per buffer and parameter, named `{buffer}/{parameter}`, e.g. `exp_avg/fc1.weight`,
//!   `exp_avg_sq/fc1.weight`, `momentum_buffer/fc1.bias` (ordered by name);
//! - metadata: `kind` (`"adam"`, ...), `step` (optimizer steps taken), `lr_scale`,
//!   `params` (every parameter name of the store, JSON list), `slot_steps` (per parameter, the
//!   number of updates it received, JSON object; Adam's bias correction uses it, as PyTorch keeps
//!   one step counter per parameter), and the settings (`lr`, `schedule`, `weight_decay`,
//!   `groups`, `clip`, `hyper.*`) that [`load_state`](crate::Optimizer::load_state) compares.
//! - [`ReduceOnPlateau`](crate::schedule::ReduceOnPlateau) adds `plateau.*` keys.
//!
//! Numbers are stored with Rust's shortest round-trip formatting, so they read back bit for bit.

use std::collections::BTreeMap;
use std::path::Path;

use downhill_tensor::{Error, Float, Result, Tensor, io};

/// Saved optimizer state: tensors keyed `{buffer}/{parameter}` and string metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T: Float> {
    /// `(name, tensor)`, ordered by name.
    pub tensors: Vec<(String, Tensor<T>)>,
    /// String metadata (`kind`, `step`, settings, per-parameter step counts, ...).
    pub metadata: BTreeMap<String, String>,
    /// Where the state came from (a path, `"<bytes>"`, or `"<memory>"`); used in error messages.
    pub origin: String,
}

impl<T: Float> OptimizerState<T> {
    /// An empty state of an optimizer `kind`, as built in memory.
    pub fn new(kind: &str, step: u64) -> Self {
        let mut metadata = BTreeMap::new();
        metadata.insert("kind".to_string(), kind.to_string());
        metadata.insert("step".to_string(), step.to_string());
        OptimizerState { tensors: Vec::new(), metadata, origin: "<memory>".to_string() }
    }

    /// The optimizer kind that saved the state (`"sgd"`, `"adam"`, `"lbfgs"`, ...).
    pub fn kind(&self) -> Option<&str> {
        self.metadata.get("kind").map(String::as_str)
    }

    /// The number of optimizer steps taken when the state was saved.
    pub fn step(&self) -> Result<u64> {
        self.parse("step")
    }

    /// The tensor with this name.
    pub fn get(&self, name: &str) -> Option<&Tensor<T>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Serializes to safetensors bytes (deterministic).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        io::to_bytes(self.tensors.iter().map(|(n, t)| (n.as_str(), t)), &self.metadata)
    }

    /// Parses bytes written by [`OptimizerState::to_bytes`] or [`OptimizerState::save`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_named(io::from_bytes(bytes, "<bytes>")?, "<bytes>")
    }

    /// Writes the state to a safetensors file (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        io::save(path, self.tensors.iter().map(|(n, t)| (n.as_str(), t)), &self.metadata)
    }

    /// Reads a state file written by [`OptimizerState::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let origin = path.as_ref().display().to_string();
        Self::from_named(io::load(path)?, &origin)
    }

    fn from_named(named: io::NamedTensors<T>, origin: &str) -> Result<Self> {
        let state =
            OptimizerState { tensors: named.tensors, metadata: named.metadata, origin: origin.to_string() };
        if state.kind().is_none() {
            return Err(state.corrupt("no \"kind\" in the metadata"));
        }
        Ok(state)
    }

    pub(crate) fn corrupt(&self, message: impl Into<String>) -> Error {
        Error::StateCorrupt { origin: self.origin.clone(), message: message.into() }
    }

    /// A metadata value that must be present.
    pub(crate) fn text(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.corrupt(format!("no {key:?} in the metadata")))
    }

    /// A metadata value parsed with `FromStr` (exact for floats written with `{:?}`).
    pub(crate) fn parse<V: std::str::FromStr>(&self, key: &str) -> Result<V> {
        let s = self.text(key)?;
        s.parse().map_err(|_| self.corrupt(format!("metadata {key:?} = {s:?} is not a valid number")))
    }

    /// A JSON-encoded metadata value.
    pub(crate) fn json(&self, key: &str) -> Result<serde_json::Value> {
        let s = self.text(key)?;
        serde_json::from_str(s).map_err(|e| self.corrupt(format!("metadata {key:?} is not valid JSON: {e}")))
    }

    /// A metadata value holding a JSON list of strings.
    pub(crate) fn string_list(&self, key: &str) -> Result<Vec<String>> {
        match self.json(key)? {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(self.corrupt(format!("metadata {key:?} holds {other}, not a string"))),
                })
                .collect(),
            other => Err(self.corrupt(format!("metadata {key:?} is {other}, not a list"))),
        }
    }

    /// A metadata value holding a JSON object of non-negative integers.
    pub(crate) fn count_map(&self, key: &str) -> Result<BTreeMap<String, u64>> {
        match self.json(key)? {
            serde_json::Value::Object(items) => items
                .into_iter()
                .map(|(k, v)| match v.as_u64() {
                    Some(n) => Ok((k, n)),
                    None => Err(self.corrupt(format!("metadata {key:?}: {k:?} maps to {v}, not a count"))),
                })
                .collect(),
            other => Err(self.corrupt(format!("metadata {key:?} is {other}, not an object"))),
        }
    }

    /// Errors with `StateKind` unless the state was saved by `kind`.
    pub(crate) fn expect_kind(&self, kind: &str) -> Result<()> {
        let found = self.text("kind")?;
        if found != kind {
            return Err(Error::StateKind {
                origin: self.origin.clone(),
                expected: kind.to_string(),
                found: found.to_string(),
            });
        }
        Ok(())
    }

    /// Errors with `StateMismatch` unless metadata `key` equals `current`.
    pub(crate) fn expect_setting(&self, key: &str, current: &str) -> Result<()> {
        let saved = self.text(key)?;
        if saved != current {
            return Err(Error::StateMismatch {
                origin: self.origin.clone(),
                field: key.to_string(),
                saved: saved.to_string(),
                current: current.to_string(),
            });
        }
        Ok(())
    }
}

/// Shortest round-trip text of a float (`{:?}`), as stored in metadata.
pub(crate) fn num(x: f64) -> String {
    format!("{x:?}")
}

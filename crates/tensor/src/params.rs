//! Trainable parameters live here, outside the tape, in a stable (insertion) order; gradients
//! come back from `backward()` in a [`Grads`] keyed the same way.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::{Float, Shape, Tensor};

/// A handle to one parameter of a [`Params`] store (its position in insertion order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId(pub(crate) u32);

impl ParamId {
    /// The position of the parameter in its store's insertion order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Named trainable tensors in insertion order.
///
/// Names are unique; they are what checkpoints and optimizer state are keyed by. Iteration order
/// is insertion order, never hash order, so everything derived from a store is deterministic.
#[derive(Clone, Debug, Default)]
pub struct Params<T: Float> {
    names: Vec<String>,
    tensors: Vec<Tensor<T>>,
    by_name: BTreeMap<String, ParamId>,
}

impl<T: Float> Params<T> {
    /// An empty store.
    pub fn new() -> Self {
        Params { names: Vec::new(), tensors: Vec::new(), by_name: BTreeMap::new() }
    }

    /// Adds a parameter; the name must be new.
    pub fn insert(&mut self, name: impl Into<String>, value: Tensor<T>) -> Result<ParamId> {
        let name = name.into();
        if self.by_name.contains_key(&name) {
            return Err(Error::DuplicateParam { name });
        }
        let id = ParamId(self.names.len() as u32);
        self.by_name.insert(name.clone(), id);
        self.names.push(name);
        self.tensors.push(value);
        Ok(id)
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.tensors.iter().map(Tensor::numel).sum()
    }

    /// The id of a parameter by name.
    pub fn id(&self, name: &str) -> Result<ParamId> {
        self.by_name.get(name).copied().ok_or_else(|| self.unknown(format!("named {name:?}")))
    }

    /// The value of a parameter.
    ///
    /// Panics only if `id` came from another, larger store; use [`Params::try_get`] to check.
    pub fn get(&self, id: ParamId) -> &Tensor<T> {
        &self.tensors[id.index()]
    }

    /// The value of a parameter, or an error naming the store's contents.
    pub fn try_get(&self, id: ParamId) -> Result<&Tensor<T>> {
        self.tensors.get(id.index()).ok_or_else(|| self.unknown(format!("with id {}", id.index())))
    }

    /// The name of a parameter.
    ///
    /// Panics only if `id` came from another, larger store; use [`Params::try_name`] to check.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.index()]
    }

    /// The name of a parameter, or an error naming the store's contents.
    pub fn try_name(&self, id: ParamId) -> Result<&str> {
        self.names
            .get(id.index())
            .map(String::as_str)
            .ok_or_else(|| self.unknown(format!("with id {}", id.index())))
    }

    /// Mutable value of a parameter (copy-on-write if a tape still shares it: clear the tape
    /// before updating to avoid the copy).
    ///
    /// Panics only if `id` came from another, larger store; use [`Params::try_get_mut`] to check.
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor<T> {
        &mut self.tensors[id.index()]
    }

    /// [`Params::get_mut`], or an error naming the store's contents.
    pub fn try_get_mut(&mut self, id: ParamId) -> Result<&mut Tensor<T>> {
        if id.index() >= self.tensors.len() {
            return Err(self.unknown(format!("with id {}", id.index())));
        }
        Ok(&mut self.tensors[id.index()])
    }

    /// Replaces a parameter's value; the shape must stay the same.
    pub fn set(&mut self, id: ParamId, value: Tensor<T>) -> Result<()> {
        let old = self.try_get(id)?;
        if old.shape() != value.shape() {
            return Err(Error::ParamShape {
                name: self.names[id.index()].clone(),
                expected: old.shape().clone(),
                got: value.shape().clone(),
            });
        }
        self.tensors[id.index()] = value;
        Ok(())
    }

    /// `(id, name, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor<T>)> {
        self.names.iter().zip(&self.tensors).enumerate().map(|(i, (n, t))| (ParamId(i as u32), n.as_str(), t))
    }

    /// The ids in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<T> {
        (0..self.names.len() as u32).map(ParamId)
    }

    fn unknown(&self, what: String) -> Error {
        Error::UnknownParam {
            what,
            available: if self.names.is_empty() {
                "no parameters".to_string()
            } else {
                format!("{:?}", self.names)
            },
        }
    }
}

/// Gradients returned by `backward()`, keyed by [`ParamId`].
///
/// Every parameter brought onto the tape has an entry (zeros if the loss does not depend on it);
/// parameters never brought onto the tape have none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grads<T: Float> {
    slots: Vec<Option<Tensor<T>>>,
}

impl<T: Float> Grads<T> {
    /// An empty store (fill it with `Var::backward_into`).
    pub fn new() -> Self {
        Grads { slots: Vec::new() }
    }

    /// Mutable gradient of a parameter (e.g. to clip it in place), if it was on the tape.
    pub fn get_mut(&mut self, id: ParamId) -> Option<&mut Tensor<T>> {
        self.slots.get_mut(id.index()).and_then(Option::as_mut)
    }

    /// `(id, mutable gradient)` in parameter order, for parameters that were on the tape.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Tensor<T>)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, g)| g.as_mut().map(|g| (ParamId(i as u32), g)))
    }

    /// The gradient of a parameter, if it was on the tape.
    pub fn get(&self, id: ParamId) -> Option<&Tensor<T>> {
        self.slots.get(id.index()).and_then(Option::as_ref)
    }

    /// The gradient of a parameter, or an error if it was never brought onto the tape.
    pub fn try_get(&self, id: ParamId) -> Result<&Tensor<T>> {
        self.get(id).ok_or(Error::NoGradient { id: id.index() })
    }

    /// `(id, gradient)` in parameter order, for parameters that were on the tape.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Tensor<T>)> {
        self.slots.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (ParamId(i as u32), g)))
    }

    /// The number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True if no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Euclidean norm of all gradients together, accumulated in `f64` in parameter order.
    pub fn global_norm(&self) -> f64 {
        self.iter().flat_map(|(_, g)| g.data().iter()).map(|x| x.f64() * x.f64()).sum::<f64>().sqrt()
    }

    /// Writes one parameter's gradient during a backward pass. `first` says whether this is the
    /// pass's first contribution for `id`: it replaces the slot, later ones add to it. A slot of
    /// the same shape that nothing else shares trades buffers with `g` (no copy; `g` gets the old
    /// gradient's buffer, which the tape overwrites next pass); otherwise `g` is copied. Allocates
    /// only for a new slot, a changed shape, or a slot shared with a clone.
    pub(crate) fn write(&mut self, id: ParamId, shape: &Shape, g: &mut Vec<T>, first: bool) {
        let i = id.index();
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        match &mut self.slots[i] {
            Some(t) if !first => {
                for (d, &s) in t.data_mut().iter_mut().zip(g.iter()) {
                    *d += s;
                }
            }
            Some(t) if t.shape() == shape => match t.unique_vec() {
                Some(v) => std::mem::swap(v, g),
                None => t.data_mut().copy_from_slice(g),
            },
            slot => *slot = Some(Tensor::from_parts(shape.clone(), g.clone())),
        }
    }

    /// Ends a backward pass: only the parameters it reached (`reached[i]`) keep a gradient, so
    /// the store equals a fresh one filled by the same pass.
    pub(crate) fn finish(&mut self, reached: &[bool]) {
        let len = reached.iter().rposition(|&r| r).map_or(0, |i| i + 1);
        self.slots.truncate(len);
        for (slot, &r) in self.slots.iter_mut().zip(reached) {
            if !r {
                *slot = None;
            }
        }
    }
}

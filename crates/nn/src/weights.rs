//! Saving and loading model weights as [safetensors](https://github.com/huggingface/safetensors)
//! files, through [`downhill_tensor::io`].
//!
//! Each parameter is stored under its name in the [`Params`] store (`fc1.weight`, `fc1.bias`),
//! with its shape and its exact element type (`F64` or `F32`). Loading is all or nothing and
//! verifies everything: a parameter missing from the file ([`Error::MissingTensor`]), a tensor
//! the model does not have ([`Error::UnexpectedTensors`]), a shape that differs
//! ([`Error::TensorShape`]) or another element type ([`Error::Dtype`]) is a typed error, and the
//! store is left unchanged.
//!
//! The files are ordinary safetensors files: Python's `safetensors.torch.load_file` reads them.
//! Remember the layout when moving weights to PyTorch: a [`Linear`](crate::Linear) weight is
//! `[in, out]` (PyTorch: `[out, in]`, transpose it) and its bias `[1, out]` (PyTorch: `[out]`).

use std::collections::BTreeMap;
use std::path::Path;

use downhill_tensor::io::{self, NamedTensors};
use downhill_tensor::{Error, Float, Params, Result};

use crate::Module;

/// Writes every parameter of `params` to `path` (atomically: a crash never leaves half a file).
pub fn save<T: Float>(path: impl AsRef<Path>, params: &Params<T>) -> Result<()> {
    io::save_params(path, params, &BTreeMap::new())
}

/// [`save`] with string metadata (stored as one JSON object under the key
/// [`io::METADATA_KEY`]).
pub fn save_with_metadata<T: Float>(
    path: impl AsRef<Path>,
    params: &Params<T>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    io::save_params(path, params, metadata)
}

/// Loads a file written by [`save`] into a store with the same parameters (same names, shapes
/// and element type); returns the file's metadata.
pub fn load<T: Float>(path: impl AsRef<Path>, params: &mut Params<T>) -> Result<BTreeMap<String, String>> {
    io::load_params(path, params)
}

/// Writes only the parameters of `module` (e.g. one model of several sharing a store).
pub fn save_module<T: Float>(
    path: impl AsRef<Path>,
    params: &Params<T>,
    module: &dyn Module<T>,
) -> Result<()> {
    let mut named = Vec::new();
    for id in module.params() {
        let t = params.try_get(id)?;
        named.push((params.name(id), t));
    }
    io::save(path, named, &BTreeMap::new())
}

/// Loads a file written by [`save_module`] into the parameters of `module`, with the same
/// checks as [`load`]: the file must hold exactly the module's parameters.
pub fn load_module<T: Float>(
    path: impl AsRef<Path>,
    params: &mut Params<T>,
    module: &dyn Module<T>,
) -> Result<BTreeMap<String, String>> {
    let path = path.as_ref();
    let file = io::load::<T>(path)?;
    assign_module(params, module, file, &path.display().to_string())
}

/// [`load_module`] from tensors already read (e.g. with [`io::from_bytes`]); `origin` names
/// their source in errors.
pub fn assign_module<T: Float>(
    params: &mut Params<T>,
    module: &dyn Module<T>,
    file: NamedTensors<T>,
    origin: &str,
) -> Result<BTreeMap<String, String>> {
    let ids = module.params();
    let mut updates = Vec::with_capacity(ids.len());
    for &id in &ids {
        let current = params.try_get(id)?;
        let name = params.name(id);
        let Some(stored) = file.get(name) else {
            let names: Vec<&str> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::MissingTensor {
                name: name.to_string(),
                path: origin.to_string(),
                available: format!("{names:?}"),
            });
        };
        if stored.shape() != current.shape() {
            return Err(Error::TensorShape {
                name: name.into(),
                path: origin.into(),
                expected: current.shape().clone(),
                found: stored.shape().clone(),
            });
        }
        updates.push((id, stored.clone()));
    }
    let mine: Vec<&str> = ids.iter().map(|&id| params.name(id)).collect();
    let extra: Vec<String> =
        file.tensors.iter().filter(|(n, _)| !mine.contains(&n.as_str())).map(|(n, _)| n.clone()).collect();
    if !extra.is_empty() {
        return Err(Error::UnexpectedTensors { path: origin.to_string(), names: extra });
    }
    for (id, t) in updates {
        params.set(id, t)?;
    }
    Ok(file.metadata)
}

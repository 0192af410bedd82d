//! Named tensors to and from [safetensors](https://github.com/huggingface/safetensors) files:
//! the format for weights, optimizer state and checkpoints. Files written here load in any
//! safetensors reader (Python's `safetensors`, PyTorch, candle).
//!
//! - Element types are kept exact: an `f64` tensor is stored as `F64` and loading it as `f32`
//!   is an [`Error::Dtype`], never a silent conversion.
//! - Bytes are deterministic: tensors are ordered by name (safetensors' rule), and string
//!   metadata is stored as one JSON object (sorted keys) under the key `"downhill"`, because the
//!   safetensors crate writes a multi-key metadata map in hash order.
//! - Writing is atomic: a temporary file in the same directory is renamed over the target, so a
//!   crash never leaves a half-written file behind.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::error::{Error, Result};
use crate::{Float, Params, Shape, Tensor};

/// The metadata key under which downhill stores its string metadata (as one JSON object).
pub const METADATA_KEY: &str = "downhill";

/// Tensors read from a file, ordered by name, with the file's string metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensors<T: Float> {
    /// `(name, tensor)`, ordered by name.
    pub tensors: Vec<(String, Tensor<T>)>,
    /// String metadata (downhill's own keys, plus any other keys a foreign writer stored).
    pub metadata: BTreeMap<String, String>,
}

impl<T: Float> NamedTensors<T> {
    /// The tensor with this name, if present.
    pub fn get(&self, name: &str) -> Option<&Tensor<T>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.tensors.iter().map(|(n, _)| n.as_str()).collect();
        format!("{names:?}")
    }
}

fn dtype_of<T: Float>() -> Dtype {
    if T::BYTES == 8 { Dtype::F64 } else { Dtype::F32 }
}

struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Serializes named tensors and string metadata to safetensors bytes.
pub fn to_bytes<'a, T: Float>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor<T>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let owned: Vec<(String, Bytes)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let mut data = Vec::with_capacity(t.numel() * T::BYTES);
            for &x in t.data() {
                x.extend_le_bytes(&mut data);
            }
            (name.to_string(), Bytes { dtype: dtype_of::<T>(), shape: t.dims().to_vec(), data })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &owned {
        if !seen.insert(name.as_str()) {
            return Err(Error::DuplicateParam { name: name.clone() });
        }
    }
    let info = if metadata.is_empty() {
        None
    } else {
        let json = serde_json::to_string(metadata)
            .map_err(|e| Error::Safetensors { path: "<bytes>".to_string(), message: e.to_string() })?;
        Some(HashMap::from([(METADATA_KEY.to_string(), json)]))
    };
    safetensors::serialize(owned.iter().map(|(n, b)| (n.as_str(), b)), info)
        .map_err(|e| Error::Safetensors { path: "<bytes>".to_string(), message: e.to_string() })
}

/// Parses safetensors bytes; every tensor must be of element type `T`. `origin` names the
/// source in errors (a path, or `"<bytes>"`).
pub fn from_bytes<T: Float>(bytes: &[u8], origin: &str) -> Result<NamedTensors<T>> {
    let bad = |e: safetensors::SafeTensorError| Error::Safetensors {
        path: origin.to_string(),
        message: e.to_string(),
    };
    let st = SafeTensors::deserialize(bytes).map_err(bad)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(bad)?;
    let mut metadata = BTreeMap::new();
    if let Some(map) = header.metadata() {
        for (k, v) in map {
            if k == METADATA_KEY {
                let ours: BTreeMap<String, String> =
                    serde_json::from_str(v).map_err(|e| Error::Safetensors {
                        path: origin.to_string(),
                        message: format!("metadata {METADATA_KEY:?} is not a JSON object of strings: {e}"),
                    })?;
                metadata.extend(ours);
            } else {
                metadata.insert(k.clone(), v.clone());
            }
        }
    }
    let mut tensors = Vec::new();
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in views {
        if view.dtype() != dtype_of::<T>() {
            return Err(Error::Dtype {
                name,
                path: origin.to_string(),
                expected: T::DTYPE,
                found: format!("{:?}", view.dtype()).to_lowercase(),
            });
        }
        let data: Vec<T> = view.data().chunks_exact(T::BYTES).map(T::from_le_slice).collect();
        let shape = Shape::from(view.shape());
        tensors.push((name, Tensor::from_parts(shape, data)));
    }
    Ok(NamedTensors { tensors, metadata })
}

/// Writes named tensors and metadata to `path` atomically.
pub fn save<'a, T: Float>(
    path: impl AsRef<Path>,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor<T>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let bytes = to_bytes(tensors, metadata)?;
    write_atomic(path.as_ref(), &bytes)
}

/// Reads every tensor of `path` (all must be of element type `T`).
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<NamedTensors<T>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| io_error("read", path, e))?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Saves every parameter of a store under its name.
pub fn save_params<T: Float>(
    path: impl AsRef<Path>,
    params: &Params<T>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    save(path, params.iter().map(|(_, n, t)| (n, t)), metadata)
}

/// Loads weights saved by [`save_params`] into a store of the same model.
///
/// All or nothing: every parameter must be in the file with the same shape and element type and
/// the file must hold nothing else; otherwise the store is left unchanged and the error names the
/// first problem. Returns the file's metadata.
pub fn load_params<T: Float>(
    path: impl AsRef<Path>,
    params: &mut Params<T>,
) -> Result<BTreeMap<String, String>> {
    let path = path.as_ref();
    let file = load::<T>(path)?;
    assign(params, file, &path.display().to_string())
}

/// [`load_params`] from bytes already in memory.
pub fn assign<T: Float>(
    params: &mut Params<T>,
    file: NamedTensors<T>,
    origin: &str,
) -> Result<BTreeMap<String, String>> {
    let mut updates = Vec::with_capacity(params.len());
    for (id, name, current) in params.iter() {
        let Some(stored) = file.get(name) else {
            return Err(Error::MissingTensor {
                name: name.to_string(),
                path: origin.to_string(),
                available: file.names(),
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
    let extra: Vec<String> =
        file.tensors.iter().filter(|(n, _)| params.id(n).is_err()).map(|(n, _)| n.clone()).collect();
    if !extra.is_empty() {
        return Err(Error::UnexpectedTensors { path: origin.to_string(), names: extra });
    }
    for (id, t) in updates {
        params.set(id, t)?;
    }
    Ok(file.metadata)
}

fn io_error(action: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::Io { action, path: path.display().to_string(), message: e.to_string() }
}

/// Writes `bytes` to a temporary sibling of `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| io_error("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Params<f64> {
        let mut p = Params::new();
        p.insert("fc1.weight", Tensor::from_vec(vec![1.0, -2.0, 3.5, 0.25, 1e-300, -0.0], [3, 2]).unwrap())
            .unwrap();
        p.insert("fc1.bias", Tensor::from_vec(vec![0.5, f64::MAX], [1, 2]).unwrap()).unwrap();
        p.insert("scale", Tensor::scalar(7.0)).unwrap();
        p
    }

    fn meta() -> BTreeMap<String, String> {
        BTreeMap::from([("step".to_string(), "12".to_string()), ("model".to_string(), "mlp".to_string())])
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let p = store();
        let a = to_bytes(p.iter().map(|(_, n, t)| (n, t)), &meta()).unwrap();
        let b = to_bytes(p.iter().map(|(_, n, t)| (n, t)), &meta()).unwrap();
        assert_eq!(a, b);
        let back: NamedTensors<f64> = from_bytes(&a, "<bytes>").unwrap();
        assert_eq!(back.metadata, meta());
        let mut q = store();
        for id in q.ids().collect::<Vec<_>>() {
            let z = Tensor::zeros(q.get(id).shape().clone());
            q.set(id, z).unwrap();
        }
        assign(&mut q, back, "<bytes>").unwrap();
        for ((_, _, x), (_, _, y)) in p.iter().zip(q.iter()) {
            let bits = |t: &Tensor<f64>| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(x), bits(y));
        }
    }

    #[test]
    fn mismatches_are_typed_errors_and_leave_the_store_alone() {
        let bytes = to_bytes(store().iter().map(|(_, n, t)| (n, t)), &BTreeMap::new()).unwrap();
        // Wrong dtype.
        assert!(matches!(from_bytes::<f32>(&bytes, "x"), Err(Error::Dtype { expected: "f32", .. })));
        // Wrong shape.
        let mut q = Params::new();
        q.insert("fc1.weight", Tensor::<f64>::zeros([2, 3])).unwrap();
        q.insert("fc1.bias", Tensor::zeros([1, 2])).unwrap();
        q.insert("scale", Tensor::scalar(0.0)).unwrap();
        let err = assign(&mut q, from_bytes(&bytes, "x").unwrap(), "x").unwrap_err();
        assert!(matches!(err, Error::TensorShape { .. }), "{err}");
        assert!(q.iter().all(|(_, _, t)| t.data().iter().all(|&v| v == 0.0)), "nothing half-loaded");
        // Missing and extra names.
        let mut r = Params::new();
        r.insert("fc2.weight", Tensor::<f64>::zeros([3, 2])).unwrap();
        assert!(matches!(
            assign(&mut r, from_bytes(&bytes, "x").unwrap(), "x"),
            Err(Error::MissingTensor { .. })
        ));
        let mut s = Params::new();
        s.insert("scale", Tensor::<f64>::scalar(0.0)).unwrap();
        let err = assign(&mut s, from_bytes(&bytes, "x").unwrap(), "x").unwrap_err();
        assert!(matches!(&err, Error::UnexpectedTensors { names, .. } if names.len() == 2), "{err}");
        // Garbage.
        assert!(matches!(from_bytes::<f64>(b"not a file", "x"), Err(Error::Safetensors { .. })));
    }

    #[test]
    fn files_are_written_atomically_and_read_back() {
        let dir = std::env::temp_dir().join(format!("downhill-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        save_params(&path, &store(), &meta()).unwrap();
        let mut q = store();
        q.get_mut(q.id("scale").unwrap()).data_mut()[0] = 0.0;
        assert_eq!(load_params(&path, &mut q).unwrap(), meta());
        assert_eq!(q.get(q.id("scale").unwrap()).data(), &[7.0]);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        assert!(matches!(
            load::<f64>(dir.join("missing.safetensors")),
            Err(Error::Io { action: "read", .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn duplicate_names_are_refused() {
        let t = Tensor::<f32>::zeros([1]);
        assert!(matches!(
            to_bytes([("a", &t), ("a", &t)], &BTreeMap::new()),
            Err(Error::DuplicateParam { .. })
        ));
    }
}

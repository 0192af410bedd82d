//! Weight files: byte-for-byte agreement with Python's `safetensors` package (fixtures written by
//! `tests/fixtures/make_python_weights.py`), exact round trips, and typed errors on every kind of
//! mismatch, with the store left unchanged.

use std::path::{Path, PathBuf};

use downhill_nn::{Activation, Init, LinearRegression, Mlp, Module, weights};
use downhill_tensor::{Error, Params, Tensor, seeded_rng};
use insta::assert_snapshot;

const F64_FIXTURE: &str = "tests/fixtures/python_mlp_f64.safetensors";
const F32_FIXTURE: &str = "tests/fixtures/python_mlp_f32.safetensors";

/// The values `make_python_weights.py` writes, in the store's order.
const FIXTURE: [(&str, &[usize], &[f64]); 4] = [
    ("mlp.0.weight", &[3, 2], &[0.5, -1.25, 2.0, 0.0, -0.375, 3.5]),
    ("mlp.0.bias", &[1, 2], &[0.125, -0.75]),
    ("mlp.1.weight", &[2, 1], &[1.5, -2.25]),
    ("mlp.1.bias", &[1, 1], &[0.1]),
];

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("downhill-nn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn mlp<T: downhill_tensor::Float>(params: &mut Params<T>, sizes: &[usize], seed: u64) -> Mlp {
    Mlp::new(params, "mlp", sizes, Activation::Relu, Init::HeNormal, &mut seeded_rng(seed)).unwrap()
}

fn bits(params: &Params<f64>) -> Vec<(String, Vec<usize>, Vec<u64>)> {
    params
        .iter()
        .map(|(_, n, t)| (n.to_string(), t.dims().to_vec(), t.data().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

#[test]
fn loads_a_file_written_by_python_safetensors() {
    let mut params = Params::<f64>::new();
    let net = mlp(&mut params, &[3, 2, 1], 0);
    let meta = weights::load(F64_FIXTURE, &mut params).unwrap();
    assert!(meta.is_empty());
    for (id, (name, dims, values)) in net.params().into_iter().zip(FIXTURE) {
        assert_eq!(params.name(id), name);
        assert_eq!(params.get(id).dims(), dims);
        assert_eq!(params.get(id).data(), values, "{name}");
    }
    // And the loaded network computes with them: x = [1, 1, 1] → h = relu([2.25, 1.5]) → y.
    let y = net.predict(&params, &Tensor::ones([1, 3])).unwrap();
    assert_eq!(y.data(), &[2.25 * 1.5 + 1.5 * -2.25 + 0.1]);

    let mut p32 = Params::<f32>::new();
    let net32 = mlp(&mut p32, &[3, 2, 1], 0);
    weights::load(F32_FIXTURE, &mut p32).unwrap();
    for (id, (_, _, values)) in net32.params().into_iter().zip(FIXTURE) {
        let want: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        assert_eq!(p32.get(id).data(), want.as_slice());
    }
}

#[test]
fn writes_the_same_bytes_as_python_safetensors() {
    let mut p64 = Params::<f64>::new();
    let mut p32 = Params::<f32>::new();
    for (name, dims, values) in FIXTURE {
        p64.insert(name, Tensor::from_vec(values.to_vec(), dims).unwrap()).unwrap();
        p32.insert(name, Tensor::from_vec(values.iter().map(|&v| v as f32).collect(), dims).unwrap())
            .unwrap();
    }
    for (path, fixture) in
        [(tmp("ours64.safetensors"), F64_FIXTURE), (tmp("ours32.safetensors"), F32_FIXTURE)]
    {
        if fixture == F64_FIXTURE {
            weights::save(&path, &p64).unwrap();
        } else {
            weights::save(&path, &p32).unwrap();
        }
        let ours = std::fs::read(&path).unwrap();
        let theirs = std::fs::read(fixture).unwrap();
        assert_eq!(ours, theirs, "{fixture}: downhill's bytes differ from Python's");
    }
}

#[test]
fn round_trip_is_bit_exact_and_keeps_metadata() {
    let mut trained = Params::<f64>::new();
    let net = mlp(&mut trained, &[4, 7, 3], 1);
    let path = tmp("roundtrip.safetensors");
    let meta = [("epoch".to_string(), "12".to_string())].into_iter().collect();
    weights::save_with_metadata(&path, &trained, &meta).unwrap();
    let mut fresh = Params::<f64>::new();
    let other = mlp(&mut fresh, &[4, 7, 3], 2);
    assert_ne!(bits(&fresh), bits(&trained));
    assert_eq!(weights::load(&path, &mut fresh).unwrap(), meta);
    assert_eq!(bits(&fresh), bits(&trained));
    let x = Tensor::<f64>::rand_normal([5, 4], 0.0, 1.0, &mut seeded_rng(3)).unwrap();
    assert_eq!(other.predict(&fresh, &x).unwrap(), net.predict(&trained, &x).unwrap());
}

#[test]
fn a_module_saves_and_loads_on_its_own() {
    let mut params = Params::<f64>::new();
    let body = mlp(&mut params, &[2, 3, 2], 5);
    let head =
        LinearRegression::with_init(&mut params, "head", 2, Init::HeNormal, &mut seeded_rng(6)).unwrap();
    let path = tmp("head.safetensors");
    weights::save_module(&path, &params, &head).unwrap();
    let names: Vec<String> =
        downhill_tensor::io::load::<f64>(&path).unwrap().tensors.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["head.bias", "head.weight"]);
    let before = bits(&params);
    let mut other = Params::<f64>::new();
    let body2 = mlp(&mut other, &[2, 3, 2], 7);
    let head2 = LinearRegression::new(&mut other, "head", 2).unwrap();
    weights::load_module(&path, &mut other, &head2).unwrap();
    for (a, b) in head.params().into_iter().zip(head2.params()) {
        assert_eq!(params.get(a), other.get(b));
    }
    assert_ne!(other.get(body2.params()[0]), params.get(body.params()[0]), "the body is untouched");
    // A module's file does not fit another module: the body's names are missing from it.
    let e = weights::load_module(&path, &mut other, &body2).unwrap_err();
    assert!(matches!(&e, Error::MissingTensor { name, .. } if name == "mlp.0.weight"), "{e}");
    // A whole-store file has tensors the head does not own.
    let all = tmp("all.safetensors");
    weights::save(&all, &params).unwrap();
    let e = weights::load_module(&all, &mut other, &head2).unwrap_err();
    assert!(matches!(&e, Error::UnexpectedTensors { names, .. } if names.len() == 4), "{e}");
    assert_eq!(bits(&params), before);
}

/// Loads `file` into `params`, asserts the store is unchanged, and returns the error text with
/// the path as given.
fn refused(file: &str, params: &mut Params<f64>) -> (Error, String) {
    let before = bits(params);
    let e = weights::load(file, params).unwrap_err();
    assert_eq!(bits(params), before, "a refused load changes nothing");
    let text = e.to_string();
    (e, text)
}

#[test]
fn every_mismatch_is_a_typed_error_that_changes_nothing() {
    // Wrong element type.
    let mut params = Params::<f64>::new();
    mlp(&mut params, &[3, 2, 1], 0);
    let (e, text) = refused(F32_FIXTURE, &mut params);
    assert!(matches!(e, Error::Dtype { expected: "f64", .. }));
    assert_snapshot!("load_wrong_dtype", text);
    // Wrong layer sizes.
    let mut params = Params::<f64>::new();
    mlp(&mut params, &[3, 4, 1], 0);
    let (e, text) = refused(F64_FIXTURE, &mut params);
    assert!(matches!(e, Error::TensorShape { .. }));
    assert_snapshot!("load_wrong_shape", text);
    // A model with a layer the file lacks.
    let mut params = Params::<f64>::new();
    mlp(&mut params, &[3, 2, 2, 1], 0);
    let (e, _) = refused(F64_FIXTURE, &mut params);
    assert!(matches!(&e, Error::TensorShape { name, .. } if &**name == "mlp.1.weight"), "{e}");
    let mut params = Params::<f64>::new();
    mlp(&mut params, &[3, 2, 1], 0);
    params.insert("extra.weight", Tensor::zeros([1, 1])).unwrap();
    let (e, text) = refused(F64_FIXTURE, &mut params);
    assert!(matches!(e, Error::MissingTensor { .. }));
    assert_snapshot!("load_missing_name", text);
    // A file with tensors the model does not have.
    let mut params = Params::<f64>::new();
    Mlp::new(&mut params, "mlp", &[3, 2], Activation::Relu, Init::Zeros, &mut seeded_rng(0)).unwrap();
    let (e, text) = refused(F64_FIXTURE, &mut params);
    assert!(matches!(&e, Error::UnexpectedTensors { names, .. } if names == &["mlp.1.bias", "mlp.1.weight"]));
    assert_snapshot!("load_extra_names", text);
    // Not a safetensors file at all; a file that does not exist.
    let junk = tmp("junk.safetensors");
    std::fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ").unwrap();
    assert!(matches!(weights::load(&junk, &mut params), Err(Error::Safetensors { .. })));
    assert!(matches!(
        weights::load(Path::new("no/such/file.safetensors"), &mut params),
        Err(Error::Io { .. })
    ));
}

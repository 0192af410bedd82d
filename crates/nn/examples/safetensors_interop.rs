//! The Rust half of `scripts/check_safetensors_interop.py` (run that script, not this directly).
//!
//! - `write DIR`: builds a seeded 3 → 16 → 2 tanh MLP, saves its weights to `DIR/mlp.safetensors`
//!   and an input batch with downhill's output to `DIR/io.safetensors`.
//! - `check DIR`: loads `DIR/from_torch.safetensors` (weights written by PyTorch, in downhill's
//!   layout) into the same architecture, runs `x` from `DIR/torch_io.safetensors` and compares the
//!   output with PyTorch's `y` there (max abs difference ≤ 1e-12, f64).

use std::collections::BTreeMap;
use std::path::PathBuf;

use downhill_nn::{Activation, Init, Mlp, Module, weights};
use downhill_tensor::{Error, Params, Result, Tensor, io, seeded_rng};

fn model(params: &mut Params<f64>) -> Result<Mlp> {
    Mlp::new(params, "mlp", &[3, 16, 2], Activation::Tanh, Init::XavierNormal, &mut seeded_rng(2024))
}

fn tensor(file: &io::NamedTensors<f64>, name: &str) -> Result<Tensor<f64>> {
    file.get(name).cloned().ok_or_else(|| Error::MissingTensor {
        name: name.to_string(),
        path: "io file".to_string(),
        available: format!("{:?}", file.tensors.iter().map(|(n, _)| n).collect::<Vec<_>>()),
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, dir) = match args.as_slice() {
        [m, d] if m == "write" || m == "check" => (m.as_str(), PathBuf::from(d)),
        _ => {
            eprintln!("usage: safetensors_interop (write|check) DIR");
            std::process::exit(2);
        }
    };
    let mut params = Params::new();
    let net = model(&mut params)?;
    if mode == "write" {
        let x = Tensor::rand_normal([5, 3], 0.0, 1.0, &mut seeded_rng(7))?;
        let y = net.predict(&params, &x)?;
        weights::save(dir.join("mlp.safetensors"), &params)?;
        io::save(dir.join("io.safetensors"), [("x", &x), ("y", &y)], &BTreeMap::new())?;
        println!("wrote {}/mlp.safetensors and io.safetensors", dir.display());
        return Ok(());
    }
    weights::load(dir.join("from_torch.safetensors"), &mut params)?;
    let file = io::load::<f64>(dir.join("torch_io.safetensors"))?;
    let (x, want) = (tensor(&file, "x")?, tensor(&file, "y")?);
    let got = net.predict(&params, &x)?;
    let diff = got.data().iter().zip(want.data()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("downhill on PyTorch's weights: max |downhill - torch| = {diff:.3e}");
    if got.dims() != want.dims() || diff > 1e-12 {
        eprintln!("MISMATCH");
        std::process::exit(1);
    }
    Ok(())
}

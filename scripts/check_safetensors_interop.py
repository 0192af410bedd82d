#!/usr/bin/env python3
"""Checks by hand that downhill's weight files and PyTorch's are interchangeable (CI has no torch).

Needs a Python with torch and safetensors, e.g. the peers venv:

    ~/.venv-peers/bin/python scripts/check_safetensors_interop.py

1. downhill writes a seeded 3 -> 16 -> 2 tanh MLP (`cargo run -p downhill-nn --example
   safetensors_interop -- write DIR`); PyTorch loads it with `safetensors.torch.load_file`, builds
   the same `nn.Sequential`, and must reproduce downhill's output to 1e-12 (f64).
   Layouts: downhill's weight is [in, out] and its bias [1, out]; torch.nn.Linear's are [out, in]
   and [out], so weights are transposed and biases flattened on the way.
2. PyTorch changes the weights (one SGD step on a random target), writes them back in downhill's
   layout with `safetensors.torch.save_file`, plus an input and its own output; downhill loads
   them (names, shapes and dtypes verified) and must reproduce PyTorch's output to 1e-12.

Exit status 0 on success. The Rust test suite covers the byte format without torch, against
fixtures written by Python's safetensors (crates/nn/tests/weights.rs).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-12


def run(mode, d):
    subprocess.run(
        ["cargo", "run", "-q", "-p", "downhill-nn", "--example", "safetensors_interop", "--", mode, str(d)],
        cwd=ROOT,
        check=True,
    )


def torch_model(weights):
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()
    with torch.no_grad():
        for i, layer in [(0, net[0]), (1, net[2])]:
            w, b = weights[f"mlp.{i}.weight"], weights[f"mlp.{i}.bias"]
            assert w.dtype == torch.float64 and b.dtype == torch.float64
            assert w.shape == (layer.in_features, layer.out_features), w.shape
            assert b.shape == (1, layer.out_features), b.shape
            layer.weight.copy_(w.T)
            layer.bias.copy_(b.reshape(-1))
    return net


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        run("write", d)
        weights = load_file(d / "mlp.safetensors")
        assert sorted(weights) == ["mlp.0.bias", "mlp.0.weight", "mlp.1.bias", "mlp.1.weight"], sorted(weights)
        io = load_file(d / "io.safetensors")
        net = torch_model(weights)
        with torch.no_grad():
            y = net(io["x"])
        diff = (y - io["y"]).abs().max().item()
        print(f"torch on downhill's weights: max |torch - downhill| = {diff:.3e}")
        assert diff <= TOL, diff

        # PyTorch trains one step and hands the weights back in downhill's layout.
        torch.manual_seed(0)
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        loss = ((net(io["x"]) - torch.randn(5, 2, dtype=torch.float64)) ** 2).mean()
        loss.backward()
        opt.step()
        back = {
            "mlp.0.weight": net[0].weight.detach().T.contiguous(),
            "mlp.0.bias": net[0].bias.detach().reshape(1, -1).contiguous(),
            "mlp.1.weight": net[2].weight.detach().T.contiguous(),
            "mlp.1.bias": net[2].bias.detach().reshape(1, -1).contiguous(),
        }
        save_file(back, d / "from_torch.safetensors")
        x = torch.randn(7, 3, dtype=torch.float64)
        with torch.no_grad():
            save_file({"x": x, "y": net(x)}, d / "torch_io.safetensors")
        run("check", d)
    print("OK: downhill and PyTorch read each other's safetensors weights")


if __name__ == "__main__":
    sys.exit(main())

//! Large parameters (at least `downhill_tensor::LARGE` elements) are updated in fixed chunks on
//! the pool's threads, with vectorized code, and without copying the gradients when nothing
//! (clipping, L2 decay) changes them. None of that may change a single bit:
//!
//! - every optimizer gives the same parameters with 1 and 2 threads, and the same as when the
//!   tensor is cut into pieces below `LARGE` (which take the plain sequential path);
//! - Adam equals a scalar loop of PyTorch's arrangement written out here;
//! - Adam reading the gradients in place (no clipping; the norm is summed in the update's pass)
//!   equals Adam working on the copy it makes for clipping (with a threshold that never clips,
//!   the norm summed by `clip::global_norm`), parameters and reported norm alike, and the norm is
//!   the gradients' norm.
//!
//! One test function, because the thread count is global to the process.

use downhill_optim::*;
use downhill_tensor::{LARGE, Params, Tape, Tensor, set_threads};

/// Elements of the large parameter: more than two `LARGE`s, not a multiple of a chunk, of the
/// engine's 128-element pieces or of the norm's 8 lanes; the last chunk ends in a short piece
/// of 101 elements (twelve whole rows of the lanes and 5 more).
const N: usize = 2 * LARGE + 3 * 8192 + 128 + 101;
const STEPS: usize = 3;

fn value(seed: u64, i: usize) -> f32 {
    let mut z = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
}

/// The gradient of step `k` at element `i` (loss `Σ w ⊙ c_k`, so `∂/∂w = c_k` exactly). Its
/// scale runs over 2⁻⁸..2⁸ so that the norm's sum rounds differently in any other order: a norm
/// summed in the wrong lanes shows in its bits.
fn grad(k: usize, i: usize) -> f32 {
    value(100 + k as u64, i) * 2f32.powi((i % 17) as i32 - 8)
}

/// Runs `STEPS` steps on one parameter of `N` elements (`pieces = false`) or on the same elements
/// cut into parameters shorter than `LARGE`; returns the final values' bits and each step's norm.
fn run(opt: &mut dyn Optimizer<f32>, pieces: bool, threads: usize) -> (Vec<u32>, Vec<u64>) {
    set_threads(threads);
    let bounds: Vec<usize> = if pieces { vec![0, LARGE - 1, 2 * LARGE - 2, N] } else { vec![0, N] };
    let mut params = Params::new();
    let ids: Vec<_> = bounds
        .windows(2)
        .enumerate()
        .map(|(j, r)| {
            let v: Vec<f32> = (r[0]..r[1]).map(|i| value(1, i)).collect();
            params.insert(format!("w{j}"), Tensor::from_vec(v, [r[1] - r[0]]).unwrap()).unwrap()
        })
        .collect();
    let mut norms = Vec::new();
    for k in 0..STEPS {
        let tape = Tape::new();
        let mut loss = None;
        for (r, &id) in bounds.windows(2).zip(&ids) {
            let c: Vec<f32> = (r[0]..r[1]).map(|i| grad(k, i)).collect();
            let c = tape.constant(&Tensor::from_vec(c, [r[1] - r[0]]).unwrap());
            let term = (tape.param(&params, id) * c).sum();
            loss = Some(match loss {
                None => term,
                Some(l) => l + term,
            });
        }
        let grads = loss.unwrap().backward().unwrap();
        drop(tape);
        opt.step(&mut params, &grads).unwrap();
        norms.push(opt.last_grad_norm().unwrap().to_bits());
    }
    let bits = ids.iter().flat_map(|&id| params.get(id).data().iter().map(|v| v.to_bits())).collect();
    (bits, norms)
}

/// Adam as PyTorch arranges it, one element at a time, in f32 with the corrections in f64.
fn adam_reference(lr: f64, b1: f64, b2: f64, eps: f64) -> Vec<u32> {
    (0..N)
        .map(|i| {
            let (mut p, mut m, mut v) = (value(1, i), 0.0f32, 0.0f32);
            for k in 0..STEPS {
                let t = (k + 1) as f64;
                let g = grad(k, i);
                let step_size = (lr / (1.0 - b1.powf(t))) as f32;
                let bc2_sqrt = (1.0 - b2.powf(t)).sqrt() as f32;
                m = b1 as f32 * m + (1.0 - b1) as f32 * g;
                v = b2 as f32 * v + (1.0 - b2) as f32 * g * g;
                p -= step_size * m / (v.sqrt() / bc2_sqrt + eps as f32);
            }
            p.to_bits()
        })
        .collect()
}

#[test]
fn large_updates_do_not_depend_on_threads_chunks_simd_or_the_gradient_copy() {
    type Make = fn() -> Box<dyn Optimizer<f32>>;
    let makers: [(&str, Make); 7] = [
        ("sgd", || Box::new(Sgd::new(SgdConfig::lr(0.1)).unwrap())),
        ("momentum", || Box::new(Momentum::new(MomentumConfig { lr: 0.1, ..Default::default() }).unwrap())),
        ("nesterov", || Box::new(Nesterov::new(NesterovConfig { lr: 0.1, ..Default::default() }).unwrap())),
        ("adagrad", || Box::new(Adagrad::new(AdagradConfig { lr: 0.1, ..Default::default() }).unwrap())),
        ("rmsprop centered + momentum", || {
            Box::new(
                RmsProp::new(RmsPropConfig { lr: 0.01, momentum: 0.9, centered: true, ..Default::default() })
                    .unwrap(),
            )
        }),
        ("adam", || Box::new(Adam::new(AdamConfig::default()).unwrap())),
        ("adamw", || Box::new(AdamW::new(AdamWConfig::default()).unwrap())),
    ];
    for (name, make) in makers {
        let (one, norms_one) = run(&mut *make(), false, 1);
        let (two, norms_two) = run(&mut *make(), false, 2);
        let (split, _) = run(&mut *make(), true, 2);
        let start: Vec<u32> = (0..N).map(|i| value(1, i).to_bits()).collect();
        assert_ne!(one, start, "{name}: the parameters did not move");
        assert!(one == two, "{name}: 1 and 2 threads differ");
        assert!(one == split, "{name}: one large tensor differs from the same elements in pieces");
        assert_eq!(norms_one, norms_two, "{name}: reported gradient norms differ between thread counts");
    }

    let c = AdamConfig::default();
    let (adam, norms) = run(&mut Adam::new(c).unwrap(), false, 2);
    let reference = adam_reference(c.lr, c.beta1, c.beta2, c.eps);
    let wrong = adam.iter().zip(&reference).filter(|(a, r)| a != r).count();
    assert_eq!(wrong, 0, "adam: {wrong} of {N} elements differ from the scalar reference");

    // The reported norms are the gradients' norms (to f64 rounding).
    for (k, &bits) in norms.iter().enumerate() {
        let want = (0..N).map(|i| f64::from(grad(k, i)).powi(2)).sum::<f64>().sqrt();
        let got = f64::from_bits(bits);
        assert!((got - want).abs() <= 1e-12 * want, "step {k}: norm {got}, want {want}");
    }

    // Clip::GlobalNorm with a threshold far above the norm: the copy path, nothing clipped.
    let mut copying = Adam::new(c).unwrap().with_clip(Clip::GlobalNorm(1e30)).unwrap();
    let (copied, copied_norms) = run(&mut copying, false, 2);
    assert!(copied == adam, "adam: the in-place gradients and the copied ones give different parameters");
    assert_eq!(copied_norms, norms, "adam: the reported norm depends on whether the gradients were copied");
    set_threads(1);
}

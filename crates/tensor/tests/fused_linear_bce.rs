//! `Var::linear_bce_with_logits_mean` (logistic regression's loss as one node) against the
//! composite it replaces, on inputs large enough to take the chunked, threaded path; its results
//! at different thread counts; its shape errors; and `bce_with_logits_mean` in f32 against f64.

use downhill_tensor::{Float, Params, Tape, Tensor, set_threads};
use insta::assert_snapshot;

/// A deterministic pseudo-random value in [-1, 1) from an index (splitmix64).
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 29;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// `x [n, k]`, `w [k, 1]`, `b [1, 1]`, 0/1 targets `y [n, 1]` with some signal in them.
fn problem<T: Float>(n: usize, k: usize, seed: u64) -> Params<T> {
    let t = |v: Vec<f64>, d: &[usize]| Tensor::from_vec(v.into_iter().map(T::of).collect(), d).unwrap();
    let x: Vec<f64> = (0..n * k).map(|i| 2.0 * noise(seed * 1_000_003 + i as u64)).collect();
    let w: Vec<f64> = (0..k).map(|j| 0.7 * noise(seed + 17 * j as u64)).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let s: f64 = (0..k).map(|j| x[i * k + j] * (j as f64 - 3.0)).sum();
            f64::from(s + noise(seed ^ (i as u64 * 31)) > 0.0)
        })
        .collect();
    let mut p = Params::new();
    p.insert("x", t(x, &[n, k])).unwrap();
    p.insert("w", t(w, &[k, 1])).unwrap();
    p.insert("b", t(vec![0.25], &[1, 1])).unwrap();
    p.insert("y", t(y, &[n, 1])).unwrap();
    p
}

/// (loss, dL/dw, dL/db, dL/dx, dL/dy) through the fused node or the composite, widened to f64.
/// `x` and `y` get gradients only if `all`.
fn run<T: Float>(p: &Params<T>, fused: bool, all: bool) -> (f64, Vec<f64>, f64, Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let get = |name: &str, grad: bool| {
        let id = p.id(name).unwrap();
        if grad { tape.param(p, id) } else { tape.constant(p.get(id)) }
    };
    let (x, w, b, y) = (get("x", all), get("w", true), get("b", true), get("y", all));
    let loss = if fused {
        x.linear_bce_with_logits_mean(w, b, y)
    } else {
        x.matmul(w).broadcast_add(b).bce_with_logits_mean(y)
    };
    let g = loss.backward().unwrap();
    let wide = |name: &str| -> Vec<f64> {
        g.get(p.id(name).unwrap()).map_or(Vec::new(), |t| t.data().iter().map(|v| v.f64()).collect())
    };
    (loss.item().unwrap().f64(), wide("w"), wide("b")[0], wide("x"), wide("y"))
}

fn assert_close(what: &str, a: &[f64], b: &[f64], rel: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= rel * scale, "{what}[{i}]: fused {x} vs composite {y} (scale {scale})");
    }
}

#[test]
fn matches_the_composite_on_a_large_input_f64() {
    // 60,000 × 12 (the chunked path, several chunks of rows, a ragged last chunk of 8 rows).
    let p = problem::<f64>(60_003, 12, 1);
    let (lf, wf, bf, _, _) = run(&p, true, false);
    let (lc, wc, bc, _, _) = run(&p, false, false);
    assert!((lf - lc).abs() <= 1e-13 * lc.abs(), "loss {lf} vs {lc}");
    assert!(lf.is_finite() && lf > 0.0, "{lf}");
    assert_close("dL/dw", &wf, &wc, 1e-12);
    assert_close("dL/db", &[bf], &[bc], 1e-12);
}

#[test]
fn matches_the_composite_on_a_large_input_f32() {
    let p = problem::<f32>(40_000, 12, 2);
    let (lf, wf, bf, _, _) = run(&p, true, false);
    let (lc, wc, bc, _, _) = run(&p, false, false);
    assert!((lf - lc).abs() <= 1e-6 * lc.abs(), "loss {lf} vs {lc}");
    assert_close("dL/dw", &wf, &wc, 2e-5);
    assert_close("dL/db", &[bf], &[bc], 2e-5);
}

#[test]
fn more_than_sixteen_features_and_gradients_of_x_and_y() {
    for k in [3, 20] {
        let p = problem::<f64>(50_000 / k + 9, k, 3);
        let (lf, wf, bf, xf, yf) = run(&p, true, true);
        let (lc, wc, bc, xc, yc) = run(&p, false, true);
        assert!((lf - lc).abs() <= 1e-13 * lc.abs(), "k {k}: loss {lf} vs {lc}");
        assert_close("dL/dw", &wf, &wc, 1e-12);
        assert_close("dL/db", &[bf], &[bc], 1e-12);
        assert_close("dL/dx", &xf, &xc, 1e-12);
        assert_close("dL/dy", &yf, &yc, 1e-12);
    }
}

#[test]
fn constants_only_give_the_same_loss() {
    let p = problem::<f64>(5_000, 12, 4);
    let tape = Tape::new();
    let c = |n: &str| tape.constant(p.get(p.id(n).unwrap()));
    let loss = c("x").linear_bce_with_logits_mean(c("w"), c("b"), c("y")).item().unwrap();
    assert_eq!(loss, run(&p, true, false).0);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for k in [12, 20] {
        let p = problem::<f64>(70_001, k, 5);
        let q = problem::<f32>(70_001, k, 5);
        set_threads(1);
        let (a64, a32) = (run(&p, true, false), run(&q, true, false));
        set_threads(2);
        let (b64, b32) = (run(&p, true, false), run(&q, true, false));
        set_threads(3);
        let (c64, c32) = (run(&p, true, false), run(&q, true, false));
        let bits = |r: &(f64, Vec<f64>, f64, Vec<f64>, Vec<f64>)| {
            let mut v = vec![r.0.to_bits(), r.2.to_bits()];
            v.extend(r.1.iter().map(|x| x.to_bits()));
            v
        };
        assert_eq!(bits(&a64), bits(&b64), "k {k} f64: 1 vs 2 threads");
        assert_eq!(bits(&a64), bits(&c64), "k {k} f64: 1 vs 3 threads");
        assert_eq!(bits(&a32), bits(&b32), "k {k} f32: 1 vs 2 threads");
        assert_eq!(bits(&a32), bits(&c32), "k {k} f32: 1 vs 3 threads");
    }
}

#[test]
fn shape_errors_name_the_problem() {
    let z = |d: &[usize]| Tensor::<f64>::zeros(d);
    let tape = Tape::new();
    let c = |d: &[usize]| tape.constant(&z(d));
    let msg = |r: downhill_tensor::Result<_>| match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    let (x, w, b, y) = (c(&[100, 3]), c(&[3, 1]), c(&[1, 1]), c(&[100, 1]));
    assert!(x.try_linear_bce_with_logits_mean(w, b, y).is_ok());
    assert!(x.try_linear_bce_with_logits_mean(w, c(&[]), y).is_ok());
    assert!(x.try_linear_bce_with_logits_mean(w, c(&[1]), y).is_ok());
    assert_snapshot!("linear_bce_x_vector", msg(c(&[300]).try_linear_bce_with_logits_mean(w, b, y)));
    assert_snapshot!("linear_bce_w_row", msg(x.try_linear_bce_with_logits_mean(c(&[1, 3]), b, y)));
    assert_snapshot!("linear_bce_bias_per_feature", msg(x.try_linear_bce_with_logits_mean(w, c(&[1, 3]), y)));
    assert_snapshot!("linear_bce_target_vector", msg(x.try_linear_bce_with_logits_mean(w, b, c(&[100]))));
    assert_snapshot!("linear_bce_no_rows", msg(c(&[0, 3]).try_linear_bce_with_logits_mean(w, b, c(&[0, 1]))));
}

/// `bce_with_logits_mean` alone (the node `bce_with_logits_loss` takes on large inputs): in f32
/// it computes each term and residual in f32; loss and gradient must stay within a few f32 ulp
/// of the f64 node on the same (f32-representable) inputs, and keep their bits at any thread
/// count. Logits span ±30 (past where `e^−|z|` underflows a term's scale), targets 0, 1 and 0.3.
#[test]
fn bce_node_in_f32_is_within_a_few_ulp_of_f64_at_any_thread_count() {
    let n = 50_003;
    let z: Vec<f32> = (0..n).map(|i| (30.0 * noise(7_000 + i as u64)) as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| [0.0, 1.0, 0.3][i % 3]).collect();
    fn node<T: Float>(z: &[f32], y: &[f32]) -> (f64, Vec<f64>) {
        let t = |v: &[f32]| {
            Tensor::from_vec(v.iter().map(|&x| T::of(f64::from(x))).collect(), [v.len(), 1]).unwrap()
        };
        let mut p = Params::new();
        let zid = p.insert("z", t(z)).unwrap();
        let tape = Tape::new();
        let loss = tape.param(&p, zid).bce_with_logits_mean(tape.constant(&t(y)));
        let g = loss.backward().unwrap();
        (loss.item().unwrap().f64(), g.get(zid).unwrap().data().iter().map(|v| v.f64()).collect())
    }
    let (l64, g64) = node::<f64>(&z, &y);
    set_threads(1);
    let (l32, g32) = node::<f32>(&z, &y);
    let eps = f64::from(f32::EPSILON);
    assert!((l32 - l64).abs() <= 4.0 * eps * l64, "loss: f32 {l32} vs f64 {l64}");
    // The gradient is (σ(z) − y)/n: compare the residuals, whose scale is 1.
    let worst = g32.iter().zip(&g64).map(|(a, b)| ((a - b) * n as f64).abs()).fold(0.0, f64::max);
    assert!(worst <= 3.0 * eps, "worst residual error {worst:e} (f32 eps {eps:e})");
    for threads in [2, 3] {
        set_threads(threads);
        let (l, g) = node::<f32>(&z, &y);
        assert_eq!(l.to_bits(), l32.to_bits(), "loss at {threads} threads");
        assert!(g.iter().zip(&g32).all(|(a, b)| a.to_bits() == b.to_bits()), "gradient at {threads} threads");
    }
}

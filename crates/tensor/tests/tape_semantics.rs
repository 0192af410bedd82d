//! The tape's contract: backward only from a scalar, idempotent, iterative, correct for values
//! used several times, reusable after `clear()`, and parameters kept outside the tape.

use downhill_tensor::{Error, Params, Tape, Tensor};

fn store(values: &[(&str, Tensor<f64>)]) -> Params<f64> {
    let mut p = Params::new();
    for (n, t) in values {
        p.insert(*n, t.clone()).unwrap();
    }
    p
}

#[test]
fn backward_only_from_a_scalar() {
    let p = store(&[("w", Tensor::ones([3]))]);
    let tape = Tape::new();
    let w = tape.param(&p, p.id("w").unwrap());
    let err = (w * 2.0).backward().unwrap_err();
    assert!(matches!(err, Error::NonScalarBackward { ref shape, .. } if shape.dims() == [3]), "{err}");
    // A one-element tensor of rank 1 is not a scalar either: reduce explicitly.
    let one = tape.param(&p, p.id("w").unwrap()).narrow(0, 0, 1);
    assert!(matches!(one.backward(), Err(Error::NonScalarBackward { .. })));
    assert!((w * 2.0).sum().backward().is_ok());
}

#[test]
fn backward_twice_gives_identical_grads() {
    let p = store(&[("x", Tensor::from_vec(vec![0.3, -1.2, 2.0], [3]).unwrap())]);
    let tape = Tape::new();
    let x = tape.param(&p, p.id("x").unwrap());
    let loss = (x.tanh() * x.exp()).sum();
    let g1 = loss.backward().unwrap();
    let g2 = loss.backward().unwrap();
    assert_eq!(g1, g2);
    let mut g3 = downhill_tensor::Grads::new();
    loss.backward_into(&mut g3).unwrap();
    loss.backward_into(&mut g3).unwrap();
    assert_eq!(g1, g3, "backward_into resets, it does not add to the previous result");
}

#[test]
fn diamond_graph_accumulates() {
    // f(x) = e^x + x·e^x, with e^x shared by both branches: f'(x) = e^x + e^x + x·e^x.
    let xs = [0.5, -1.0, 2.0];
    let p = store(&[("x", Tensor::from_vec(xs.to_vec(), [3]).unwrap())]);
    let tape = Tape::new();
    let x = tape.param(&p, p.id("x").unwrap());
    let a = x.exp();
    let f = (a + a * x).sum();
    let g = f.backward().unwrap();
    let g = g.get(p.id("x").unwrap()).unwrap();
    for (i, &xi) in xs.iter().enumerate() {
        let want = 2.0 * xi.exp() + xi * xi.exp();
        assert!((g.data()[i] - want).abs() < 1e-12, "{} vs {want}", g.data()[i]);
    }
}

#[test]
fn same_var_on_both_sides() {
    let p = store(&[("x", Tensor::from_vec(vec![3.0], [1]).unwrap())]);
    let tape = Tape::new();
    let x = tape.param(&p, p.id("x").unwrap());
    // d/dx (x·x + x/x) = 2x + 0
    let g = (x * x + x / x).sum().backward().unwrap();
    assert!((g.get(p.id("x").unwrap()).unwrap().data()[0] - 6.0).abs() < 1e-12);
}

#[test]
fn same_param_brought_on_twice_sums_both_uses() {
    let p = store(&[("w", Tensor::from_vec(vec![2.0], [1]).unwrap())]);
    let id = p.id("w").unwrap();
    let tape = Tape::new();
    let (w1, w2) = (tape.param(&p, id), tape.param(&p, id));
    let g = (w1 * w2).sum().backward().unwrap();
    assert_eq!(g.get(id).unwrap().data(), &[4.0]);
}

#[test]
fn hundred_thousand_node_chain_does_not_overflow() {
    let p = store(&[("x", Tensor::from_vec(vec![1.0], [1]).unwrap())]);
    let tape = Tape::new();
    let mut v = tape.param(&p, p.id("x").unwrap());
    for _ in 0..100_000 {
        v = v * 1.00001;
    }
    let g = v.sum().backward().unwrap();
    let want = 1.00001f64.powi(100_000);
    let got = g.get(p.id("x").unwrap()).unwrap().data()[0];
    assert!((got - want).abs() / want < 1e-9, "{got} vs {want}");
    assert_eq!(tape.len(), 100_002);
}

#[test]
fn unused_params_get_zero_grads_and_absent_params_get_none() {
    let p = store(&[("a", Tensor::ones([2])), ("b", Tensor::ones([2, 2])), ("c", Tensor::ones([1]))]);
    let tape = Tape::new();
    let a = tape.param(&p, p.id("a").unwrap());
    let _b = tape.param(&p, p.id("b").unwrap());
    let g = a.sum().backward().unwrap();
    assert_eq!(g.get(p.id("b").unwrap()).unwrap(), &Tensor::zeros([2, 2]));
    assert!(g.get(p.id("c").unwrap()).is_none());
    assert!(matches!(g.try_get(p.id("c").unwrap()), Err(Error::NoGradient { id: 2 })));
    let names: Vec<_> = g.iter().map(|(id, _)| p.name(id).to_string()).collect();
    assert_eq!(names, ["a", "b"], "grads come back in parameter order");
}

#[test]
fn constants_get_no_gradient_and_detach_stops_it() {
    let p = store(&[("w", Tensor::from_vec(vec![1.5], [1]).unwrap())]);
    let id = p.id("w").unwrap();
    let tape = Tape::new();
    let w = tape.param(&p, id);
    let c = tape.constant(&Tensor::from_vec(vec![4.0], [1]).unwrap());
    // d/dw (w·c + detach(w)²) = c, since the detached branch is a constant.
    let g = (w * c + w.detach().square()).sum().backward().unwrap();
    assert_eq!(g.get(id).unwrap().data(), &[4.0]);
    assert_eq!(g.len(), 1);
}

#[test]
fn cleared_tape_is_reused_with_identical_results() {
    let mut p = store(&[("w", Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.4], [2, 2]).unwrap())]);
    let id = p.id("w").unwrap();
    let x = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], [2, 2]).unwrap();
    let mut tape = Tape::new();
    let mut first = None;
    for step in 0..3 {
        tape.clear();
        assert!(tape.is_empty());
        let loss = tape.constant(&x).matmul(tape.param(&p, id)).sigmoid().sum();
        let g = loss.backward().unwrap();
        let len = tape.len();
        if step == 0 {
            first = Some((g.clone(), len));
        } else {
            assert_eq!(Some((g.clone(), len)), first, "same graph, same params, same grads");
        }
        let _ = g;
    }
    // Parameters live outside the tape: updating them changes the next step only.
    tape.clear();
    p.get_mut(id).data_mut()[0] = 5.0;
    let loss = tape.constant(&x).matmul(tape.param(&p, id)).sigmoid().sum();
    assert_ne!(loss.backward().unwrap(), first.unwrap().0);
}

#[test]
fn clear_forgets_errors() {
    let mut tape = Tape::<f64>::new();
    let a = tape.constant(&Tensor::zeros([2]));
    let b = tape.constant(&Tensor::zeros([3]));
    let _ = a + b;
    assert!(tape.error().is_some());
    tape.clear();
    assert!(tape.check().is_ok());
    let a = tape.constant(&Tensor::zeros([2]));
    assert!((a + a).sum().backward().is_ok());
}

#[test]
fn first_error_wins_and_poisons_later_results() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(&Tensor::zeros([2, 3]));
    let b = tape.constant(&Tensor::zeros([3, 2]));
    let bad = a + b; // first error
    let worse = bad.matmul(a).reshape([7]); // consequences: no new error
    let unrelated = (a * 2.0).sum();
    for r in [worse.value().map(|_| ()), unrelated.value().map(|_| ()), unrelated.backward().map(|_| ())] {
        match r {
            Err(Error::ShapeMismatch { op: "add", .. }) => {}
            other => panic!("expected the first error (add), got {other:?}"),
        }
    }
    assert!(!bad.is_valid() && !worse.is_valid() && unrelated.is_valid());
}

#[test]
fn try_forms_return_at_once_without_poisoning() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(&Tensor::zeros([2, 3]));
    let b = tape.constant(&Tensor::zeros([2]));
    assert!(matches!(a.try_sub(b), Err(Error::ShapeMismatch { op: "sub", .. })));
    assert!(matches!(a.try_matmul(a), Err(Error::MatmulShape { .. })));
    assert!(matches!(a.try_reshape([4]), Err(Error::Reshape { .. })));
    assert!(tape.check().is_ok(), "try_* errors are the caller's to handle");
    assert!(a.sum().value().is_ok());
}

#[test]
fn operands_from_two_tapes_are_refused() {
    let t1 = Tape::<f64>::new();
    let t2 = Tape::<f64>::new();
    let a = t1.constant(&Tensor::zeros([2]));
    let b = t2.constant(&Tensor::zeros([2]));
    assert!(matches!(a.try_add(b), Err(Error::TapeMismatch { op: "add", .. })));
}

#[test]
fn scalars_combine_with_anything() {
    let p = store(&[
        ("b", Tensor::scalar(0.5)),
        ("x", Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [2, 2]).unwrap()),
    ]);
    let tape = Tape::new();
    let (b, x) = (tape.param(&p, p.id("b").unwrap()), tape.param(&p, p.id("x").unwrap()));
    let y = (x * b + b) - 1.0;
    assert_eq!(y.value().unwrap().data(), &[0.0, 0.5, 1.0, 1.5]);
    let g = y.sum().backward().unwrap();
    // dy/db summed over elements: Σ(x + 1) = 14.
    assert_eq!(g.get(p.id("b").unwrap()).unwrap().data(), &[14.0]);
    assert_eq!((2.0 - x).value().unwrap().data(), &[1.0, 0.0, -1.0, -2.0]);
    assert_eq!((12.0 / x).value().unwrap().data(), &[12.0, 6.0, 4.0, 3.0]);
}

#[test]
fn f32_works_too() {
    let mut p = Params::<f32>::new();
    let w = p.insert("w", Tensor::from_vec(vec![1.0f32, 2.0], [2, 1]).unwrap()).unwrap();
    let tape = Tape::new();
    let x = tape.constant(&Tensor::from_vec(vec![1.0f32, 1.0, 2.0, 0.0], [2, 2]).unwrap());
    let loss = x.matmul(tape.param(&p, w)).sigmoid().mean();
    let g = loss.backward().unwrap();
    assert_eq!(g.get(w).unwrap().dims(), &[2, 1]);
    assert!(g.get(w).unwrap().all_finite());
}

#[test]
fn grads_can_be_changed_in_place() {
    let p = store(&[("a", Tensor::ones([2])), ("b", Tensor::ones([1]))]);
    let tape = Tape::new();
    let loss = (tape.param(&p, p.id("a").unwrap()) * 3.0).sum() + tape.param(&p, p.id("b").unwrap()).sum();
    let mut g = loss.backward().unwrap();
    for (_, t) in g.iter_mut() {
        t.data_mut().iter_mut().for_each(|v| *v *= 0.5);
    }
    assert_eq!(g.get(p.id("a").unwrap()).unwrap().data(), &[1.5, 1.5]);
    g.get_mut(p.id("b").unwrap()).unwrap().data_mut()[0] = 7.0;
    assert_eq!(g.get(p.id("b").unwrap()).unwrap().data(), &[7.0]);
}

/// `backward_into` reuses buffers across passes: the tape's gradient buffers are overwritten
/// (a GEMM with beta = 0) instead of zero-filled, and `Grads` trades buffers with the tape
/// instead of copying. Nothing of an earlier pass may leak into a later one: not a NaN, not a
/// value, not into a clone the caller kept.
#[test]
fn reused_buffers_carry_nothing_from_one_pass_to_the_next() {
    let w0 = Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]).unwrap();
    let x = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], [2, 2]).unwrap();
    let mut p = store(&[("w", w0.clone())]);
    let id = p.id("w").unwrap();
    let mut tape = Tape::new();
    let mut grads = downhill_tensor::Grads::new();
    // The gradient by hand, in plain f64: L = s·Σ(h·wᵀ) + Σσ(h), h = x·w, so with a = xᵀ·1 and
    // b = 1: ∂L/∂w[i][j] = s·(a[i]·(wᵀb)[j] + b[i]·(wᵀa)[j]) + (xᵀ·σ'(h))[i][j].
    let by_hand = |w: &[f64], s: f64| {
        let xv = x.data();
        let a: Vec<f64> = (0..2).map(|i| xv[i] + xv[2 + i]).collect();
        let wta: Vec<f64> = (0..3).map(|j| a[0] * w[j] + a[1] * w[3 + j]).collect();
        let wtb: Vec<f64> = (0..3).map(|j| w[j] + w[3 + j]).collect();
        let mut g = vec![0.0; 6];
        for r in 0..2 {
            for j in 0..3 {
                let h = xv[2 * r] * w[j] + xv[2 * r + 1] * w[3 + j];
                let sig = 1.0 / (1.0 + (-h).exp());
                for i in 0..2 {
                    g[3 * i + j] += xv[2 * r + i] * sig * (1.0 - sig);
                }
            }
        }
        for i in 0..2 {
            for j in 0..3 {
                g[3 * i + j] += s * (a[i] * wtb[j] + wta[j]);
            }
        }
        g
    };
    let fresh = |p: &Params<f64>, s: f64| {
        let g = by_hand(p.get(id).data(), s);
        let mut want = downhill_tensor::Grads::new();
        let tape = Tape::new();
        (tape.param(p, id) * 0.0).sum().backward_into(&mut want).unwrap();
        want.get_mut(id).unwrap().data_mut().copy_from_slice(&g);
        want
    };
    let mut kept = Vec::new();
    for (step, scale) in [1.0, f64::NAN, 1.0, 2.0, 1.0].into_iter().enumerate() {
        tape.clear();
        let w = tape.param(&p, id);
        let h = tape.constant(&x).matmul(w);
        let loss = h.matmul(w.transpose(0, 1)).sum() * scale + h.sigmoid().sum();
        loss.backward_into(&mut grads).unwrap();
        let want = fresh(&p, scale);
        if scale.is_nan() {
            assert!(grads.get(id).unwrap().data().iter().all(|v| v.is_nan()), "step {step}");
        } else {
            let (got, want) = (grads.get(id).unwrap().data(), want.get(id).unwrap().data());
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "step {step}: {got:?} vs {want:?} (by hand)");
            }
        }
        kept.push((grads.clone(), want));
        tape.clear();
        p.get_mut(id).data_mut()[step] += 0.25;
    }
    for (step, (g, want)) in kept.iter().enumerate() {
        if step != 1 {
            let (g, want) = (g.get(id).unwrap().data(), want.get(id).unwrap().data());
            for (a, b) in g.iter().zip(want) {
                assert!((a - b).abs() < 1e-12, "step {step}: a clone kept by the caller changed later");
            }
        }
    }
}

/// Elementwise backward rules (here relu's, a product's and reshape's) write `0 + v` on a
/// gradient's first contribution instead of zero-filling the buffer and adding: the same bits,
/// so a `−0` contribution is stored as `+0` as before, and a reused buffer's stale values (NaN
/// from the pass before) never show.
#[test]
fn first_gradient_contributions_have_the_bits_of_adding_to_zero() {
    let p = store(&[("x", Tensor::from_vec(vec![-1.0, 2.0, -3.0, 4.0], [4]).unwrap())]);
    let id = p.id("x").unwrap();
    let mut tape = Tape::new();
    let mut grads = downhill_tensor::Grads::new();
    for c in [f64::NAN, -1.0] {
        tape.clear();
        let x = tape.param(&p, id);
        let c = Tensor::full([2, 2], c);
        // ∂/∂relu = c = −1; relu' = 0 at x < 0, so those contributions are −1·0 = −0.
        let loss = (x.relu().reshape([2, 2]) * tape.constant(&c)).sum();
        loss.backward_into(&mut grads).unwrap();
    }
    let got: Vec<u64> = grads.get(id).unwrap().data().iter().map(|v| v.to_bits()).collect();
    let want: Vec<u64> = [0.0f64, -1.0, 0.0, -1.0].iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want, "{:?}", grads.get(id).unwrap().data());
}

/// `broadcast_add`/`sub`/`mul`/`div` of a row (`[1, n]`, `[1, 1, n]`, `[1, 1]`) are one node
/// without the broadcast copy; their values and gradients have the bits of `broadcast_to` then
/// the elementwise op, also when the row's gradient has another contribution before them.
#[test]
fn row_broadcasts_have_the_bits_of_broadcast_to_then_the_op() {
    let val = |i: usize, k: u64| {
        let z = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        // A few exact zeros (both signs) among values of both signs.
        match z % 11 {
            0 => 0.0,
            1 => -0.0,
            _ => ((z >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 3.0,
        }
    };
    let fill = |dims: &[usize], k: u64| {
        let n: usize = dims.iter().product();
        Tensor::from_vec((0..n).map(|i| val(i, k)).collect(), dims).unwrap()
    };
    type Op = for<'t> fn(
        downhill_tensor::Var<'t, f64>,
        downhill_tensor::Var<'t, f64>,
        bool,
    ) -> downhill_tensor::Var<'t, f64>;
    let ops: [(&str, Op); 4] = [
        (
            "add",
            |a, b, fused| if fused { a.broadcast_add(b) } else { a + b.broadcast_to(a.shape().unwrap()) },
        ),
        (
            "sub",
            |a, b, fused| if fused { a.broadcast_sub(b) } else { a - b.broadcast_to(a.shape().unwrap()) },
        ),
        (
            "mul",
            |a, b, fused| if fused { a.broadcast_mul(b) } else { a * b.broadcast_to(a.shape().unwrap()) },
        ),
        (
            "div",
            |a, b, fused| if fused { a.broadcast_div(b) } else { a / b.broadcast_to(a.shape().unwrap()) },
        ),
    ];
    let cases: [(&[usize], &[usize]); 4] =
        [(&[5, 3], &[1, 3]), (&[2, 3, 4], &[1, 1, 4]), (&[6, 1], &[1, 1]), (&[1, 3], &[1, 3])];
    for (name, op) in ops {
        for (da, db) in cases {
            let p = store(&[("a", fill(da, 1)), ("b", fill(db, 2))]);
            let (ia, ib) = (p.id("a").unwrap(), p.id("b").unwrap());
            let (c, d) = (fill(da, 3), fill(db, 4));
            let run = |fused: bool| {
                let tape = Tape::new();
                let (a, b) = (tape.param(&p, ia), tape.param(&p, ib));
                // b's gradient gets a contribution (b·d) before the broadcast op's.
                let y = op(a, b, fused);
                let loss = (y * tape.constant(&c)).sum() + (b * tape.constant(&d)).sum();
                let grads = loss.backward().unwrap();
                let bits = |t: &Tensor<f64>| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                (bits(&y.value().unwrap()), bits(grads.get(ia).unwrap()), bits(grads.get(ib).unwrap()))
            };
            assert_eq!(run(true), run(false), "{name} of {da:?} and {db:?}");
        }
    }
}

/// The fused `softmax_cross_entropy_mean` has the bits of `-(x.log_softmax(1).pick(l).mean())`
/// in `T`: the loss, and the logits' gradient for an upstream gradient other than 1, also when
/// the logits' gradient already has a contribution before the loss's (a use recorded after it).
fn softmax_ce_bits<T: downhill_tensor::Float>() {
    let val = |i: usize, k: u64, scale: f64| {
        let z = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        match z % 13 {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NEG_INFINITY,
            _ => ((z >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * scale,
        }
    };
    let cases: [(usize, usize, f64); 6] =
        [(1, 1, 4.0), (1, 5, 4.0), (3, 2, 4.0), (5, 7, 4.0), (4, 3, 200.0), (128, 10, 6.0)];
    for (seed, (n, k, scale)) in cases.into_iter().enumerate() {
        let data: Vec<T> = (0..n * k).map(|i| T::of(val(i, seed as u64, scale))).collect();
        let labels: Vec<usize> = (0..n).map(|i| (i * 7 + seed) % k).collect();
        let mut p = Params::new();
        let id = p.insert("x", Tensor::from_vec(data, [n, k]).unwrap()).unwrap();
        for later_use in [false, true] {
            let run = |fused: bool| {
                let tape = Tape::new();
                let x = tape.param(&p, id);
                let ce = if fused {
                    x.softmax_cross_entropy_mean(&labels)
                } else {
                    -x.log_softmax(1).pick(&labels).mean()
                };
                let mut loss = ce * T::of(0.37);
                if later_use {
                    loss = loss + (x * x).sum();
                }
                let grads = loss.backward().unwrap();
                let bits = |v: &[T]| v.iter().map(|v| v.f64().to_bits()).collect::<Vec<_>>();
                (bits(ce.value().unwrap().data()), bits(grads.get(id).unwrap().data()))
            };
            assert_eq!(run(true), run(false), "{} [{n}, {k}], later use {later_use}", T::DTYPE);
        }
    }
    // No rows: an error where the composite's mean over nothing is NaN.
    let tape = Tape::<T>::new();
    let x = tape.constant(&Tensor::zeros([0, 4]));
    let err = x.try_softmax_cross_entropy_mean(&[]).unwrap_err();
    assert!(err.to_string().contains("no rows"), "{err}");
}

#[test]
fn softmax_ce_has_the_composites_bits() {
    softmax_ce_bits::<f32>();
    softmax_ce_bits::<f64>();
}

/// `a + b` and `a − b` hand their gradient's buffer to `a` (a product, a relu, a leaf) instead
/// of copying it, from the second pass on a reused tape (the first has no buffer to exchange).
/// The gradients are right (by hand), keep every bit of a fresh tape's, never show the stale
/// buffers a node gets in exchange (a pass of NaNs before), and a leaf's zeros are `+0`.
#[test]
fn an_add_hands_its_gradient_to_its_input_with_the_same_bits() {
    type G = downhill_tensor::Grads<f64>;
    let vals = |n: usize, k: f64| -> Vec<f64> { (0..n).map(|i| ((i as f64 + k) * 0.37).sin()).collect() };
    let p = store(&[
        ("w", Tensor::from_vec(vals(12, 1.0), [3, 4]).unwrap()),
        ("b", Tensor::from_vec(vals(4, 2.0).iter().map(|x| x + 1.0).collect(), [1, 4]).unwrap()),
        ("v", Tensor::from_vec(vals(8, 3.0), [2, 4]).unwrap()),
        ("u", Tensor::from_vec(vals(8, 6.0).iter().map(|x| x - 2.0).collect(), [2, 4]).unwrap()),
    ]);
    let ids = ["w", "b", "v", "u"].map(|n| p.id(n).unwrap());
    let x = Tensor::from_vec(vals(6, 4.0), [2, 3]).unwrap();
    // Weights of both signs after the relus, so inactive units get ±1·0 = ±0 contributions.
    let c = Tensor::from_vec(vals(8, 5.0).iter().map(|x| x - 0.5).collect(), [2, 4]).unwrap();
    fn pass(
        tape: &Tape<f64>,
        p: &Params<f64>,
        ids: [downhill_tensor::ParamId; 4],
        x: &Tensor<f64>,
        c: &Tensor<f64>,
        scale: f64,
        out: &mut downhill_tensor::Grads<f64>,
    ) {
        let [w, b, v, u] = ids.map(|id| tape.param(p, id));
        let c = tape.constant(c);
        let h = tape.constant(x).matmul(w).broadcast_add(b).relu(); // a row add → a product
        let k = (h - v.relu()) + v; // a sub → a relu, then an add → the sub
        let l = (k.relu() * c).sum() + ((u + h).relu() * c).sum(); // an add with a leaf `a`
        (l * scale).backward_into(out).unwrap();
    }
    let bits = |g: &G| -> Vec<Vec<u64>> {
        ids.iter().map(|&id| g.get(id).unwrap().data().iter().map(|x| x.to_bits()).collect()).collect()
    };
    let want: Vec<Vec<Vec<u64>>> = [1.0, 0.5]
        .map(|scale| {
            let mut g = G::new();
            pass(&Tape::new(), &p, ids, &x, &c, scale, &mut g);
            bits(&g)
        })
        .to_vec();
    // By hand: with pre = x·w + b, h = relu(pre), k = h − relu(v) + v and s the scale,
    // ∂L/∂h = s·c·([k > 0] + [u + h > 0]), ∂L/∂u = s·c·[u + h > 0], ∂L/∂v = s·c·[k > 0]·(1 − [v > 0]),
    // ∂L/∂pre = ∂L/∂h·[pre > 0], ∂L/∂w = xᵀ·∂L/∂pre, ∂L/∂b = its column sums.
    let by_hand = |s: f64| -> [Vec<f64>; 4] {
        let (xv, cv) = (x.data(), c.data());
        let [w, b, v, u] = ids.map(|id| p.get(id).data().to_vec());
        let step = |t: f64| if t > 0.0 { 1.0 } else { 0.0 };
        let (mut gw, mut gb, mut gv, mut gu) = (vec![0.0; 12], vec![0.0; 4], vec![0.0; 8], vec![0.0; 8]);
        for r in 0..2 {
            for j in 0..4 {
                let e = 4 * r + j;
                let pre = (0..3).map(|i| xv[3 * r + i] * w[4 * i + j]).sum::<f64>() + b[j];
                let h = pre.max(0.0);
                let k = h - v[e].max(0.0) + v[e];
                let (dk, du) = (s * cv[e] * step(k), s * cv[e] * step(u[e] + h));
                gv[e] = dk * (1.0 - step(v[e]));
                gu[e] = du;
                let dpre = (dk + du) * step(pre);
                gb[j] += dpre;
                for i in 0..3 {
                    gw[4 * i + j] += xv[3 * r + i] * dpre;
                }
            }
        }
        [gw, gb, gv, gu]
    };
    for (scale, want) in [1.0, 0.5].into_iter().zip(&want) {
        for (name, (hand, got)) in ["w", "b", "v", "u"].iter().zip(by_hand(scale).iter().zip(want)) {
            for (h, g) in hand.iter().zip(got) {
                assert!((h - f64::from_bits(*g)).abs() < 1e-12, "{name}: {hand:?} by hand, {got:?}");
            }
        }
    }
    // The leaf `u`: zeros where `u + h` is inactive, all +0.
    assert!(want[0][3].contains(&0.0f64.to_bits()), "no inactive unit: {:?}", want[0][3]);
    assert!(!want[0][3].contains(&(-0.0f64).to_bits()));
    let mut tape = Tape::new();
    let mut grads = G::new();
    for (i, scale) in [1.0, 0.5, f64::NAN, 1.0, 0.5, 1.0].into_iter().enumerate() {
        tape.clear();
        pass(&tape, &p, ids, &x, &c, scale, &mut grads);
        if !scale.is_nan() {
            assert_eq!(bits(&grads), want[usize::from(scale != 1.0)], "pass {i} (scale {scale})");
        }
    }
}

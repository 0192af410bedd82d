//! Loss values against PyTorch (`torch.nn.functional`, float64) on fixed inputs, plus the
//! properties each loss is documented to have.

use downhill_nn::loss::*;
use downhill_tensor::{Params, Tape, Tensor, Var};

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
}

const P: [f64; 4] = [0.5, -1.25, 3.0, 0.1];
const T: [f64; 4] = [1.0, 0.5, -2.0, 0.3];

#[test]
fn regression_losses_match_pytorch() {
    let tape = Tape::new();
    let (p, y) = (tape.constant(&t(&P, &[4, 1])), tape.constant(&t(&T, &[4, 1])));
    close(mse_loss(p, y).item().unwrap(), 7.088125);
    close(half_mse_loss(p, y).item().unwrap(), 7.088125 / 2.0);
    close(huber_loss(p, y, 1.0).item().unwrap(), 1.47375);
    close(huber_loss(p, y, 2.5).item().unwrap(), 2.7628125);
    // Huber with a huge delta is half-MSE; with a tiny one, delta·mean|r| (minus delta²/2).
    close(huber_loss(p, y, 1e6).item().unwrap(), 7.088125 / 2.0);
    let mean_abs = P.iter().zip(T).map(|(a, b)| (a - b).abs()).sum::<f64>() / 4.0;
    close(huber_loss(p, y, 1e-3).item().unwrap(), 1e-3 * (mean_abs - 0.5e-3));
}

const Y: [f64; 5] = [1.0, 0.0, 1.0, 0.0, 0.25];

#[test]
fn binary_losses_match_pytorch() {
    let tape = Tape::new();
    let z = tape.constant(&t(&[2.0, -30.0, 0.0, 45.0, -0.7], &[5, 1]));
    let y = tape.constant(&t(&Y, &[5, 1]));
    close(bce_with_logits_loss(z, y).item().unwrap(), 9.279652248097694);
    let p = tape.constant(&t(&[0.9, 0.2, 0.5, 0.999, 0.35], &[5, 1]));
    close(bce_loss(p, y).item().unwrap(), 1.7029898489416255);
}

#[test]
fn bce_on_logits_equals_bce_on_their_probabilities_and_stays_finite() {
    let z = [-3.0, -0.5, 0.0, 0.7, 4.0];
    let tape = Tape::new();
    let zv = tape.constant(&t(&z, &[5, 1]));
    let y = tape.constant(&t(&Y, &[5, 1]));
    let a = bce_with_logits_loss(zv, y).item().unwrap();
    let b = bce_loss(zv.sigmoid(), y).item().unwrap();
    close(a, b);
    // Extreme logits: no overflow, the exact large-margin values.
    let tape = Tape::new();
    let zv = tape.constant(&t(&[1000.0, -1000.0], &[2, 1]));
    let y = tape.constant(&t(&[0.0, 1.0], &[2, 1]));
    close(bce_with_logits_loss(zv, y).item().unwrap(), 1000.0);
    let g = tape.constant(&t(&[1000.0, -1000.0], &[2, 1]));
    assert!(bce_with_logits_loss(g, tape.constant(&t(&[1.0, 0.0], &[2, 1]))).item().unwrap().abs() < 1e-300);
}

#[test]
fn bce_clip_bounds_a_confident_wrong_prediction() {
    let tape = Tape::new();
    let p = tape.constant(&t(&[0.0, 1.0], &[2, 1]));
    let y = tape.constant(&t(&[1.0, 0.0], &[2, 1]));
    let l = bce_loss(p, y).item().unwrap();
    // Row 0 is clipped up to eps, row 1 down to 1 − eps (so 1 − p̂ is eps up to rounding).
    let clipped = |eps: f64| -(eps.ln() + (1.0 - (1.0 - eps)).ln()) / 2.0;
    close(l, clipped(DEFAULT_BCE_EPS));
    let l = bce_loss_eps(p, y, 1e-3).item().unwrap();
    close(l, clipped(1e-3));
    // f32 with the default clip is finite too.
    let tape = Tape::<f32>::new();
    let p = tape.constant(&Tensor::from_vec(vec![0.0f32, 1.0], [2, 1]).unwrap());
    let y = tape.constant(&Tensor::from_vec(vec![1.0f32, 0.0], [2, 1]).unwrap());
    let l = bce_loss(p, y).item().unwrap();
    assert!(l.is_finite() && l > 15.0 && l < 17.0, "{l}");
}

#[test]
fn cross_entropy_matches_pytorch_and_is_stable() {
    let logits = t(&[1.0, 2.0, 0.5, -3.0, 0.0, 10.0, 100.0, -100.0, 0.0, 0.1, 0.2, 0.3], &[4, 3]);
    let tape = Tape::new();
    let l = tape.constant(&logits);
    close(softmax_cross_entropy(l, &[1, 2, 0, 0]).item().unwrap(), 0.4165898228651611);
    let soft = t(&[0.2, 0.5, 0.3, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.25, 0.25, 0.5], &[4, 3]);
    close(softmax_cross_entropy_probs(l, tape.constant(&soft)).item().unwrap(), 0.5478398228651611);
    // One-hot probabilities give the integer-label loss.
    let onehot = t(&[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0], &[4, 3]);
    close(
        softmax_cross_entropy_probs(l, tape.constant(&onehot)).item().unwrap(),
        softmax_cross_entropy(l, &[1, 2, 0, 0]).item().unwrap(),
    );
    // Uniform logits: ln(classes), whatever the labels.
    let tape = Tape::new();
    let u = tape.constant(&Tensor::<f64>::full([3, 5], 1e4));
    close(softmax_cross_entropy(u, &[0, 4, 2]).item().unwrap(), 5f64.ln());
}

/// The gradient of `loss(pred, target)` with respect to `pred`.
fn grad_wrt_pred(
    pred: &[f64],
    target: &Tensor<f64>,
    loss: impl for<'t> Fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>,
) -> Vec<f64> {
    let mut params = Params::new();
    let id = params.insert("p", t(pred, target.dims())).unwrap();
    let tape = Tape::new();
    let l = loss(tape.param(&params, id), tape.constant(target));
    l.backward().unwrap().try_get(id).unwrap().data().to_vec()
}

#[test]
fn loss_gradients_have_the_documented_closed_forms() {
    let y = t(&T, &[4, 1]);
    // half-MSE: (p − y)/n.
    let g = grad_wrt_pred(&P, &y, |p, y| half_mse_loss(p, y));
    for ((g, p), y) in g.iter().zip(P).zip(T) {
        close(*g, (p - y) / 4.0);
    }
    // Huber: clamp(r, −δ, δ)/n.
    let g = grad_wrt_pred(&P, &y, |p, y| huber_loss(p, y, 1.0));
    for ((g, p), y) in g.iter().zip(P).zip(T) {
        close(*g, (p - y).clamp(-1.0, 1.0) / 4.0);
    }
    // BCE with logits: (σ(z) − y)/n.
    let yb = t(&[1.0, 0.0, 0.5, 1.0], &[4, 1]);
    let g = grad_wrt_pred(&P, &yb, |z, y| bce_with_logits_loss(z, y));
    for ((g, z), y) in g.iter().zip(P).zip(yb.data()) {
        close(*g, (1.0 / (1.0 + (-z).exp()) - y) / 4.0);
    }
    // Softmax cross-entropy: (softmax − onehot)/n.
    let logits = [0.5, -1.0, 2.0, 0.0, 0.0, 1.0];
    let mut params = Params::new();
    let id = params.insert("z", t(&logits, &[2, 3])).unwrap();
    let tape = Tape::new();
    let g = softmax_cross_entropy(tape.param(&params, id), &[2, 0]).backward().unwrap();
    for (row, label) in [(0, 2), (1, 0)] {
        let z = &logits[row * 3..row * 3 + 3];
        let norm: f64 = z.iter().map(|v| v.exp()).sum();
        for (k, zk) in z.iter().enumerate() {
            let want = (zk.exp() / norm - f64::from(u8::from(k == label))) / 2.0;
            close(g.get(id).unwrap().data()[row * 3 + k], want);
        }
    }
}

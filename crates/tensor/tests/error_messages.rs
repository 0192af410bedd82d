//! Every error message, snapshotted: each names the op, the shapes (and axis), the call site,
//! and a one-line fix. A change in wording shows up as a snapshot diff to review.

use downhill_tensor::{CustomOp, Error, Params, Tape, Tensor, TensorRef};
use insta::assert_snapshot;

fn z(shape: &[usize]) -> Tensor<f64> {
    Tensor::zeros(shape)
}

/// The error from a `try_*` call, as text.
fn msg<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn elementwise_shape_mismatch() {
    let tape = Tape::new();
    let (n1, n) = (tape.constant(&z(&[200, 1])), tape.constant(&z(&[200])));
    assert_snapshot!("sub_rank_differs_same_count", msg(n1.try_sub(n)));
    let (a, b) = (tape.constant(&z(&[3, 4])), tape.constant(&z(&[5])));
    assert_snapshot!("add_rank_differs_other_count", msg(a.try_add(b)));
    let (col, row) = (tape.constant(&z(&[4, 1])), tape.constant(&z(&[1, 4])));
    assert_snapshot!("mul_column_times_row", msg(col.try_mul(row)));
    let (m, bias) = (tape.constant(&z(&[32, 10])), tape.constant(&z(&[1, 10])));
    assert_snapshot!("add_bias_needs_broadcast", msg(m.try_add(bias)));
    let (p, q) = (tape.constant(&z(&[2, 3])), tape.constant(&z(&[3, 2])));
    assert_snapshot!("div_incompatible", msg(p.try_div(q)));
    assert_snapshot!("maximum_mismatch", msg(p.try_maximum(q)));
}

#[test]
fn recorded_error_is_returned_by_backward() {
    let tape = Tape::new();
    let x = tape.constant(&z(&[200, 1]));
    let y = tape.constant(&z(&[200]));
    let loss = (x - y).square().mean();
    assert_snapshot!("recorded_sub_from_backward", msg(loss.backward()));
}

#[test]
fn matmul_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[32, 3]));
    assert_snapshot!("matmul_right_needs_transpose", msg(a.try_matmul(tape.constant(&z(&[1, 3])))));
    assert_snapshot!(
        "matmul_left_needs_transpose",
        msg(tape.constant(&z(&[3, 32])).try_matmul(tape.constant(&z(&[3, 1]))))
    );
    assert_snapshot!("matmul_inner_dims", msg(a.try_matmul(tape.constant(&z(&[4, 5])))));
    assert_snapshot!("matmul_vector", msg(a.try_matmul(tape.constant(&z(&[3])))));
    assert_snapshot!("matmul_rank_mix", msg(a.try_matmul(tape.constant(&z(&[2, 3, 4])))));
    assert_snapshot!(
        "matmul_batch",
        msg(tape.constant(&z(&[2, 3, 4])).try_matmul(tape.constant(&z(&[3, 4, 5]))))
    );
}

#[test]
fn movement_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[2, 3]));
    assert_snapshot!("reshape_count", msg(a.try_reshape([4, 2])));
    assert_snapshot!("permute_not_a_permutation", msg(a.try_permute(&[0, 0])));
    assert_snapshot!("broadcast_adds_axis", msg(tape.constant(&z(&[3])).try_broadcast_to([2, 3])));
    assert_snapshot!("broadcast_incompatible", msg(a.try_broadcast_to([4, 3])));
    assert_snapshot!("narrow_past_end", msg(a.try_narrow(1, 2, 2)));
    assert_snapshot!("narrow_bad_axis", msg(a.try_narrow(2, 0, 1)));
    assert_snapshot!("index_select_out_of_range", msg(a.try_index_select(0, &[1, 0, 2])));
    assert_snapshot!("pick_label_out_of_range", msg(a.try_pick(&[2, 3])));
    assert_snapshot!("pick_count", msg(a.try_pick(&[0, 1, 2])));
    assert_snapshot!("pick_rank", msg(tape.constant(&z(&[6])).try_pick(&[0])));
    assert_snapshot!(
        "concat_mismatch",
        msg(tape.try_concat(&[a, tape.constant(&z(&[2, 2])), tape.constant(&z(&[3, 3]))], 1))
    );
    assert_snapshot!("concat_empty", msg(tape.try_concat(&[], 0)));
    let t = a.t();
    assert!(t.is_valid());
    let r3 = tape.constant(&z(&[2, 3, 4])).t();
    assert_snapshot!("t_needs_matrix", msg(r3.value()));
}

#[test]
fn axis_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[2, 3]));
    assert_snapshot!("sum_axis_out_of_range", msg(a.try_sum_axis(2, false)));
    assert_snapshot!("log_softmax_axis", msg(a.try_log_softmax(5)));
    assert_snapshot!("softmax_axis", msg(a.try_softmax(2)));
    assert_snapshot!("max_axis_out_of_range", msg(a.try_max_axis(3, true)));
}

#[test]
fn argument_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[2]));
    assert_snapshot!("clamp_inverted", msg(a.try_clamp(1.0, -1.0)));
    assert_snapshot!("from_vec_length", msg(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [2, 2])));
    assert_snapshot!("arange_zero_step", msg(Tensor::<f64>::arange(0.0, 1.0, 0.0)));
    let mut rng = downhill_tensor::seeded_rng(0);
    assert_snapshot!("rand_uniform_empty_range", msg(Tensor::<f64>::rand_uniform([2], 1.0, 1.0, &mut rng)));
    assert_snapshot!("rand_normal_negative_std", msg(Tensor::<f64>::rand_normal([2], 0.0, -1.0, &mut rng)));
    assert_snapshot!("item_not_scalar", msg(z(&[2, 2]).item()));
    let sq = a.squeeze(0);
    assert_snapshot!("squeeze_not_one", msg(sq.value()));
}

#[test]
fn backward_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[3]));
    assert_snapshot!("backward_not_scalar", msg(a.exp().backward()));
}

#[test]
fn tape_and_param_errors() {
    let (t1, t2) = (Tape::new(), Tape::new());
    assert_snapshot!("tape_mismatch", msg(t1.constant(&z(&[2])).try_add(t2.constant(&z(&[2])))));
    let mut p = Params::<f64>::new();
    let w = p.insert("layer1.weight", z(&[2, 2])).unwrap();
    assert_snapshot!("duplicate_param", msg(p.insert("layer1.weight", z(&[1]))));
    assert_snapshot!("unknown_param_name", msg(p.id("layer1.bias")));
    assert_snapshot!("param_shape", msg(p.set(w, z(&[2]))));
    let grads = t1.param(&p, w).sum().backward().unwrap();
    assert!(grads.try_get(w).is_ok());
    let mut q = p.clone();
    let b = q.insert("layer1.bias", z(&[2])).unwrap();
    assert_snapshot!("no_gradient", msg(grads.try_get(b)));
    let empty = Params::<f64>::new();
    let tape = Tape::new();
    assert_snapshot!("param_from_another_store", msg(tape.param(&empty, b).value()));
}

struct Refuses;
impl CustomOp<f64> for Refuses {
    fn name(&self) -> &'static str {
        "my_op"
    }
    fn forward(&self, inputs: &[TensorRef<'_, f64>]) -> Result<Tensor<f64>, String> {
        Err(format!("needs a square matrix, got {}; pass [n, n]", inputs[0].shape))
    }
    fn backward(&self, _: &[TensorRef<'_, f64>], _: TensorRef<'_, f64>, _: &[f64], _: &mut [Vec<f64>]) {}
}

#[test]
fn custom_op_errors() {
    let tape = Tape::new();
    let a = tape.constant(&z(&[2, 3]));
    assert_snapshot!("custom_forward_refuses", msg(tape.try_custom(Refuses, &[a])));
}

#[test]
fn anomaly_reports() {
    let mut p = Params::new();
    let w = p.insert("w", Tensor::from_vec(vec![1.0, 0.0, 2.0], [3]).unwrap()).unwrap();
    let tape = Tape::with_anomaly();
    let x = tape.param(&p, w);
    let loss = x.log().sum();
    assert_snapshot!("anomaly_log_of_zero", msg(loss.backward()));

    // sqrt is finite at 0 but its derivative is not: caught in the backward pass.
    let tape = Tape::with_anomaly();
    let x = tape.param(&p, w);
    let loss = x.sqrt().sum();
    assert!(loss.value().is_ok());
    assert_snapshot!("anomaly_sqrt_backward", msg(loss.backward()));

    // Bad data: the first op to touch it is reported, and the message says the input was bad.
    let tape = Tape::with_anomaly();
    let data = tape.constant(&Tensor::from_vec(vec![1.0, f64::NAN, 3.0], [3]).unwrap());
    let loss = (tape.param(&p, w) * data).sum();
    assert_snapshot!("anomaly_bad_input", msg(loss.backward()));
}

#[test]
fn file_errors() {
    use downhill_tensor::io;
    use std::collections::BTreeMap;
    let mut saved = Params::<f64>::new();
    saved.insert("fc1.weight", z(&[3, 2])).unwrap();
    saved.insert("fc1.bias", z(&[1, 2])).unwrap();
    let bytes = io::to_bytes(saved.iter().map(|(_, n, t)| (n, t)), &BTreeMap::new()).unwrap();
    let origin = "weights.safetensors";
    assert_snapshot!("load_wrong_dtype", msg(io::from_bytes::<f32>(&bytes, origin)));
    let mut other = Params::<f64>::new();
    other.insert("fc1.weight", z(&[4, 2])).unwrap();
    other.insert("fc1.bias", z(&[1, 2])).unwrap();
    assert_snapshot!(
        "load_wrong_shape",
        msg(io::assign(&mut other, io::from_bytes(&bytes, origin).unwrap(), origin))
    );
    let mut renamed = Params::<f64>::new();
    renamed.insert("layer1.weight", z(&[3, 2])).unwrap();
    assert_snapshot!(
        "load_missing_tensor",
        msg(io::assign(&mut renamed, io::from_bytes(&bytes, origin).unwrap(), origin))
    );
    let mut smaller = Params::<f64>::new();
    smaller.insert("fc1.weight", z(&[3, 2])).unwrap();
    assert_snapshot!(
        "load_unexpected_tensors",
        msg(io::assign(&mut smaller, io::from_bytes(&bytes, origin).unwrap(), origin))
    );
    assert_snapshot!("load_garbage", msg(io::from_bytes::<f64>(b"GIF89a....", origin)));
    assert_snapshot!("load_missing_file", msg(io::load::<f64>("/nonexistent/dir/w.safetensors")));
}

/// An id from another, larger store: every `try_` accessor of `Params` gives the typed error
/// (the plain accessors panic, as documented).
#[test]
fn a_foreign_param_id_is_a_typed_error_from_every_try_accessor() {
    let mut p = Params::<f64>::new();
    let w = p.insert("layer1.weight", z(&[2, 2])).unwrap();
    let mut q = p.clone();
    let b = q.insert("layer1.bias", z(&[2])).unwrap();
    let foreign = |e: Error| matches!(e, Error::UnknownParam { .. });
    assert!(p.try_get(b).is_err_and(foreign) && p.try_name(b).is_err_and(foreign));
    assert!(p.try_get_mut(b).is_err_and(foreign) && p.try_get_mut(w).is_ok());
    assert_eq!(p.try_name(w).unwrap(), "layer1.weight");
}

//! Ops defined outside the crate: implement [`CustomOp`] (a forward and its backward, side by
//! side) and record it with [`Tape::custom`]. The gradient checker treats custom ops exactly
//! like built-in ones, so a new op is tested the same way.

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, NONE, Vals};
use crate::{Float, Shape, Tape, Tensor, Var};

/// A borrowed tensor: its shape and row-major data.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a, T> {
    /// The shape.
    pub shape: &'a Shape,
    /// Row-major data.
    pub data: &'a [T],
}

/// A differentiable op of any number of inputs.
pub trait CustomOp<T: Float>: 'static {
    /// The op's name in errors and reports.
    fn name(&self) -> &'static str;

    /// Computes the output from the inputs. Return `Err(message)` for inputs the op cannot take
    /// (the message should say how to fix the call); it becomes an [`Error::InvalidArgument`].
    fn forward(&self, inputs: &[TensorRef<'_, T>]) -> std::result::Result<Tensor<T>, String>;

    /// Given `grad = dL/d(output)`, adds `dL/d(input k)` into `input_grads[k]` (zeroed on entry,
    /// laid out like input `k`).
    fn backward(
        &self,
        inputs: &[TensorRef<'_, T>],
        output: TensorRef<'_, T>,
        grad: &[T],
        input_grads: &mut [Vec<T>],
    );
}

fn custom_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Custom { index, start, len } = node.aux else {
        return;
    };
    let ids = &vals.id_pool[start..start + len];
    let inputs: Vec<TensorRef<'_, T>> =
        ids.iter().map(|&i| TensorRef { shape: vals.shape(i), data: vals.get(i) }).collect();
    let output = TensorRef { shape: &node.shape, data: vals.get(id as u32) };
    let mut grads: Vec<Vec<T>> = inputs.iter().map(|t| vec![T::zero(); t.data.len()]).collect();
    vals.customs[index].backward(&inputs, output, g, &mut grads);
    for (&i, gi) in ids.iter().zip(&grads) {
        if let Some(dst) = slots.get(i) {
            for (d, &s) in dst.iter_mut().zip(gi) {
                *d += s;
            }
        }
    }
}

impl<T: Float> Tape<T> {
    /// Records a custom op on `inputs` (all on this tape).
    #[track_caller]
    pub fn custom<'t>(&'t self, op: impl CustomOp<T>, inputs: &[Var<'t, T>]) -> Var<'t, T> {
        let at = Site::caller();
        Var::record(self, self.custom_at(Box::new(op), inputs, at))
    }

    /// [`Tape::custom`], returning the op's error at once.
    #[track_caller]
    pub fn try_custom<'t>(&'t self, op: impl CustomOp<T>, inputs: &[Var<'t, T>]) -> Result<Var<'t, T>> {
        self.custom_at(Box::new(op), inputs, Site::caller())
    }

    fn custom_at<'t>(
        &'t self,
        op: Box<dyn CustomOp<T>>,
        inputs: &[Var<'t, T>],
        at: Site,
    ) -> Result<Var<'t, T>> {
        let name = op.name();
        for v in inputs {
            if !std::ptr::eq(v.tape, self) {
                return Err(Error::TapeMismatch { op: name, at });
            }
        }
        if let Some(first) = inputs.first() {
            first.check_operands(inputs, name, at)?;
        }
        let mut inner = self.inner.borrow_mut();
        let out = {
            let refs: Vec<TensorRef<'_, T>> = inputs
                .iter()
                .map(|v| TensorRef { shape: inner.shape(v.id), data: inner.val(v.id) })
                .collect();
            op.forward(&refs).map_err(|message| Error::InvalidArgument { op: name, message, at })?
        };
        let start = inner.id_pool.len();
        inner.id_pool.extend(inputs.iter().map(|v| v.id));
        let requires_grad = inputs.iter().any(|v| inner.nodes[v.id as usize].requires_grad);
        let index = inner.customs.len();
        inner.customs.push(op);
        let aux = Aux::Custom { index, start, len: inputs.len() };
        let first = inputs.first().map_or(NONE, |v| v.id);
        let shape = out.shape().clone();
        let id = inner.push_with_grad_flag(
            name,
            [first, NONE],
            shape,
            aux,
            custom_backward::<T>,
            at,
            requires_grad,
            |_, buf| buf.extend_from_slice(out.data()),
        );
        Ok(Var::new(self, id))
    }
}

//! `Var`: a handle to a value recorded on a [`Tape`].

use std::fmt;

use crate::error::{Error, Result, Site};
use crate::params::Grads;
use crate::tape::{Aux, NONE};
use crate::{Float, Shape, Tape, Tensor};

/// A value on a tape. `Copy`, so it can be used several times without `&` or `.clone()`.
///
/// A `Var` produced by a failed op is *invalid*: ops on it produce invalid vars without a new
/// error, and `value()` / `backward()` return the first error the tape recorded.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Float> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) id: u32,
}

impl<'t, T: Float> Var<'t, T> {
    pub(crate) fn new(tape: &'t Tape<T>, id: u32) -> Self {
        Var { tape, id }
    }

    /// The tape this value lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// False if this var came from a failed op.
    pub fn is_valid(&self) -> bool {
        self.id != NONE
    }

    /// Turns the result of a `try_*` op into a `Var`, recording the error on the tape if it
    /// failed. This is the one mechanism behind every non-`try_` op.
    pub(crate) fn record(tape: &'t Tape<T>, r: Result<Var<'t, T>>) -> Var<'t, T> {
        match r {
            Ok(v) => v,
            Err(e) => {
                tape.inner.borrow_mut().poison(e);
                Var::new(tape, NONE)
            }
        }
    }

    /// Checks that every operand is valid and on this var's tape.
    pub(crate) fn check_operands(&self, others: &[Var<'t, T>], op: &'static str, at: Site) -> Result<()> {
        for v in std::iter::once(self).chain(others) {
            if !std::ptr::eq(v.tape, self.tape) {
                return Err(Error::TapeMismatch { op, at });
            }
            if v.id == NONE {
                return Err(self.first_error());
            }
        }
        Ok(())
    }

    fn first_error(&self) -> Error {
        match self.tape.error() {
            Some(e) => e,
            // Unreachable in practice: invalid vars are only made by recording an error.
            None => Error::InvalidArgument {
                op: "var",
                message: "this value came from a failed op".to_string(),
                at: Site::caller(),
            },
        }
    }

    /// The shape of the value, or the first recorded error.
    pub fn shape(&self) -> Result<Shape> {
        if self.id == NONE {
            return Err(self.first_error());
        }
        Ok(self.tape.inner.borrow().shape(self.id).clone())
    }

    /// The value as a tensor, or the first error recorded on the tape.
    pub fn value(&self) -> Result<Tensor<T>> {
        let inner = self.tape.inner.borrow();
        if let Some(e) = &inner.error {
            return Err(e.clone());
        }
        let node = &inner.nodes[self.id as usize];
        Ok(match &node.data {
            crate::tape::Data::Shared(a) => Tensor::from_arc(node.shape.clone(), a.clone()),
            crate::tape::Data::Buf => {
                Tensor::from_parts(node.shape.clone(), inner.bufs[self.id as usize].clone())
            }
        })
    }

    /// The single element of a one-element value (e.g. a loss).
    #[track_caller]
    pub fn item(&self) -> Result<T> {
        let at = Site::caller();
        // Reads the tape's buffer directly (no copy, no allocation: a training loop may log the
        // loss every step); errors as `value()?.item()` would give.
        let inner = self.tape.inner.borrow();
        if let Some(e) = &inner.error {
            return Err(e.clone());
        }
        match inner.val(self.id) {
            [x] => Ok(*x),
            _ => Err(Error::NotScalar { shape: inner.shape(self.id).clone(), at }),
        }
    }

    /// Gradients of this scalar with respect to every parameter on the tape.
    ///
    /// Fails if the tape recorded an error, or if this value is not a scalar (shape `[]`).
    /// Returns a fresh store each call, so calling it twice gives identical results.
    #[track_caller]
    pub fn backward(&self) -> Result<Grads<T>> {
        let mut g = Grads::new();
        self.backward_into_at(&mut g, Site::caller())?;
        Ok(g)
    }

    /// Like [`Var::backward`], but reuses `grads`' buffers (no allocation in steady state).
    #[track_caller]
    pub fn backward_into(&self, grads: &mut Grads<T>) -> Result<()> {
        self.backward_into_at(grads, Site::caller())
    }

    fn backward_into_at(&self, grads: &mut Grads<T>, at: Site) -> Result<()> {
        if self.id == NONE {
            return Err(self.first_error());
        }
        self.tape.backward_into(self.id, at, grads)
    }

    /// True if this is a parameter leaf (see [`Tape::param`]).
    pub fn is_param(&self) -> bool {
        self.id != NONE && matches!(self.tape.inner.borrow().nodes[self.id as usize].aux, Aux::Param(_))
    }
}

impl<T: Float> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id == NONE {
            return write!(f, "Var(invalid)");
        }
        let inner = self.tape.inner.borrow();
        let n = &inner.nodes[self.id as usize];
        write!(f, "Var(#{} {} {} at {})", self.id, n.op, n.shape, n.site)
    }
}

//! The extension hook for code outside this crate (layers, losses) that validates its inputs
//! itself: turn a `Result` into a [`Var`], recording the error on the tape exactly as the
//! built-in ops do.

use crate::error::Result;
use crate::{Float, Tape, Var};

impl<T: Float> Tape<T> {
    /// Returns the `Var` of `r`, or records its error on this tape (if it is the first) and
    /// returns an invalid `Var`, so `value()` / `backward()` report it later.
    ///
    /// This is how a `try_*` function written outside the crate gets its plain, `?`-free form:
    /// `tape.record(try_my_loss(pred, target))`.
    pub fn record<'t>(&'t self, r: Result<Var<'t, T>>) -> Var<'t, T> {
        Var::record(self, r)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Tape, Tensor};

    #[test]
    fn record_keeps_ok_and_poisons_on_err() {
        let tape = Tape::<f64>::new();
        let x = tape.constant(&Tensor::scalar(2.0));
        let kept = tape.record(Ok(x * 3.0));
        assert_eq!(kept.item().ok(), Some(6.0));
        let e = Error::InvalidArgument { op: "mine", message: "bad".into(), at: crate::Site::caller() };
        let bad = tape.record(Err(e.clone()));
        assert!(!bad.is_valid());
        assert_eq!((bad + 1.0).value().err(), Some(e.clone()));
        assert_eq!(tape.error(), Some(e));
    }
}

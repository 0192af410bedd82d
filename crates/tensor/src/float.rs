//! The element types a tensor can hold: `f64` (checking, teaching) and `f32` (speed).

use std::fmt::{Debug, Display, LowerExp};
use std::iter::Sum;

use num_traits::{Float as NumFloat, NumAssign};

/// A floating-point element type: implemented for `f32` and `f64` only.
///
/// The trait is sealed: downhill's kernels (GEMM dispatch, stable sigmoid thresholds) are written
/// for exactly these two types.
pub trait Float:
    NumFloat + NumAssign + Sum + Default + Debug + Display + LowerExp + Send + Sync + 'static + sealed::Sealed
{
    /// `"f32"` or `"f64"`: used in `Display` and error messages.
    const DTYPE: &'static str;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn of(x: f64) -> Self;

    /// Widens to `f64` exactly.
    fn f64(self) -> f64;

    /// Size of one element in bytes.
    const BYTES: usize;

    /// Appends the little-endian bytes of `self`.
    fn extend_le_bytes(self, out: &mut Vec<u8>);

    /// Reads one element from exactly [`Float::BYTES`] little-endian bytes.
    fn from_le_slice(bytes: &[u8]) -> Self;

    /// Converts a count (a length, a batch size) to this type.
    fn of_usize(n: usize) -> Self {
        Self::of(n as f64)
    }

    /// `C = alpha·A·B + beta·C` on strided row/column layouts (matrixmultiply's GEMM).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping (for `c`) matrices of the
    /// given sizes, exactly as `matrixmultiply::dgemm` requires.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Float for f64 {
    const DTYPE: &'static str = "f64";
    const BYTES: usize = 8;
    fn extend_le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le_slice(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        f64::from_le_bytes(b)
    }
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract (see the trait method).
        unsafe { matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

impl Float for f32 {
    const DTYPE: &'static str = "f32";
    const BYTES: usize = 4;
    fn extend_le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le_slice(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        f32::from_le_bytes(b)
    }
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        f64::from(self)
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract (see the trait method).
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

//! `Tensor<T>`: a dense, row-major, immutable-by-default array of `f32` or `f64`.
//!
//! The data lives behind an `Arc`, so cloning a tensor and bringing it onto a tape are cheap
//! (no copy); [`Tensor::data_mut`] copies only if the buffer is shared (copy-on-write).

use std::sync::Arc;

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::{Error, Result, Site};
use crate::{Float, Shape};

/// A dense row-major tensor of `f32` or `f64`, of any rank (0 = scalar).
#[derive(Clone, PartialEq)]
pub struct Tensor<T: Float> {
    shape: Shape,
    data: Arc<Vec<T>>,
}

impl<T: Float> Tensor<T> {
    /// Builds a tensor from row-major data; the length must equal the shape's element count.
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            return Err(Error::DataLength { op: "from_vec", shape, len: data.len(), at: Site::caller() });
        }
        Ok(Tensor { shape, data: Arc::new(data) })
    }

    /// Builds a tensor by copying a row-major slice.
    #[track_caller]
    pub fn from_slice(data: &[T], shape: impl Into<Shape>) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// Wraps a buffer whose length is known to match (internal use).
    pub(crate) fn from_parts(shape: Shape, data: Vec<T>) -> Self {
        debug_assert_eq!(shape.numel(), data.len());
        Tensor { shape, data: Arc::new(data) }
    }

    /// Shares an existing buffer (internal use).
    pub(crate) fn from_arc(shape: Shape, data: Arc<Vec<T>>) -> Self {
        debug_assert_eq!(shape.numel(), data.len());
        Tensor { shape, data }
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: T) -> Self {
        Self::from_parts(Shape::scalar(), vec![value])
    }

    /// A 1-D tensor copied from a slice.
    pub fn vector(values: &[T]) -> Self {
        Self::from_parts(Shape::from([values.len()]), values.to_vec())
    }

    /// Every element equal to `value`.
    pub fn full(shape: impl Into<Shape>, value: T) -> Self {
        let shape = shape.into();
        let n = shape.numel();
        Self::from_parts(shape, vec![value; n])
    }

    /// All zeros.
    pub fn zeros(shape: impl Into<Shape>) -> Self {
        Self::full(shape, T::zero())
    }

    /// All ones.
    pub fn ones(shape: impl Into<Shape>) -> Self {
        Self::full(shape, T::one())
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut d = vec![T::zero(); n * n];
        for i in 0..n {
            d[i * n + i] = T::one();
        }
        Self::from_parts(Shape::from([n, n]), d)
    }

    /// `start, start + step, ...` up to but excluding `end` (numpy's `arange`).
    #[track_caller]
    pub fn arange(start: T, end: T, step: T) -> Result<Self> {
        let at = Site::caller();
        if !(start.is_finite() && end.is_finite() && step.is_finite()) || step == T::zero() {
            return Err(Error::InvalidArgument {
                op: "arange",
                message: format!(
                    "start {start}, end {end} and step {step} must be finite with a non-zero step"
                ),
                at,
            });
        }
        let count = ((end - start) / step).ceil().f64();
        let n = if count > 0.0 { count as usize } else { 0 };
        let d = (0..n).map(|i| start + step * T::of_usize(i)).collect();
        Ok(Self::from_parts(Shape::from([n]), d))
    }

    /// `n` evenly spaced values from `start` to `end`, both included (numpy's `linspace`).
    #[track_caller]
    pub fn linspace(start: T, end: T, n: usize) -> Result<Self> {
        if !(start.is_finite() && end.is_finite()) {
            return Err(Error::InvalidArgument {
                op: "linspace",
                message: format!("start {start} and end {end} must be finite"),
                at: Site::caller(),
            });
        }
        let d = match n {
            0 => Vec::new(),
            1 => vec![start],
            _ => {
                let step = (end - start) / T::of_usize(n - 1);
                (0..n).map(|i| if i + 1 == n { end } else { start + step * T::of_usize(i) }).collect()
            }
        };
        Ok(Self::from_parts(Shape::from([n]), d))
    }

    /// Independent draws from `U[low, high)`, using the generator you pass (never a global one).
    #[track_caller]
    pub fn rand_uniform<R: Rng + ?Sized>(
        shape: impl Into<Shape>,
        low: T,
        high: T,
        rng: &mut R,
    ) -> Result<Self> {
        let at = Site::caller();
        let dist = Uniform::new(low.f64(), high.f64()).map_err(|_| Error::InvalidArgument {
            op: "rand_uniform",
            message: format!("needs finite low < high, got low {low} and high {high}"),
            at,
        })?;
        let shape = shape.into();
        let d = (0..shape.numel()).map(|_| T::of(dist.sample(rng))).collect();
        Ok(Self::from_parts(shape, d))
    }

    /// Independent draws from `N(mean, std²)`, using the generator you pass.
    #[track_caller]
    pub fn rand_normal<R: Rng + ?Sized>(
        shape: impl Into<Shape>,
        mean: T,
        std: T,
        rng: &mut R,
    ) -> Result<Self> {
        let at = Site::caller();
        let bad = || Error::InvalidArgument {
            op: "rand_normal",
            message: format!("needs a finite mean and a finite std >= 0, got mean {mean} and std {std}"),
            at,
        };
        if !mean.is_finite() || !std.is_finite() || std < T::zero() {
            return Err(bad());
        }
        let dist = Normal::new(mean.f64(), std.f64()).map_err(|_| bad())?;
        let shape = shape.into();
        let d = (0..shape.numel()).map(|_| T::of(dist.sample(rng))).collect();
        Ok(Self::from_parts(shape, d))
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The row-major data.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Mutable row-major data; copies the buffer first if another tensor or a tape shares it.
    pub fn data_mut(&mut self) -> &mut [T] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// The buffer itself if no other tensor or tape shares it (internal: lets `Grads` trade
    /// buffers with the tape instead of copying). The caller keeps its length.
    pub(crate) fn unique_vec(&mut self) -> Option<&mut Vec<T>> {
        Arc::get_mut(&mut self.data)
    }

    /// The data as a `Vec` (no copy if this tensor is the only owner).
    pub fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Shared handle to the buffer (internal: tapes share it instead of copying).
    pub(crate) fn arc(&self) -> &Arc<Vec<T>> {
        &self.data
    }

    /// The single element of a one-element tensor (any rank).
    #[track_caller]
    pub fn item(&self) -> Result<T> {
        if self.data.len() == 1 {
            Ok(self.data[0])
        } else {
            Err(Error::NotScalar { shape: self.shape.clone(), at: Site::caller() })
        }
    }

    /// The element at a multi-index, or `None` if the index is out of range or of the wrong rank.
    pub fn get(&self, index: &[usize]) -> Option<T> {
        if index.len() != self.rank() {
            return None;
        }
        let mut flat = 0;
        for ((&i, &d), s) in index.iter().zip(self.dims()).zip(self.shape.strides()) {
            if i >= d {
                return None;
            }
            flat += i * s;
        }
        self.data.get(flat).copied()
    }

    /// The same data under another shape with the same element count (no copy).
    #[track_caller]
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            return Err(Error::Reshape { from: self.shape.clone(), to: shape, at: Site::caller() });
        }
        Ok(Tensor { shape, data: Arc::clone(&self.data) })
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        Self::from_parts(self.shape.clone(), self.data.iter().map(|&x| f(x)).collect())
    }

    /// Converts every element to another float type (`f64` → `f32` rounds to nearest).
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor::from_parts(self.shape.clone(), self.data.iter().map(|&x| U::of(x.f64())).collect())
    }

    /// True if every element is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    #[test]
    fn from_vec_checks_length() {
        assert!(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]).is_ok());
        let err = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [2, 2]).unwrap_err();
        assert!(matches!(err, Error::DataLength { len: 3, .. }));
    }

    #[test]
    fn constructors() {
        let e = Tensor::<f64>::eye(3);
        assert_eq!(e.get(&[1, 1]), Some(1.0));
        assert_eq!(e.get(&[1, 2]), Some(0.0));
        assert_eq!(e.get(&[3, 0]), None);
        let a = Tensor::<f64>::arange(0.0, 1.0, 0.25).unwrap();
        assert_eq!(a.data(), &[0.0, 0.25, 0.5, 0.75]);
        assert!(Tensor::<f64>::arange(0.0, 1.0, 0.0).is_err());
        let l = Tensor::<f32>::linspace(-1.0, 1.0, 5).unwrap();
        assert_eq!(l.data(), &[-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(Tensor::<f64>::scalar(2.5).item().unwrap(), 2.5);
        assert!(Tensor::<f64>::zeros([2]).item().is_err());
    }

    #[test]
    fn random_is_seeded() {
        let mut r1 = seeded_rng(7);
        let mut r2 = seeded_rng(7);
        let a = Tensor::<f64>::rand_normal([4, 3], 0.0, 1.0, &mut r1).unwrap();
        let b = Tensor::<f64>::rand_normal([4, 3], 0.0, 1.0, &mut r2).unwrap();
        assert_eq!(a, b);
        let u = Tensor::<f32>::rand_uniform([1000], -2.0, 3.0, &mut r1).unwrap();
        assert!(u.data().iter().all(|&x| (-2.0..3.0).contains(&x)));
        assert!(Tensor::<f64>::rand_uniform([2], 1.0, 1.0, &mut r1).is_err());
        assert!(Tensor::<f64>::rand_normal([2], 0.0, -1.0, &mut r1).is_err());
    }

    #[test]
    fn data_mut_copies_on_write() {
        let a = Tensor::<f64>::zeros([2]);
        let mut b = a.clone();
        b.data_mut()[0] = 1.0;
        assert_eq!(a.data(), &[0.0, 0.0]);
        assert_eq!(b.data(), &[1.0, 0.0]);
    }
}

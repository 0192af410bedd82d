//! Shapes: the dimensions of a dense row-major tensor.

use std::fmt;

use smallvec::SmallVec;

/// The dimensions of a tensor, outermost first. Rank 0 (`[]`) is a scalar.
///
/// Up to rank 4 the dimensions live inline (no allocation); higher ranks work and spill to the
/// heap.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(SmallVec<[usize; 4]>);

impl Shape {
    /// The rank-0 (scalar) shape `[]`.
    pub fn scalar() -> Self {
        Shape(SmallVec::new())
    }

    /// Builds a shape from anything that converts into one (`[2, 3]`, a slice, a `Vec`).
    pub fn new(dims: impl Into<Shape>) -> Self {
        dims.into()
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// True for rank 0.
    pub fn is_scalar(&self) -> bool {
        self.0.is_empty()
    }

    /// Size of one axis, if the axis exists.
    pub fn dim(&self, axis: usize) -> Option<usize> {
        self.0.get(axis).copied()
    }

    /// Row-major strides in elements (the last axis has stride 1).
    pub fn strides(&self) -> SmallVec<[usize; 4]> {
        let mut s: SmallVec<[usize; 4]> = SmallVec::from_elem(1, self.0.len());
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.0[i + 1];
        }
        s
    }

    /// The shape with `axis` removed (a reduction without keepdim).
    pub(crate) fn without(&self, axis: usize) -> Shape {
        let mut d = self.0.clone();
        d.remove(axis);
        Shape(d)
    }

    /// The shape with `axis` set to `size`.
    pub(crate) fn with(&self, axis: usize, size: usize) -> Shape {
        let mut d = self.0.clone();
        d[axis] = size;
        Shape(d)
    }

    /// `(outer, size of axis, inner)`: the axis splits the row-major data into `outer` blocks of
    /// `size × inner` elements.
    pub(crate) fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(SmallVec::from_slice(&d))
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(SmallVec::from_slice(d))
    }
}

impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(SmallVec::from_vec(d))
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

impl fmt::Display for Shape {
    /// `[200, 1]`; a scalar is `[]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(Shape::from([2, 3, 4]).strides().as_slice(), &[12, 4, 1]);
        assert_eq!(Shape::scalar().strides().as_slice(), &[] as &[usize]);
        assert_eq!(Shape::scalar().numel(), 1);
    }

    #[test]
    fn split_at_axis_counts_blocks() {
        assert_eq!(Shape::from([2, 3, 4]).split_at_axis(1), (2, 3, 4));
        assert_eq!(Shape::from([5]).split_at_axis(0), (1, 5, 1));
    }

    #[test]
    fn display_is_bracketed() {
        assert_eq!(Shape::from([200, 1]).to_string(), "[200, 1]");
        assert_eq!(Shape::scalar().to_string(), "[]");
    }
}

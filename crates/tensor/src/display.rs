//! numpy-like printing: aligned columns, 4 decimals, `...` for large tensors.

use std::fmt;

use crate::{Float, Tensor};

/// Tensors with more elements than this are summarized (first and last `EDGE` items per axis).
const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summarize = self.numel() > THRESHOLD;
        let dims = self.dims();
        // Which indices are printed along each axis (`None` marks the `...`).
        let shown: Vec<Vec<Option<usize>>> = dims
            .iter()
            .map(|&d| {
                if summarize && d > 2 * EDGE {
                    (0..EDGE).map(Some).chain(std::iter::once(None)).chain((d - EDGE..d).map(Some)).collect()
                } else {
                    (0..d).map(Some).collect()
                }
            })
            .collect();
        let scientific = use_scientific(self.data());
        let fmt_one = |x: T| {
            if scientific { format!("{x:.4e}") } else { format!("{x:.4}") }
        };
        let strides = self.shape().strides();
        // Width of the widest printed element, so columns line up.
        let mut width = 0;
        visit_shown(&shown, &mut Vec::new(), &mut |idx| {
            let flat: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
            width = width.max(fmt_one(self.data()[flat]).len());
        });
        let mut out = String::from("tensor(");
        let indent = out.len();
        write_axis(&mut out, &shown, &mut Vec::new(), indent, &|idx: &[usize]| {
            let flat: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
            format!("{:>width$}", fmt_one(self.data()[flat]))
        });
        write!(f, "{out}, shape={}, dtype={})", self.shape(), T::DTYPE)
    }
}

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn use_scientific<T: Float>(data: &[T]) -> bool {
    let finite = data.iter().filter(|x| x.is_finite() && !x.is_zero());
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for x in finite {
        let a = x.f64().abs();
        lo = lo.min(a);
        hi = hi.max(a);
    }
    hi >= 1e6 || (hi > 0.0 && lo < 1e-4)
}

fn visit_shown(shown: &[Vec<Option<usize>>], idx: &mut Vec<usize>, f: &mut impl FnMut(&[usize])) {
    if idx.len() == shown.len() {
        f(idx);
        return;
    }
    for &i in shown[idx.len()].iter().flatten() {
        idx.push(i);
        visit_shown(shown, idx, f);
        idx.pop();
    }
}

fn write_axis(
    out: &mut String,
    shown: &[Vec<Option<usize>>],
    idx: &mut Vec<usize>,
    indent: usize,
    elem: &dyn Fn(&[usize]) -> String,
) {
    let depth = idx.len();
    if depth == shown.len() {
        out.push_str(&elem(idx));
        return;
    }
    out.push('[');
    let last_axis = depth + 1 == shown.len();
    for (k, item) in shown[depth].iter().enumerate() {
        if k > 0 {
            out.push(',');
            if last_axis {
                out.push(' ');
            } else {
                // One blank line per remaining axis, as numpy does, then align under the '['.
                for _ in 0..(shown.len() - depth - 1) {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent + depth + 1));
            }
        }
        match item {
            Some(i) => {
                idx.push(*i);
                write_axis(out, shown, idx, indent, elem);
                idx.pop();
            }
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn prints_like_numpy() {
        let t = Tensor::<f64>::from_vec(vec![1.0, -2.5, 3.0, 4.0], [2, 2]).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]], shape=[2, 2], dtype=f64)"
        );
        assert_eq!(Tensor::<f32>::scalar(0.5).to_string(), "tensor(0.5000, shape=[], dtype=f32)");
    }

    #[test]
    fn summarizes_large_tensors() {
        let t = Tensor::<f64>::arange(0.0, 2000.0, 1.0).unwrap();
        let s = t.to_string();
        assert!(s.contains("..."), "{s}");
        assert!(s.starts_with("tensor([   0.0000,    1.0000,    2.0000, ..., 1997.0000"), "{s}");
    }
}

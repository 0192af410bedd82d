//! Ops that move or copy elements without arithmetic: reshape, permute/transpose, explicit
//! broadcast, concat, narrow, index_select, pick, detach.
//!
//! Their backward passes route each output gradient back to the element it came from; where one
//! input element feeds several outputs (broadcast, repeated indices) the gradients add up.

use smallvec::SmallVec;

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, NONE, Vals};
use crate::{Float, Shape, Tape, Var};

/// Calls `f(out_index, src_offset)` for every element of a row-major array of shape `out_dims`,
/// where `src_offset = base + Σ idx[i]·src_strides[i]` (a stride of 0 repeats the source).
fn for_each_offset(out_dims: &[usize], src_strides: &[usize], base: usize, mut f: impl FnMut(usize, usize)) {
    let total: usize = out_dims.iter().product();
    if total == 0 {
        return;
    }
    let r = out_dims.len();
    let mut idx: SmallVec<[usize; 4]> = SmallVec::from_elem(0, r);
    let mut off = base;
    for o in 0..total {
        f(o, off);
        // Increment the multi-index, last axis fastest.
        let mut ax = r;
        while ax > 0 {
            ax -= 1;
            idx[ax] += 1;
            off += src_strides[ax];
            if idx[ax] < out_dims[ax] {
                break;
            }
            off -= src_strides[ax] * out_dims[ax];
            idx[ax] = 0;
        }
    }
}

/// [`for_each_offset`] one row (last axis) at a time: `f(o, s, stride)` for the row starting at
/// output offset `o` and source offset `s`, whose source elements are `stride` apart. The element
/// order is the same, so results are too; the inner loops just run without the index bookkeeping.
fn for_each_row(
    out_dims: &[usize],
    src_strides: &[usize],
    base: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let Some((&inner, outer)) = out_dims.split_last() else {
        f(0, base, 0);
        return;
    };
    let stride = src_strides[out_dims.len() - 1];
    for_each_offset(outer, &src_strides[..outer.len()], base, |o, s| f(o * inner, s, stride));
}

/// The input strides a strided-gather node reads with, derived from its kind.
fn gather_strides<T: Float>(vals: &Vals<'_, T>, id: usize) -> (SmallVec<[usize; 4]>, usize) {
    let node = vals.node(id);
    let src = vals.shape(node.inputs[0]);
    let in_strides = src.strides();
    match &node.aux {
        Aux::Perm(perm) => (perm.iter().map(|&p| in_strides[p]).collect(), 0),
        Aux::Narrow { axis, start } => (in_strides.clone(), start * in_strides[*axis]),
        _ => (broadcast_strides(src, &node.shape), 0),
    }
}

fn broadcast_strides(src: &Shape, out: &Shape) -> SmallVec<[usize; 4]> {
    let s = src.strides();
    src.dims()
        .iter()
        .zip(out.dims())
        .zip(s)
        .map(|((&d, &o), st)| if d == 1 && o != 1 { 0 } else { st })
        .collect()
}

/// Backward of every strided gather (permute, broadcast_to, narrow): scatter-add `g` back.
fn gather_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let (strides, base) = gather_strides(vals, id);
    let node = vals.node(id);
    if let Some(gx) = slots.get(node.inputs[0]) {
        if let [d] = gx {
            // One source element (a broadcast scalar or [1, 1] bias): every output adds to it,
            // in output order as below, without the per-row bookkeeping.
            for &v in g {
                *d += v;
            }
            return;
        }
        let dims = node.shape.dims();
        let inner = dims.last().copied().unwrap_or(1);
        if inner == 0 {
            return;
        }
        for_each_row(dims, &strides, base, |o, s, stride| {
            let g = &g[o..o + inner];
            match stride {
                0 => {
                    let d = &mut gx[s];
                    for &v in g {
                        *d += v;
                    }
                }
                1 => {
                    for (d, &v) in gx[s..s + inner].iter_mut().zip(g) {
                        *d += v;
                    }
                }
                _ => {
                    for (i, &v) in g.iter().enumerate() {
                        gx[s + i * stride] += v;
                    }
                }
            }
        });
    }
}

/// Backward of reshape: the same elements in the same order.
fn same_order_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    slots.add_each(vals.node(id).inputs[0], g.iter().copied());
}

/// Detached values pass no gradient.
fn no_backward<T: Float>(_: &Vals<'_, T>, _: &mut GradSlots<'_, T>, _: usize, _: &[T]) {}

impl<'t, T: Float> Var<'t, T> {
    /// Records a strided gather of `self` into `shape`.
    fn gather(self, op: &'static str, shape: Shape, aux: Aux<T>, at: Site) -> Self {
        let mut inner = self.tape.inner.borrow_mut();
        let x = self.id;
        let src = inner.shape(x).clone();
        let (strides, base) = match &aux {
            Aux::Perm(perm) => {
                let s = src.strides();
                (perm.iter().map(|&p| s[p]).collect(), 0)
            }
            Aux::Narrow { axis, start } => {
                let s = src.strides();
                let b = start * s[*axis];
                (s, b)
            }
            _ => (broadcast_strides(&src, &shape), 0),
        };
        let dims = shape.clone();
        let id = inner.push(op, [x, NONE], shape, aux, gather_backward::<T>, at, |inner, out| {
            let v = inner.val(x);
            if let [one] = v {
                // One source element: every output is a copy of it.
                out.resize(dims.numel(), *one);
                return;
            }
            out.reserve(dims.numel());
            let n = dims.dims().last().copied().unwrap_or(1);
            if n == 0 {
                return;
            }
            for_each_row(dims.dims(), &strides, base, |_, s, stride| match stride {
                0 => out.extend(std::iter::repeat_n(v[s], n)),
                1 => out.extend_from_slice(&v[s..s + n]),
                _ => out.extend((0..n).map(|i| v[s + i * stride])),
            });
        });
        Var::new(self.tape, id)
    }

    /// The same elements under a new shape with the same element count.
    #[track_caller]
    pub fn reshape(self, shape: impl Into<Shape>) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.reshape_at(shape.into(), at))
    }

    /// [`Var::reshape`], returning a count mismatch at once.
    #[track_caller]
    pub fn try_reshape(self, shape: impl Into<Shape>) -> Result<Self> {
        self.reshape_at(shape.into(), Site::caller())
    }

    fn reshape_at(self, shape: Shape, at: Site) -> Result<Self> {
        self.check_operands(&[], "reshape", at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let from = inner.shape(self.id).clone();
        if from.numel() != shape.numel() {
            return Err(Error::Reshape { from, to: shape, at });
        }
        let x = self.id;
        let id =
            inner.push("reshape", [x, NONE], shape, Aux::None, same_order_backward::<T>, at, |inner, out| {
                out.extend_from_slice(inner.val(x))
            });
        Ok(Var::new(self.tape, id))
    }

    /// Inserts an axis of size 1 at `axis` (0 ..= rank).
    #[track_caller]
    pub fn unsqueeze(self, axis: usize) -> Self {
        let at = Site::caller();
        let r = self.shape().and_then(|s| {
            if axis > s.rank() {
                return Err(Error::AxisOutOfRange { op: "unsqueeze", axis, shape: s, at });
            }
            let mut d = s.dims().to_vec();
            d.insert(axis, 1);
            self.reshape_at(Shape::from(d), at)
        });
        Var::record(self.tape, r)
    }

    /// Removes an axis of size 1.
    #[track_caller]
    pub fn squeeze(self, axis: usize) -> Self {
        let at = Site::caller();
        let r = self.shape().and_then(|s| match s.dim(axis) {
            None => Err(Error::AxisOutOfRange { op: "squeeze", axis, shape: s, at }),
            Some(1) => self.reshape_at(s.without(axis), at),
            Some(d) => Err(Error::InvalidArgument {
                op: "squeeze",
                message: format!("axis {axis} of {s} has size {d}, not 1; only size-1 axes can be removed"),
                at,
            }),
        });
        Var::record(self.tape, r)
    }

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    #[track_caller]
    pub fn permute(self, perm: &[usize]) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.permute_at(perm, at))
    }

    /// [`Var::permute`], returning a bad permutation at once.
    #[track_caller]
    pub fn try_permute(self, perm: &[usize]) -> Result<Self> {
        self.permute_at(perm, Site::caller())
    }

    fn permute_at(self, perm: &[usize], at: Site) -> Result<Self> {
        self.check_operands(&[], "permute", at)?;
        let shape = self.shape()?;
        let mut seen = [false; 64];
        let valid = perm.len() == shape.rank()
            && perm.iter().all(|&p| p < shape.rank() && p < 64 && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::Permutation { perm: perm.to_vec(), shape, at });
        }
        let out: Vec<usize> = perm.iter().map(|&p| shape.dims()[p]).collect();
        Ok(self.gather("permute", Shape::from(out), Aux::Perm(SmallVec::from_slice(perm)), at))
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn transpose(self, a: usize, b: usize) -> Self {
        let at = Site::caller();
        let r = self.shape().and_then(|s| {
            for axis in [a, b] {
                if axis >= s.rank() {
                    return Err(Error::AxisOutOfRange { op: "transpose", axis, shape: s, at });
                }
            }
            let mut perm: Vec<usize> = (0..s.rank()).collect();
            perm.swap(a, b);
            self.permute_at(&perm, at)
        });
        Var::record(self.tape, r)
    }

    /// The transpose of a matrix (rank 2 only).
    #[track_caller]
    pub fn t(self) -> Self {
        let at = Site::caller();
        let r = self.shape().and_then(|s| {
            if s.rank() != 2 {
                return Err(Error::Rank {
                    op: "t",
                    expected: "a rank-2 tensor",
                    shape: s,
                    fix: "use .transpose(a, b) or .permute(..) to say which axes to swap".to_string(),
                    at,
                });
            }
            self.permute_at(&[1, 0], at)
        });
        Var::record(self.tape, r)
    }

    /// Grows axes of size 1 to the sizes in `shape` (same rank; never adds axes).
    /// Its adjoint sums the gradient back over the grown axes.
    #[doc(alias = "expand")]
    #[track_caller]
    pub fn broadcast_to(self, shape: impl Into<Shape>) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.broadcast_to_at(shape.into(), at))
    }

    /// [`Var::broadcast_to`], returning an incompatible shape at once.
    #[track_caller]
    pub fn try_broadcast_to(self, shape: impl Into<Shape>) -> Result<Self> {
        self.broadcast_to_at(shape.into(), Site::caller())
    }

    pub(crate) fn broadcast_to_at(self, shape: Shape, at: Site) -> Result<Self> {
        self.check_operands(&[], "broadcast_to", at)?;
        let from = self.shape()?;
        let ok = from.rank() == shape.rank()
            && from.dims().iter().zip(shape.dims()).all(|(&f, &t)| f == t || f == 1);
        if !ok {
            return Err(Error::Broadcast { from, to: shape, at });
        }
        Ok(self.gather("broadcast_to", shape, Aux::None, at))
    }

    /// `len` consecutive entries of `axis` starting at `start`.
    #[track_caller]
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.narrow_at(axis, start, len, at))
    }

    /// [`Var::narrow`], returning an out-of-range slice at once.
    #[track_caller]
    pub fn try_narrow(self, axis: usize, start: usize, len: usize) -> Result<Self> {
        self.narrow_at(axis, start, len, Site::caller())
    }

    fn narrow_at(self, axis: usize, start: usize, len: usize, at: Site) -> Result<Self> {
        self.check_operands(&[], "narrow", at)?;
        let shape = self.shape()?;
        let Some(size) = shape.dim(axis) else {
            return Err(Error::AxisOutOfRange { op: "narrow", axis, shape, at });
        };
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::Narrow { axis, start, len, shape, at });
        }
        Ok(self.gather("narrow", shape.with(axis, len), Aux::Narrow { axis, start }, at))
    }

    /// A copy of the value that passes no gradient (stop-gradient).
    #[track_caller]
    pub fn detach(self) -> Self {
        let at = Site::caller();
        let r = self.check_operands(&[], "detach", at).map(|()| {
            let mut inner = self.tape.inner.borrow_mut();
            let x = self.id;
            let shape = inner.shape(x).clone();
            let id = inner.push_with_grad_flag(
                "detach",
                [x, NONE],
                shape,
                Aux::None,
                no_backward::<T>,
                at,
                false,
                |inner, out| out.extend_from_slice(inner.val(x)),
            );
            Var::new(self.tape, id)
        });
        Var::record(self.tape, r)
    }

    pub(crate) fn concat_at(parts: &[Self], axis: usize, at: Site) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::Concat {
                message: "no tensors to concatenate".to_string(),
                fix: "pass at least one tensor".to_string(),
                at,
            });
        };
        first.check_operands(&parts[1..], "concat", at)?;
        let mut inner = first.tape.inner.borrow_mut();
        let s0 = inner.shape(first.id).clone();
        if axis >= s0.rank() {
            return Err(Error::AxisOutOfRange { op: "concat", axis, shape: s0, at });
        }
        let mut total = 0;
        for (j, p) in parts.iter().enumerate() {
            let s = inner.shape(p.id);
            let same_rest = s.rank() == s0.rank()
                && s.dims().iter().zip(s0.dims()).enumerate().all(|(i, (a, b))| i == axis || a == b);
            if !same_rest {
                return Err(Error::Concat {
                    message: format!(
                        "part {j} has shape {s}, part 0 has {s0}; they may differ only in axis {axis}"
                    ),
                    fix: "reshape or slice the parts so every other axis matches".to_string(),
                    at,
                });
            }
            total += s.dims()[axis];
        }
        let start = inner.id_pool.len();
        inner.id_pool.extend(parts.iter().map(|p| p.id));
        let requires_grad = parts.iter().any(|p| inner.nodes[p.id as usize].requires_grad);
        let shape = s0.with(axis, total);
        let (outer, _, inner_n) = shape.split_at_axis(axis);
        let aux = Aux::Inputs { start, len: parts.len(), axis };
        let id = inner.push_with_grad_flag(
            "concat",
            [parts[0].id, NONE],
            shape,
            aux,
            concat_backward::<T>,
            at,
            requires_grad,
            |inner, out| {
                let ids = &inner.id_pool[start..start + parts.len()];
                for o in 0..outer {
                    for &p in ids {
                        let blk = inner.shape(p).dims()[axis] * inner_n;
                        out.extend_from_slice(&inner.val(p)[o * blk..(o + 1) * blk]);
                    }
                }
            },
        );
        Ok(Var::new(first.tape, id))
    }

    /// Selects entries `indices` along `axis` (repeats allowed; e.g. the rows of a mini-batch).
    #[track_caller]
    pub fn index_select(self, axis: usize, indices: &[usize]) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.index_select_at(axis, indices, at))
    }

    /// [`Var::index_select`], returning a bad index at once.
    #[track_caller]
    pub fn try_index_select(self, axis: usize, indices: &[usize]) -> Result<Self> {
        self.index_select_at(axis, indices, Site::caller())
    }

    fn index_select_at(self, axis: usize, indices: &[usize], at: Site) -> Result<Self> {
        self.check_operands(&[], "index_select", at)?;
        let shape = self.shape()?;
        let Some(size) = shape.dim(axis) else {
            return Err(Error::AxisOutOfRange { op: "index_select", axis, shape, at });
        };
        check_indices("index_select", indices, axis, size, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let start = inner.index_pool.len();
        inner.index_pool.extend_from_slice(indices);
        let (outer, _, inn) = shape.split_at_axis(axis);
        let x = self.id;
        let aux = Aux::Indices { start, len: indices.len(), axis };
        let out_shape = shape.with(axis, indices.len());
        let id = inner.push(
            "index_select",
            [x, NONE],
            out_shape,
            aux,
            index_select_backward::<T>,
            at,
            |inner, out| {
                let v = inner.val(x);
                for o in 0..outer {
                    for &ix in &inner.index_pool[start..start + indices.len()] {
                        let from = (o * size + ix) * inn;
                        out.extend_from_slice(&v[from..from + inn]);
                    }
                }
            },
        );
        Ok(Var::new(self.tape, id))
    }

    /// For a matrix `[n, k]`, picks column `indices[i]` of row `i`: the result has shape `[n]`.
    /// This is how a class label selects its log-probability.
    #[track_caller]
    pub fn pick(self, indices: &[usize]) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.pick_at(indices, at))
    }

    /// [`Var::pick`], returning a bad index at once.
    #[track_caller]
    pub fn try_pick(self, indices: &[usize]) -> Result<Self> {
        self.pick_at(indices, Site::caller())
    }

    fn pick_at(self, indices: &[usize], at: Site) -> Result<Self> {
        self.check_operands(&[], "pick", at)?;
        let shape = self.shape()?;
        if shape.rank() != 2 {
            return Err(Error::Rank {
                op: "pick",
                expected: "a rank-2 tensor [rows, columns]",
                shape,
                fix: "reshape to [rows, columns] first".to_string(),
                at,
            });
        }
        let (n, k) = (shape.dims()[0], shape.dims()[1]);
        if indices.len() != n {
            return Err(Error::IndexCount { op: "pick", rows: n, given: indices.len(), at });
        }
        check_indices("pick", indices, 1, k, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let start = inner.index_pool.len();
        inner.index_pool.extend_from_slice(indices);
        let x = self.id;
        let aux = Aux::Indices { start, len: n, axis: 1 };
        let id =
            inner.push("pick", [x, NONE], Shape::from([n]), aux, pick_backward::<T>, at, |inner, out| {
                let v = inner.val(x);
                out.extend(inner.index_pool[start..start + n].iter().enumerate().map(|(i, &c)| v[i * k + c]));
            });
        Ok(Var::new(self.tape, id))
    }
}

pub(crate) fn check_indices(
    op: &'static str,
    indices: &[usize],
    axis: usize,
    size: usize,
    at: Site,
) -> Result<()> {
    match indices.iter().position(|&i| i >= size) {
        Some(position) => Err(Error::Index { op, index: indices[position], position, axis, size, at }),
        None => Ok(()),
    }
}

fn concat_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Inputs { start, len, axis } = node.aux else {
        return;
    };
    let (outer, _, inner) = node.shape.split_at_axis(axis);
    let row = node.shape.dims()[axis] * inner;
    let mut offset = 0;
    for &p in &vals.id_pool[start..start + len] {
        let blk = vals.shape(p).dims()[axis] * inner;
        if let Some(gp) = slots.get(p) {
            for o in 0..outer {
                let src = &g[o * row + offset..o * row + offset + blk];
                for (d, &s) in gp[o * blk..(o + 1) * blk].iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        offset += blk;
    }
}

fn index_select_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Indices { start, len, axis } = node.aux else {
        return;
    };
    let x = node.inputs[0];
    let (outer, size, inner) = vals.shape(x).split_at_axis(axis);
    let indices = &vals.index_pool[start..start + len];
    if let Some(gx) = slots.get(x) {
        for o in 0..outer {
            for (p, &ix) in indices.iter().enumerate() {
                let src = &g[(o * len + p) * inner..(o * len + p + 1) * inner];
                for (d, &s) in gx[(o * size + ix) * inner..(o * size + ix + 1) * inner].iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
    }
}

fn pick_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Indices { start, len, .. } = node.aux else {
        return;
    };
    let x = node.inputs[0];
    let k = vals.shape(x).dims()[1];
    if let Some(gx) = slots.get(x) {
        for (i, &c) in vals.index_pool[start..start + len].iter().enumerate() {
            gx[i * k + c] += g[i];
        }
    }
}

impl<T: Float> Tape<T> {
    /// Concatenates `parts` (all recorded on this tape) along `axis`; the other axes must agree.
    #[track_caller]
    pub fn concat<'t>(&'t self, parts: &[Var<'t, T>], axis: usize) -> Var<'t, T> {
        let at = Site::caller();
        let r = match parts.iter().find(|p| !std::ptr::eq(p.tape, self)) {
            Some(_) => Err(Error::TapeMismatch { op: "concat", at }),
            None => Var::concat_at(parts, axis, at),
        };
        Var::record(self, r)
    }

    /// [`Tape::concat`], returning a mismatch at once.
    #[track_caller]
    pub fn try_concat<'t>(&'t self, parts: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        let at = Site::caller();
        match parts.iter().find(|p| !std::ptr::eq(p.tape, self)) {
            Some(_) => Err(Error::TapeMismatch { op: "concat", at }),
            None => Var::concat_at(parts, axis, at),
        }
    }
}

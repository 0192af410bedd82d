//! The tape: a define-by-run record of operations, and the reverse sweep that turns it into
//! gradients.
//!
//! Nodes are appended in execution order, so the tape order is already a topological order:
//! `backward()` is one loop from the loss down to the first node (no recursion, so a
//! 100,000-node chain is as safe as a 3-node one). Values and gradient buffers are pooled per
//! node position and reused after [`Tape::clear`], so a training loop that records the same graph
//! every step stops allocating after its first step.

use std::cell::RefCell;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::{Error, Pass, Result, Site};
use crate::ops::custom::CustomOp;
use crate::params::{Grads, ParamId, Params};
use crate::{Float, Shape, Tensor, Var};

/// Marks a missing input / an invalid (errored) `Var`.
pub(crate) const NONE: u32 = u32::MAX;

/// Where a node's value lives.
pub(crate) enum Data<T: Float> {
    /// In the tape's pooled buffer for this node.
    Buf,
    /// Shared with a tensor outside the tape (constants and parameters: no copy).
    Shared(Arc<Vec<T>>),
}

/// Per-op data a backward rule needs besides the inputs.
#[derive(Clone)]
pub(crate) enum Aux<T: Float> {
    None,
    Scalars(T, T),
    Axis {
        axis: usize,
    },
    Narrow {
        axis: usize,
        start: usize,
    },
    Perm(SmallVec<[usize; 4]>),
    /// A range of `Inner::index_pool` (index_select, pick) along `axis`.
    Indices {
        start: usize,
        len: usize,
        axis: usize,
    },
    /// A range of `Inner::id_pool`: the inputs of a many-input op (concat, custom ops).
    Inputs {
        start: usize,
        len: usize,
        axis: usize,
    },
    Param(ParamId),
    /// A custom op: `Inner::customs[index]`, inputs in a range of `Inner::id_pool`.
    Custom {
        index: usize,
        start: usize,
        len: usize,
    },
    /// A fused op with more than two inputs (a range of `Inner::id_pool`) that computed part of
    /// its backward pass during the forward one (a range of `Inner::stash`, empty if no input
    /// needed a gradient).
    Fused {
        start: usize,
        len: usize,
        stash: usize,
        stash_len: usize,
    },
    /// Class labels, one per row (a range of `Inner::index_pool`), and a value per row that the
    /// forward pass computed for the backward one (the range of `Inner::stash` from `stash`, of
    /// the same length): `softmax_cross_entropy_mean`.
    Labels {
        start: usize,
        len: usize,
        stash: usize,
    },
}

/// A backward rule: adds the node's contribution to its inputs' gradients.
/// `g` is d(loss)/d(node), laid out like the node's value.
pub(crate) type BackwardFn<T> = fn(&Vals<'_, T>, &mut GradSlots<'_, T>, usize, &[T]);

pub(crate) struct Node<T: Float> {
    pub(crate) op: &'static str,
    pub(crate) inputs: [u32; 2],
    pub(crate) shape: Shape,
    pub(crate) aux: Aux<T>,
    pub(crate) backward: Option<BackwardFn<T>>,
    pub(crate) requires_grad: bool,
    pub(crate) site: Site,
    pub(crate) data: Data<T>,
}

pub(crate) struct Inner<T: Float> {
    pub(crate) nodes: Vec<Node<T>>,
    /// Value buffers, one per node position; kept across `clear()`.
    pub(crate) bufs: Vec<Vec<T>>,
    /// Gradient buffers, one per node position; kept across `clear()`.
    pub(crate) gbufs: Vec<Vec<T>>,
    pub(crate) has_grad: Vec<bool>,
    /// Scratch for `backward_into`: which parameters (by `ParamId` index) the pass reached.
    pub(crate) param_seen: Vec<bool>,
    pub(crate) index_pool: Vec<usize>,
    pub(crate) id_pool: Vec<u32>,
    /// Values fused ops compute in the forward pass for their backward rule (see `Aux::Fused`).
    pub(crate) stash: Vec<T>,
    /// Scratch for fused ops' per-chunk partial sums; kept across `clear()`.
    pub(crate) scratch: Vec<f64>,
    pub(crate) customs: Vec<Box<dyn CustomOp<T>>>,
    pub(crate) error: Option<Error>,
    pub(crate) anomaly: bool,
}

/// Read access to node values during the backward sweep.
pub(crate) struct Vals<'a, T: Float> {
    pub(crate) nodes: &'a [Node<T>],
    pub(crate) bufs: &'a [Vec<T>],
    pub(crate) index_pool: &'a [usize],
    pub(crate) id_pool: &'a [u32],
    pub(crate) stash: &'a [T],
    pub(crate) customs: &'a [Box<dyn CustomOp<T>>],
}

impl<'a, T: Float> Vals<'a, T> {
    pub(crate) fn node(&self, id: usize) -> &'a Node<T> {
        &self.nodes[id]
    }
    pub(crate) fn get(&self, id: u32) -> &'a [T] {
        value_of(self.nodes, self.bufs, id)
    }
    pub(crate) fn shape(&self, id: u32) -> &'a Shape {
        &self.nodes[id as usize].shape
    }
}

fn value_of<'a, T: Float>(nodes: &'a [Node<T>], bufs: &'a [Vec<T>], id: u32) -> &'a [T] {
    match &nodes[id as usize].data {
        Data::Buf => &bufs[id as usize],
        Data::Shared(a) => a,
    }
}

/// Write access to input gradients during the backward sweep.
pub(crate) struct GradSlots<'a, T: Float> {
    nodes: &'a [Node<T>],
    bufs: &'a mut [Vec<T>],
    has: &'a mut [bool],
    /// The input that [`GradSlots::pass_through`] gave the rule's own gradient to.
    passed: Option<u32>,
}

/// Adds `v`, one value per element in order, into a gradient buffer from
/// [`GradSlots::get_overwrite`]. On the pass's first contribution (`fresh`) it writes `0 + v`
/// instead of adding to the stale value: the same bits as zero-filling then adding (`0 + v` turns
/// −0 into +0, as adding to a zeroed buffer does), without the pass that zero-fills the buffer.
#[inline(always)]
pub(crate) fn add_into<T: Float>(b: &mut [T], fresh: bool, v: impl IntoIterator<Item = T>) {
    if fresh {
        for (d, v) in b.iter_mut().zip(v) {
            *d = T::zero() + v;
        }
    } else {
        for (d, v) in b.iter_mut().zip(v) {
            *d += v;
        }
    }
}

impl<T: Float> GradSlots<'_, T> {
    /// The gradient buffer of `id` (zeroed on first touch), or `None` if `id` needs no gradient.
    pub(crate) fn get(&mut self, id: u32) -> Option<&mut [T]> {
        let (b, fresh) = self.get_overwrite(id)?;
        if fresh {
            b.fill(T::zero());
        }
        Some(b)
    }

    /// Adds `v`, one value per element in order, into gradient `id`'s buffer ([`add_into`]). Does
    /// nothing if `id` needs no gradient (`v` is not run).
    #[inline(always)]
    pub(crate) fn add_each(&mut self, id: u32, v: impl IntoIterator<Item = T>) {
        if let Some((b, fresh)) = self.get_overwrite(id) {
            add_into(b, fresh, v);
        }
    }

    /// Gives the running rule's own gradient `g`, as it is, to input `id` as that input's
    /// gradient, for a rule whose gradient for `id` is `g` times one (`a + b` and `a − b` for
    /// `a`, of `g`'s shape): the sweep moves `g`'s buffer to `id` when the rule returns, and the
    /// rule's node gets `id`'s stale buffer, instead of the rule copying `g` (a 128 KB pass for
    /// W2's `[128, 256]` bias add). Returns whether it will; if so the rule must not write
    /// `id`'s gradient, and may still read `g`. Only for the pass's first contribution to `id`
    /// (later ones add to it). The bits are the copy's: the copy writes `0 + g`, which differs
    /// from `g` only for a −0, and no gradient holds one, since every rule's first write is
    /// `0 + v` and later ones add.
    pub(crate) fn pass_through(&mut self, id: u32, len: usize) -> bool {
        if id == NONE || self.passed.is_some() {
            return false;
        }
        let (i, node) = (id as usize, &self.nodes[id as usize]);
        // The input's buffer must hold `len` values already, since the rule's node gets it in
        // exchange: a pass that would allocate it copies instead, so the passes after the first
        // allocate nothing, as without the exchange.
        let roomy = self.bufs[i].capacity() >= len;
        if !node.requires_grad || self.has[i] || node.shape.numel() != len || !roomy {
            return false;
        }
        self.has[i] = true;
        self.passed = Some(id);
        true
    }

    /// The gradient buffer of `id` for a rule that can overwrite it, and whether it must:
    /// `(buffer, fresh)`, or `None` if `id` needs no gradient. When `fresh`, this is the pass's
    /// first contribution to `id`, and the buffer holds stale values (an earlier pass's, or zeros;
    /// never uninitialized memory): the rule must write every element. Otherwise it adds, as with
    /// [`GradSlots::get`]. Saves zero-filling a buffer that is overwritten anyway (a GEMM with
    /// `beta = 0`).
    pub(crate) fn get_overwrite(&mut self, id: u32) -> Option<(&mut [T], bool)> {
        if id == NONE {
            return None;
        }
        let i = id as usize;
        let node = &self.nodes[i];
        if !node.requires_grad {
            return None;
        }
        let fresh = !self.has[i];
        if fresh {
            let (b, n) = (&mut self.bufs[i], node.shape.numel());
            if b.len() != n {
                b.clear();
                b.resize(n, T::zero());
            }
            self.has[i] = true;
        }
        Some((&mut self.bufs[i], fresh))
    }
}

impl<T: Float> Inner<T> {
    pub(crate) fn val(&self, id: u32) -> &[T] {
        value_of(&self.nodes, &self.bufs, id)
    }

    pub(crate) fn shape(&self, id: u32) -> &Shape {
        &self.nodes[id as usize].shape
    }

    /// Records the first error; later ones are consequences of it and are dropped.
    pub(crate) fn poison(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn leaf(&mut self, op: &'static str, t: &Tensor<T>, aux: Aux<T>, requires_grad: bool, site: Site) -> u32 {
        let id = self.nodes.len();
        self.nodes.push(Node {
            op,
            inputs: [NONE, NONE],
            shape: t.shape().clone(),
            aux,
            backward: None,
            requires_grad,
            site,
            data: Data::Shared(Arc::clone(t.arc())),
        });
        id as u32
    }

    /// Appends an op node whose value `fill` writes into an empty (pooled) buffer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        op: &'static str,
        inputs: [u32; 2],
        shape: Shape,
        aux: Aux<T>,
        backward: BackwardFn<T>,
        site: Site,
        fill: impl FnOnce(&Self, &mut Vec<T>),
    ) -> u32 {
        let requires_grad = inputs.iter().any(|&i| i != NONE && self.nodes[i as usize].requires_grad);
        self.push_with_grad_flag(op, inputs, shape, aux, backward, site, requires_grad, fill)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_with_grad_flag(
        &mut self,
        op: &'static str,
        inputs: [u32; 2],
        shape: Shape,
        aux: Aux<T>,
        backward: BackwardFn<T>,
        site: Site,
        requires_grad: bool,
        fill: impl FnOnce(&Self, &mut Vec<T>),
    ) -> u32 {
        let id = self.nodes.len();
        if self.bufs.len() <= id {
            self.bufs.resize_with(id + 1, Vec::new);
        }
        let mut out = std::mem::take(&mut self.bufs[id]);
        out.clear();
        fill(self, &mut out);
        debug_assert_eq!(out.len(), shape.numel(), "{op}: kernel wrote the wrong length");
        self.bufs[id] = out;
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            aux,
            backward: Some(backward),
            requires_grad,
            site,
            data: Data::Buf,
        });
        if self.anomaly {
            self.check_forward(id);
        }
        id as u32
    }

    fn check_forward(&mut self, id: usize) {
        let out = &self.bufs[id];
        let Some(k) = out.iter().position(|x| !x.is_finite()) else {
            return;
        };
        let node = &self.nodes[id];
        let mut inputs_finite = true;
        let mut shown = Vec::new();
        for (n, &inp) in node.inputs.iter().enumerate() {
            if inp == NONE {
                continue;
            }
            let v = self.val(inp);
            inputs_finite &= v.iter().all(|x| x.is_finite());
            if v.len() == out.len() {
                shown.push(format!("input {n}[{k}] = {}", v[k]));
            } else if v.len() == 1 {
                shown.push(format!("input {n} = {}", v[0]));
            }
        }
        let cause = if inputs_finite {
            "its inputs were all finite, so this op is where the values broke"
        } else {
            "an input already held non-finite values (check the data or constants feeding it)"
        };
        let detail = if shown.is_empty() {
            format!("first at output element {k}; {cause}")
        } else {
            format!("first at output element {k} ({}); {cause}", shown.join(", "))
        };
        let e = Error::NonFinite {
            op: node.op,
            what: describe(out[k]),
            pass: Pass::Forward,
            at: node.site,
            detail,
        };
        self.poison(e);
    }
}

fn describe<T: Float>(x: T) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > T::zero() {
        "inf"
    } else {
        "-inf"
    }
}

/// A define-by-run tape of operations over `f32` or `f64` values.
///
/// Bring tensors onto it with [`Tape::constant`] (no gradient) and [`Tape::param`] (trainable),
/// combine the returned [`Var`]s with ordinary arithmetic, and call [`Var::backward`] on a scalar.
/// Shape mistakes do not panic: the first one is recorded and returned by `value()` and
/// `backward()`; `try_*` forms return it at once.
pub struct Tape<T: Float> {
    pub(crate) inner: RefCell<Inner<T>>,
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            inner: RefCell::new(Inner {
                nodes: Vec::new(),
                bufs: Vec::new(),
                gbufs: Vec::new(),
                has_grad: Vec::new(),
                param_seen: Vec::new(),
                index_pool: Vec::new(),
                id_pool: Vec::new(),
                stash: Vec::new(),
                scratch: Vec::new(),
                customs: Vec::new(),
                error: None,
                anomaly: false,
            }),
        }
    }

    /// An empty tape in anomaly mode (see [`Tape::set_anomaly`]).
    pub fn with_anomaly() -> Self {
        let t = Self::new();
        t.inner.borrow_mut().anomaly = true;
        t
    }

    /// Anomaly mode checks every op's output in the forward pass and every gradient in the
    /// backward pass, and reports the first op that produced NaN or ±inf (with its name and your
    /// source line) as an [`Error::NonFinite`]. It costs one scan per op; off by default.
    pub fn set_anomaly(&mut self, on: bool) {
        self.inner.get_mut().anomaly = on;
    }

    /// Forgets every recorded node and error, keeping the buffers for the next step.
    pub fn clear(&mut self) {
        let inner = self.inner.get_mut();
        inner.nodes.clear();
        inner.index_pool.clear();
        inner.id_pool.clear();
        inner.stash.clear();
        inner.customs.clear();
        inner.error = None;
    }

    /// The number of recorded nodes.
    pub fn len(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first error recorded on this tape, if any.
    pub fn error(&self) -> Option<Error> {
        self.inner.borrow().error.clone()
    }

    /// `Err` with the first recorded error, if any.
    pub fn check(&self) -> Result<()> {
        match self.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The op name of every recorded node, in recording order.
    pub fn op_names(&self) -> Vec<&'static str> {
        self.inner.borrow().nodes.iter().map(|n| n.op).collect()
    }

    /// Brings a tensor onto the tape as a constant (no gradient). The data is shared, not copied.
    #[track_caller]
    pub fn constant(&self, t: &Tensor<T>) -> Var<'_, T> {
        let site = Site::caller();
        let id = self.inner.borrow_mut().leaf("constant", t, Aux::None, false, site);
        Var::new(self, id)
    }

    /// A rank-0 constant.
    #[track_caller]
    pub fn scalar(&self, value: T) -> Var<'_, T> {
        self.constant(&Tensor::scalar(value))
    }

    /// Brings a trainable parameter onto the tape; `backward()` returns its gradient under `id`.
    /// The data is shared, not copied.
    #[track_caller]
    pub fn param(&self, params: &Params<T>, id: ParamId) -> Var<'_, T> {
        let site = Site::caller();
        let mut inner = self.inner.borrow_mut();
        match params.try_get(id) {
            Ok(t) => {
                let n = inner.leaf("param", t, Aux::Param(id), true, site);
                Var::new(self, n)
            }
            Err(e) => {
                inner.poison(e);
                Var::new(self, NONE)
            }
        }
    }

    /// Runs the reverse sweep from `loss` and adds parameter gradients into `out` (which is
    /// reset first; its buffers are reused).
    pub(crate) fn backward_into(&self, loss: u32, site: Site, out: &mut Grads<T>) -> Result<()> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if let Some(e) = &inner.error {
            return Err(e.clone());
        }
        let shape = &inner.nodes[loss as usize].shape;
        if !shape.is_scalar() {
            return Err(Error::NonScalarBackward { shape: shape.clone(), at: site });
        }
        let n = loss as usize + 1;
        if inner.gbufs.len() < n {
            inner.gbufs.resize_with(n, Vec::new);
        }
        if inner.has_grad.len() < n {
            inner.has_grad.resize(n, false);
        }
        inner.has_grad[..n].fill(false);
        let Inner {
            nodes,
            bufs,
            gbufs,
            has_grad,
            param_seen,
            index_pool,
            id_pool,
            stash,
            customs,
            anomaly,
            ..
        } = inner;
        let nodes = &nodes[..n];
        let vals = Vals { nodes, bufs, index_pool, id_pool, stash, customs };
        if nodes[loss as usize].requires_grad {
            let g = &mut gbufs[loss as usize];
            g.clear();
            g.push(T::one());
            has_grad[loss as usize] = true;
        }
        let mut anomaly_err = None;
        for i in (0..n).rev() {
            if !has_grad[i] {
                continue;
            }
            let Some(rule) = nodes[i].backward else {
                continue;
            };
            let g = std::mem::take(&mut gbufs[i]);
            let mut slots = GradSlots { nodes, bufs: &mut gbufs[..n], has: &mut has_grad[..n], passed: None };
            rule(&vals, &mut slots, i, &g);
            gbufs[i] = match slots.passed {
                // The input's stale buffer comes back to this node, which overwrites it next pass.
                Some(to) => std::mem::replace(&mut gbufs[to as usize], g),
                None => g,
            };
            if *anomaly && anomaly_err.is_none() {
                anomaly_err = check_backward(&vals, gbufs, has_grad, i);
            }
        }
        if let Some(e) = anomaly_err {
            inner_poison(&mut guard, e.clone());
            return Err(e);
        }
        // Overwrite `out` in place (its buffers are reused): the first contribution of each
        // parameter replaces the old value, later ones (a parameter brought on twice) add.
        let seen = param_seen;
        seen.clear();
        for (i, node) in nodes.iter().enumerate() {
            if let Aux::Param(pid) = node.aux {
                if !has_grad[i] {
                    let b = &mut gbufs[i];
                    b.clear();
                    b.resize(node.shape.numel(), T::zero());
                    has_grad[i] = true;
                }
                let k = pid.index();
                if seen.len() <= k {
                    seen.resize(k + 1, false);
                }
                out.write(pid, &node.shape, &mut gbufs[i], !seen[k]);
                seen[k] = true;
            }
        }
        out.finish(seen);
        Ok(())
    }
}

fn inner_poison<T: Float>(inner: &mut Inner<T>, e: Error) {
    inner.poison(e);
}

/// After node `i`'s rule ran: did it write a non-finite value into an input's gradient?
fn check_backward<T: Float>(vals: &Vals<'_, T>, gbufs: &[Vec<T>], has: &[bool], i: usize) -> Option<Error> {
    let node = vals.node(i);
    let mut inputs: SmallVec<[u32; 4]> = node.inputs.iter().copied().filter(|&x| x != NONE).collect();
    if let Aux::Inputs { start, len, .. } | Aux::Custom { start, len, .. } | Aux::Fused { start, len, .. } =
        node.aux
    {
        inputs.extend_from_slice(&vals.id_pool[start..start + len]);
    }
    for inp in inputs {
        let j = inp as usize;
        if !has[j] {
            continue;
        }
        if let Some(k) = gbufs[j].iter().position(|x| !x.is_finite()) {
            return Some(Error::NonFinite {
                op: node.op,
                what: describe(gbufs[j][k]),
                pass: Pass::Backward,
                at: node.site,
                detail: format!(
                    "first at element {k} of the gradient of its input `{}` (recorded at {}); the incoming gradient was finite",
                    vals.node(j).op,
                    vals.node(j).site
                ),
            });
        }
    }
    None
}

//! The one error type of the tensor crate.
//!
//! Every variant names the op, the shapes (and the axis), the user's call site (captured with
//! `#[track_caller]`), and a one-line fix. Arithmetic on the tape records the first error and
//! returns it from [`Var::value`](crate::Var::value) / [`Var::backward`](crate::Var::backward);
//! `try_*` forms return it at once.

use std::fmt;
use std::panic::Location;

use crate::Shape;

/// Result alias used throughout downhill.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The user's source line where an op was called (`src/main.rs:14:22`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Site(&'static Location<'static>);

impl Site {
    /// The caller of the `#[track_caller]` function this is called from.
    #[track_caller]
    pub fn caller() -> Self {
        Site(Location::caller())
    }

    /// The source file.
    pub fn file(&self) -> &'static str {
        self.0.file()
    }

    /// The line (1-based).
    pub fn line(&self) -> u32 {
        self.0.line()
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0.file(), self.0.line(), self.0.column())
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Forward or backward pass, for anomaly reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The op computed its value.
    Forward,
    /// The op propagated a gradient to its inputs.
    Backward,
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        })
    }
}

/// Everything a user can get wrong with tensors and the tape.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An elementwise op got two tensors of different shapes.
    #[error(
        "{op}: shapes {lhs} and {rhs} differ{} at {at}; {}",
        rank_note(lhs, rhs),
        elementwise_fix(lhs, rhs)
    )]
    ShapeMismatch {
        /// The op (`"add"`, `"sub"`, a loss name, ...).
        op: &'static str,
        /// Left operand (or prediction) shape.
        lhs: Shape,
        /// Right operand (or target) shape.
        rhs: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// `matmul` operands whose inner dimensions disagree.
    #[error("matmul: {lhs} · {rhs} do not multiply at {at}; {}", matmul_fix(lhs, rhs))]
    MatmulShape {
        /// Left operand shape.
        lhs: Shape,
        /// Right operand shape.
        rhs: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// An op that needs a particular rank got another.
    #[error("{op}: needs {expected}, got shape {shape} at {at}; {fix}")]
    Rank {
        /// The op.
        op: &'static str,
        /// What it needs, e.g. `"a rank-2 tensor"`.
        expected: &'static str,
        /// What it got.
        shape: Shape,
        /// A one-line fix.
        fix: String,
        /// Where the op was called.
        at: Site,
    },

    /// An axis argument beyond the tensor's rank.
    #[error("{op}: axis {axis} is out of range for shape {shape} (rank {}) at {at}; axes run from 0 to {}", shape.rank(), shape.rank().saturating_sub(1))]
    AxisOutOfRange {
        /// The op.
        op: &'static str,
        /// The axis asked for.
        axis: usize,
        /// The tensor's shape.
        shape: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// `broadcast_to` to a shape the source cannot grow into.
    #[error("broadcast_to: cannot broadcast {from} to {to} at {at}; {}", broadcast_fix(from, to))]
    Broadcast {
        /// Source shape.
        from: Shape,
        /// Requested shape.
        to: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// `reshape` to a shape with another element count.
    #[error("reshape: {from} has {} elements but {to} has {} at {at}; the element counts must match", from.numel(), to.numel())]
    Reshape {
        /// Source shape.
        from: Shape,
        /// Requested shape.
        to: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// `permute` with something that is not a permutation of the axes.
    #[error("permute: {perm:?} is not a permutation of the {} axes of {shape} at {at}; list every axis from 0 to {} exactly once", shape.rank(), shape.rank().saturating_sub(1))]
    Permutation {
        /// The order asked for.
        perm: Vec<usize>,
        /// The tensor's shape.
        shape: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// `concat` of tensors whose other axes disagree (or of nothing).
    #[error("concat: {message} at {at}; {fix}")]
    Concat {
        /// What disagrees.
        message: String,
        /// A one-line fix.
        fix: String,
        /// Where the op was called.
        at: Site,
    },

    /// `narrow` past the end of an axis.
    #[error("narrow: rows {start}..{} are outside axis {axis} of shape {shape} (size {}) at {at}; keep start + len <= {}", start + len, shape.dim(*axis).unwrap_or(0), shape.dim(*axis).unwrap_or(0))]
    Narrow {
        /// The axis.
        axis: usize,
        /// First index.
        start: usize,
        /// Number of indices.
        len: usize,
        /// The tensor's shape.
        shape: Shape,
        /// Where the op was called.
        at: Site,
    },

    /// An index (a row id, a class label) out of range.
    #[error("{op}: index {index} (position {position}) is out of range for axis {axis} of size {size} at {at}; indices run from 0 to {}", size.saturating_sub(1))]
    Index {
        /// The op (`"index_select"`, `"pick"`).
        op: &'static str,
        /// The offending index value.
        index: usize,
        /// Its position in the index list.
        position: usize,
        /// The axis indexed.
        axis: usize,
        /// The size of that axis.
        size: usize,
        /// Where the op was called.
        at: Site,
    },

    /// `pick` with a label count that differs from the row count.
    #[error("{op}: {rows} rows but {given} indices at {at}; pass exactly one index per row")]
    IndexCount {
        /// The op.
        op: &'static str,
        /// Rows of the tensor.
        rows: usize,
        /// Indices given.
        given: usize,
        /// Where the op was called.
        at: Site,
    },

    /// A data buffer whose length does not match the shape.
    #[error("{op}: shape {shape} needs {} elements, got {len} at {at}; pass a buffer of exactly that length or fix the shape", shape.numel())]
    DataLength {
        /// The constructor.
        op: &'static str,
        /// The shape asked for.
        shape: Shape,
        /// The buffer length given.
        len: usize,
        /// Where it was called.
        at: Site,
    },

    /// A bad scalar argument (a negative std, `clamp` with min > max, a zero step, ...).
    #[error("{op}: {message} at {at}")]
    InvalidArgument {
        /// The op or constructor.
        op: &'static str,
        /// What is wrong and how to fix it.
        message: String,
        /// Where it was called.
        at: Site,
    },

    /// `backward` from a non-scalar.
    #[error(
        "backward: the loss must be a scalar (shape []), got {shape} at {at}; reduce it first, e.g. .sum() or .mean()"
    )]
    NonScalarBackward {
        /// The shape of what `backward` was called on.
        shape: Shape,
        /// Where `backward` was called.
        at: Site,
    },

    /// `item` on a tensor with more than one element.
    #[error("item: needs a single-element tensor, got shape {shape} at {at}; reduce it first or index it")]
    NotScalar {
        /// The tensor's shape.
        shape: Shape,
        /// Where it was called.
        at: Site,
    },

    /// Anomaly mode: the first op whose forward or backward pass produced NaN or ±inf.
    #[error("anomaly: `{op}` produced {what} in its {pass} pass at {at}; {detail}")]
    NonFinite {
        /// The op.
        op: &'static str,
        /// `"NaN"`, `"inf"` or `"-inf"`.
        what: &'static str,
        /// Forward or backward.
        pass: Pass,
        /// Where the op was called.
        at: Site,
        /// The element and the likely cause.
        detail: String,
    },

    /// Two operands recorded on different tapes.
    #[error(
        "{op}: the operands live on different tapes at {at}; record both on one tape (bring the constant or parameter onto this tape with tape.constant / tape.param)"
    )]
    TapeMismatch {
        /// The op.
        op: &'static str,
        /// Where the op was called.
        at: Site,
    },

    /// A parameter name used twice in one `Params` store.
    #[error(
        "params: a parameter named {name:?} already exists; rename one of them (names are how checkpoints and optimizer state find parameters)"
    )]
    DuplicateParam {
        /// The name.
        name: String,
    },

    /// A parameter name or id that the store does not hold.
    #[error("params: no parameter {what}; the store holds {available}")]
    UnknownParam {
        /// The name or id asked for.
        what: String,
        /// The names it does hold.
        available: String,
    },

    /// A gradient asked for a parameter that was never on the tape.
    #[error(
        "grads: parameter {id} has no gradient; bring it onto the tape with tape.param before calling backward"
    )]
    NoGradient {
        /// The parameter's index.
        id: usize,
    },

    /// A file could not be read or written.
    #[error("io: cannot {action} {path}: {message}")]
    Io {
        /// `"read"`, `"write"`, ...
        action: &'static str,
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },

    /// A file that is not a valid safetensors file.
    #[error(
        "safetensors: {path} is not a valid safetensors file ({message}); was it written by a safetensors writer and copied whole?"
    )]
    Safetensors {
        /// The file (or `"<bytes>"`).
        path: String,
        /// What the parser found.
        message: String,
    },

    /// A stored tensor of another element type than the one asked for.
    #[error(
        "safetensors: tensor {name:?} in {path} is {found}, not {expected}; load it with the matching float type (f32 or f64) or convert the file"
    )]
    Dtype {
        /// Tensor name.
        name: String,
        /// The file.
        path: String,
        /// The element type asked for.
        expected: &'static str,
        /// The element type stored.
        found: String,
    },

    /// A parameter with no tensor of its name in a file.
    #[error("load: {path} has no tensor {name:?} (it holds {available}); was it saved from the same model?")]
    MissingTensor {
        /// The parameter name.
        name: String,
        /// The file.
        path: String,
        /// The names the file holds.
        available: String,
    },

    /// Tensors in a file that the store has no parameter for.
    #[error(
        "load: {path} holds tensors the model does not have: {names:?}; was it saved from another model (or a model with other layer names)?"
    )]
    UnexpectedTensors {
        /// The file.
        path: String,
        /// The unknown names.
        names: Vec<String>,
    },

    /// A stored tensor whose shape differs from the parameter's.
    #[error(
        "load: tensor {name:?} in {path} has shape {found}, the model's parameter has {expected}; was it saved from a model with other layer sizes?"
    )]
    TensorShape {
        /// Tensor name.
        name: Box<str>,
        /// The file.
        path: Box<str>,
        /// The parameter's shape.
        expected: Shape,
        /// The stored shape.
        found: Shape,
    },

    /// A loss given a prediction and a target of different shapes.
    #[error("{loss}: prediction is {pred} but target is {target} at {at}; {}", loss_fix(pred, target))]
    LossShape {
        /// The loss (`"mse_loss"`, `"bce_with_logits_loss"`, ...).
        loss: &'static str,
        /// The prediction's shape.
        pred: Shape,
        /// The target's shape.
        target: Shape,
        /// Where the loss was called.
        at: Site,
    },

    /// A classification loss given a label count that differs from the number of rows.
    #[error(
        "{loss}: the logits have {rows} rows but {labels} labels were given at {at}; pass exactly one class label per row (the same batch for both)"
    )]
    LabelCount {
        /// The loss.
        loss: &'static str,
        /// Rows of the logits.
        rows: usize,
        /// Labels given.
        labels: usize,
        /// Where the loss was called.
        at: Site,
    },

    /// A class label that is not smaller than the number of classes.
    #[error(
        "{loss}: label {label} (row {row}) is out of range for {classes} classes at {at}; labels run from 0 to {}: are they 1-based, or is the model's output width wrong?",
        classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// The loss.
        loss: &'static str,
        /// The offending label.
        label: usize,
        /// Its row.
        row: usize,
        /// The number of classes (columns of the logits).
        classes: usize,
        /// Where the loss was called.
        at: Site,
    },

    /// A layer given an input whose shape it cannot take.
    #[error("{layer}: needs an input of shape {expected}, got {got} at {at}; {fix}")]
    LayerInput {
        /// The layer, with its name and sizes (`"linear fc1 (3 -> 4)"`).
        layer: Box<str>,
        /// The shape it needs, e.g. `"[batch, 3]"`.
        expected: Box<str>,
        /// The shape it got.
        got: Shape,
        /// A one-line fix.
        fix: Box<str>,
        /// Where the layer was called.
        at: Site,
    },

    /// An in-place update whose shape differs from the parameter's.
    #[error(
        "params: {name:?} has shape {expected}, the update has {got}; updates must match the parameter's shape"
    )]
    ParamShape {
        /// The parameter's name.
        name: String,
        /// The parameter's shape.
        expected: Shape,
        /// The update's shape.
        got: Shape,
    },

    /// An optimizer, clipping or schedule setting outside its valid range.
    #[error("{owner}: {name} = {value} is out of range; it must be {expected}")]
    Hyperparameter {
        /// The optimizer, clip or schedule (`"adam"`, `"cosine schedule"`, ...).
        owner: &'static str,
        /// The setting (`"lr"`, `"beta2"`, ...).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range and a typical value, e.g. `"in [0, 1) (typical: 0.999)"`.
        expected: &'static str,
    },

    /// Optimizer state saved by another kind of optimizer.
    #[error(
        "optimizer state: {origin} holds {found:?} state but this optimizer is {expected:?}; load it into the kind of optimizer that saved it ({found}), built with the same settings"
    )]
    StateKind {
        /// Where the state came from (a path or `"<bytes>"`).
        origin: String,
        /// This optimizer's kind.
        expected: String,
        /// The kind stored in the state.
        found: String,
    },

    /// Optimizer state for a parameter the store does not have.
    #[error(
        "optimizer state: {origin} holds state for parameter {name:?}, which the model does not have (it has {available}); was it saved from another model?"
    )]
    StateUnknownParam {
        /// Where the state came from.
        origin: String,
        /// The parameter name stored in the state.
        name: String,
        /// The store's parameter names.
        available: String,
    },

    /// A parameter of the store that the saved state does not cover.
    #[error(
        "optimizer state: {origin} has no entry for parameter {name:?} (it covers {covered}); was it saved from a model with other parameters?"
    )]
    StateMissingParam {
        /// Where the state came from.
        origin: String,
        /// The store's parameter that is missing from the state.
        name: String,
        /// The parameter names the state covers.
        covered: String,
    },

    /// A state tensor whose shape differs from its parameter's.
    #[error(
        "optimizer state: tensor {tensor:?} in {origin} has shape {found}, its parameter has {expected}; was it saved from a model with other layer sizes?"
    )]
    StateShape {
        /// Where the state came from.
        origin: Box<str>,
        /// The state tensor, `{buffer}/{parameter}` (e.g. `"exp_avg/fc1.weight"`).
        tensor: Box<str>,
        /// The shape it must have.
        expected: Shape,
        /// The stored shape.
        found: Shape,
    },

    /// A setting that differs between the saved state and the optimizer it is loaded into.
    #[error(
        "optimizer state: {field} is {saved} in {origin} but {current} in this optimizer; build the optimizer with the saved settings to resume exactly"
    )]
    StateMismatch {
        /// Where the state came from.
        origin: String,
        /// The setting (`"lr"`, `"schedule"`, `"weight_decay"`, ...).
        field: String,
        /// Its saved value.
        saved: String,
        /// Its value in this optimizer.
        current: String,
    },

    /// Optimizer state that is malformed (a missing buffer, unreadable metadata).
    #[error(
        "optimizer state: {origin} is malformed: {message}; was it written by downhill's optimizer state writer and copied whole?"
    )]
    StateCorrupt {
        /// Where the state came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The error of a mean over the rows of a batch that has none (a loss of an empty batch is
    /// undefined): an [`Error::InvalidArgument`] naming `op` and `at`.
    pub fn no_rows(op: &'static str, what: &str, at: Site) -> Self {
        Error::InvalidArgument {
            op,
            message: format!("{what} have no rows, so the mean loss is undefined; pass at least one example"),
            at,
        }
    }
}

fn rank_note(lhs: &Shape, rhs: &Shape) -> String {
    if lhs.rank() != rhs.rank() { format!(" (rank {} vs {})", lhs.rank(), rhs.rank()) } else { String::new() }
}

/// The shape two same-rank shapes would broadcast to under numpy's rules, if any.
fn numpy_broadcast(lhs: &Shape, rhs: &Shape) -> Option<Shape> {
    if lhs.rank() != rhs.rank() {
        return None;
    }
    let mut out = Vec::with_capacity(lhs.rank());
    for (&a, &b) in lhs.dims().iter().zip(rhs.dims()) {
        out.push(match (a, b) {
            _ if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return None,
        });
    }
    Some(Shape::from(out))
}

fn elementwise_fix(lhs: &Shape, rhs: &Shape) -> String {
    if lhs.rank() != rhs.rank() {
        let (big, small_side) = if lhs.rank() > rhs.rank() { (lhs, "right") } else { (rhs, "left") };
        if lhs.numel() == rhs.numel() {
            return format!("reshape one side, e.g. the {small_side} operand with .reshape({big})");
        }
        return "plain ops never add axes: reshape or slice one side so both shapes are equal".to_string();
    }
    match numpy_broadcast(lhs, rhs) {
        Some(target) if &target != lhs && &target != rhs => format!(
            "numpy would silently broadcast both to {target}, which is rarely meant: for an \
             elementwise op transpose one side (.t()); for all pairs broadcast both explicitly \
             with .broadcast_to({target})"
        ),
        Some(target) => {
            let side = if &target == lhs { "right" } else { "left" };
            format!(
                "broadcast the {side} operand explicitly with .broadcast_to({target}) (or use \
                 a broadcast_* op)"
            )
        }
        None => "the shapes are incompatible; check that you passed the operands you meant".to_string(),
    }
}

fn loss_fix(pred: &Shape, target: &Shape) -> String {
    if pred.numel() == target.numel() {
        format!("reshape the target with .reshape({pred})")
    } else {
        format!(
            "they hold {} and {} elements: check that the prediction and the target come from the same batch and the model has the right output width",
            pred.numel(),
            target.numel()
        )
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("{n} {what}") } else { format!("{n} {what}s") }
}

fn matmul_fix(lhs: &Shape, rhs: &Shape) -> String {
    let (ld, rd) = (lhs.dims(), rhs.dims());
    let (r, c) = (ld.len(), rd.len());
    if r != c || r < 2 {
        return "both operands need the same rank: [m, k] · [k, n], or [b, m, k] · [b, k, n] for a batch"
            .to_string();
    }
    if r == 3 && ld[0] != rd[0] {
        return format!(
            "the batch sizes differ ({} vs {}); both operands need the same leading batch axis",
            ld[0], rd[0]
        );
    }
    let k_l = ld[r - 1];
    let k_r = rd[c - 2];
    let clash =
        format!("the left operand has {} but the right has {}", plural(k_l, "column"), plural(k_r, "row"));
    if k_l == rd[c - 1] {
        format!("{clash}; did you mean the right operand transposed (.t())?")
    } else if ld[r - 2] == k_r {
        format!("{clash}; did you mean the left operand transposed (.t())?")
    } else {
        format!("{clash}; the left operand's columns must equal the right operand's rows")
    }
}

fn broadcast_fix(from: &Shape, to: &Shape) -> String {
    if from.rank() != to.rank() {
        return format!(
            "broadcast_to never adds axes: add them first with .reshape (e.g. {from} to a rank-{} \
             shape with 1 in the new axes)",
            to.rank()
        );
    }
    "only axes of size 1 can grow; the other axes must already match".to_string()
}

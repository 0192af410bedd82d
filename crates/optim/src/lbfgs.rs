//! L-BFGS for full-batch problems: PyTorch's `torch.optim.LBFGS`, including its `strong_wolfe`
//! line search, step for step.

use std::collections::VecDeque;

use downhill_tensor::{Error, Float, Grads, Params, Result, Shape, Tensor};

use crate::check;
use crate::state::{OptimizerState, num};

/// The line search of [`Lbfgs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineSearch {
    /// A fixed step of `lr` (PyTorch's `line_search_fn=None`, its default).
    #[default]
    None,
    /// A line search satisfying the strong Wolfe conditions (`c1 = 1e-4`, `c2 = 0.9`, at most
    /// 25 evaluations), bracketing then zooming with cubic interpolation (PyTorch's
    /// `line_search_fn="strong_wolfe"`, ported from minFunc). The robust choice.
    StrongWolfe,
}

/// Settings of [`Lbfgs`].
///
/// | setting | default | PyTorch `LBFGS` | optax `lbfgs` |
/// |---|---|---|---|
/// | `lr` | 1 | 1 | `None` (line search picks it) |
/// | `max_iter` (iterations per `step`) | 20 | 20 | one iteration per update |
/// | `max_eval` (evaluations per `step`) | `max_iter·5/4` | `max_iter·5/4` | — |
/// | `tolerance_grad` (on `max|g|`) | 1e-7 | 1e-7 | — |
/// | `tolerance_change` | 1e-9 | 1e-9 | — |
/// | `history_size` | 100 | 100 | `memory_size = 10` |
/// | `line_search` | `None` | `None` | zoom line search (strong Wolfe) |
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Step length (the first trial step of the line search). Default 1.
    pub lr: f64,
    /// Maximum iterations per [`Lbfgs::step`] (>= 1). Default 20.
    pub max_iter: u64,
    /// Maximum loss evaluations per [`Lbfgs::step`]; `None` is `max_iter·5/4`.
    pub max_eval: Option<u64>,
    /// Stop when `max|g| <= tolerance_grad`. Default 1e-7.
    pub tolerance_grad: f64,
    /// Stop when the loss or the step changes by less than this. Default 1e-9.
    pub tolerance_change: f64,
    /// Number of `(s, y)` pairs kept (>= 1). Default 100.
    pub history_size: u64,
    /// Line search. Default [`LineSearch::None`] (as PyTorch); use `StrongWolfe` unless you need
    /// PyTorch's default.
    pub line_search: LineSearch,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search: LineSearch::None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Memory<T: Float> {
    func_evals: u64,
    n_iter: u64,
    d: Option<Vec<T>>,
    t: f64,
    old_dirs: VecDeque<Vec<T>>,
    old_stps: VecDeque<Vec<T>>,
    ro: VecDeque<f64>,
    h_diag: f64,
    prev_flat_grad: Option<Vec<T>>,
    prev_loss: f64,
}

/// Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989): a quasi-Newton method that builds an
/// inverse-Hessian approximation from the last `history_size` steps `s` and gradient changes `y`
/// (the two-loop recursion) and moves along it with a fixed step or a strong-Wolfe line search.
///
/// For full-batch, deterministic problems: it needs to re-evaluate the loss and the gradients
/// several times per step, so [`Lbfgs::step`] takes a closure instead of gradients. One `step`
/// runs up to `max_iter` iterations, as PyTorch's does; the algorithm (history updates, the
/// `ys > 1e-10` curvature check, the first step `min(1, 1/‖g‖₁)·lr`, the stopping tests) follows
/// `torch.optim.LBFGS` line by line, so the trajectories match PyTorch's (see the golden tests).
///
/// ```
/// use downhill_optim::{Lbfgs, LbfgsConfig, LineSearch};
/// use downhill_tensor::{Params, Tape, Tensor};
/// // Minimize (x - 3)² + 10·(y + 1)².
/// let mut params = Params::new();
/// let p = params.insert("p", Tensor::vector(&[0.0f64, 0.0]))?;
/// let target = Tensor::vector(&[3.0, -1.0]);
/// let weights = Tensor::vector(&[1.0, 10.0]);
/// let mut opt = Lbfgs::new(LbfgsConfig { line_search: LineSearch::StrongWolfe, ..Default::default() })?;
/// opt.step(&mut params, |params| {
///     let tape = Tape::new();
///     let loss = ((tape.param(params, p) - tape.constant(&target)).square() * tape.constant(&weights)).sum();
///     Ok((loss.item()?, loss.backward()?))
/// })?;
/// let x = params.get(p).data();
/// assert!((x[0] - 3.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6);
/// # Ok::<(), downhill_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lbfgs<T: Float> {
    config: LbfgsConfig,
    steps: u64,
    mem: Memory<T>,
}

const KIND: &str = "lbfgs";

fn dot<T: Float>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.f64() * y.f64()).sum()
}

fn max_abs<T: Float>(a: &[T]) -> f64 {
    a.iter().fold(0.0, |m: f64, x| py_max(m, x.f64().abs()))
}

/// Python's `max(a, b)`: `a` unless `b > a` (so a NaN in `a` propagates).
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `a` unless `b < a`.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// Minimizer of the cubic through `(x1, f1, g1)` and `(x2, f2, g2)`, clamped to `bounds`.
fn cubic_interpolate(
    x1: f64,
    f1: f64,
    g1: f64,
    x2: f64,
    f2: f64,
    g2: f64,
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        py_min(py_max(min_pos, lo), hi)
    } else {
        (lo + hi) / 2.0
    }
}

impl<T: Float> Lbfgs<T> {
    /// Validates the settings.
    pub fn new(config: LbfgsConfig) -> Result<Self> {
        check::positive(KIND, "lr", config.lr, "finite and > 0 (default: 1)")?;
        check::at_least_one(KIND, "max_iter", config.max_iter, ">= 1 (default: 20)")?;
        if let Some(e) = config.max_eval {
            check::at_least_one(KIND, "max_eval", e, ">= 1 (default: max_iter * 5 / 4)")?;
        }
        check::non_negative(
            KIND,
            "tolerance_grad",
            config.tolerance_grad,
            "finite and >= 0 (default: 1e-7)",
        )?;
        check::non_negative(
            KIND,
            "tolerance_change",
            config.tolerance_change,
            "finite and >= 0 (default: 1e-9)",
        )?;
        check::at_least_one(KIND, "history_size", config.history_size, ">= 1 (default: 100)")?;
        Ok(Lbfgs { config, steps: 0, mem: Memory { h_diag: 1.0, ..Memory::default() } })
    }

    /// The settings.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// Calls of [`Lbfgs::step`] so far.
    pub fn step_count(&self) -> u64 {
        self.steps
    }

    /// L-BFGS iterations so far, over all steps (PyTorch's `state["n_iter"]`).
    pub fn iterations(&self) -> u64 {
        self.mem.n_iter
    }

    /// Loss evaluations so far, over all steps (PyTorch's `state["func_evals"]`).
    pub fn evaluations(&self) -> u64 {
        self.mem.func_evals
    }

    fn max_eval(&self) -> u64 {
        self.config.max_eval.unwrap_or(self.config.max_iter * 5 / 4)
    }

    /// Runs up to `max_iter` L-BFGS iterations. `closure` evaluates the loss and its gradients
    /// at the parameters it is given; it is called once at the start and again at every trial
    /// point. Returns the loss at the starting point (as PyTorch's `step` does).
    ///
    /// Parameters without a gradient count as having a zero gradient. If the closure fails, the
    /// error is returned and the parameters are left at the last accepted point. Calling it with
    /// a store of another size than the previous steps' is a typed
    /// [`StateMismatch`](downhill_tensor::Error::StateMismatch) error.
    pub fn step<F>(&mut self, params: &mut Params<T>, mut closure: F) -> Result<f64>
    where
        F: FnMut(&Params<T>) -> Result<(f64, Grads<T>)>,
    {
        let cfg = self.config;
        let (orig_loss, grads) = closure(params)?;
        let mut loss = orig_loss;
        let mut flat_grad = flatten(params, &grads)?;
        if let Some(prev) = &self.mem.prev_flat_grad
            && prev.len() != flat_grad.len()
        {
            return Err(Error::StateMismatch {
                origin: "this optimizer".into(),
                field: "number of scalar parameters".into(),
                saved: prev.len().to_string(),
                current: flat_grad.len().to_string(),
            });
        }
        let mut current_evals = 1;
        self.steps += 1;
        let m = &mut self.mem;
        m.func_evals += 1;
        let mut opt_cond = max_abs(&flat_grad) <= cfg.tolerance_grad;
        if opt_cond {
            return Ok(orig_loss);
        }
        let mut n_iter = 0;
        while n_iter < cfg.max_iter {
            n_iter += 1;
            m.n_iter += 1;

            // Direction.
            let d: Vec<T> = match (&m.d, &m.prev_flat_grad) {
                (Some(d_prev), Some(prev)) if m.n_iter != 1 => {
                    let y: Vec<T> = flat_grad.iter().zip(prev).map(|(&a, &b)| a - b).collect();
                    let tt = T::of(m.t);
                    let s: Vec<T> = d_prev.iter().map(|&x| x * tt).collect();
                    let ys = dot(&y, &s);
                    if ys > 1e-10 {
                        if m.old_dirs.len() as u64 == cfg.history_size {
                            m.old_dirs.pop_front();
                            m.old_stps.pop_front();
                            m.ro.pop_front();
                        }
                        let yy = dot(&y, &y);
                        m.old_dirs.push_back(y);
                        m.old_stps.push_back(s);
                        m.ro.push_back(1.0 / ys);
                        m.h_diag = ys / yy;
                    }
                    // Two-loop recursion: d = −H·g.
                    let num_old = m.old_dirs.len();
                    let mut al = vec![0.0; num_old];
                    let mut q: Vec<T> = flat_grad.iter().map(|&g| -g).collect();
                    for i in (0..num_old).rev() {
                        al[i] = dot(&m.old_stps[i], &q) * m.ro[i];
                        let a = T::of(-al[i]);
                        for (q, &y) in q.iter_mut().zip(&m.old_dirs[i]) {
                            *q += a * y;
                        }
                    }
                    let h = T::of(m.h_diag);
                    let mut r: Vec<T> = q.iter().map(|&q| q * h).collect();
                    for (i, &al_i) in al.iter().enumerate() {
                        let be_i = dot(&m.old_dirs[i], &r) * m.ro[i];
                        let a = T::of(al_i - be_i);
                        for (r, &s) in r.iter_mut().zip(&m.old_stps[i]) {
                            *r += a * s;
                        }
                    }
                    r
                }
                _ => {
                    m.old_dirs.clear();
                    m.old_stps.clear();
                    m.ro.clear();
                    m.h_diag = 1.0;
                    flat_grad.iter().map(|&g| -g).collect()
                }
            };
            m.prev_flat_grad = Some(flat_grad.clone());
            m.prev_loss = loss;

            // Step length.
            let mut t = if m.n_iter == 1 {
                let l1: f64 = flat_grad.iter().map(|g| g.abs()).fold(T::zero(), |a, b| a + b).f64();
                py_min(1.0, 1.0 / l1) * cfg.lr
            } else {
                cfg.lr
            };
            let gtd = dot(&flat_grad, &d);
            if gtd > -cfg.tolerance_change {
                m.d = Some(d);
                m.t = t;
                break;
            }

            let ls_func_evals;
            match cfg.line_search {
                LineSearch::StrongWolfe => {
                    let x_init = flatten_params(params);
                    let (f_new, g_new, t_new, evals) = strong_wolfe(
                        params,
                        &mut closure,
                        &x_init,
                        t,
                        &d,
                        loss,
                        &flat_grad,
                        gtd,
                        cfg.tolerance_change,
                    )?;
                    loss = f_new;
                    flat_grad = g_new;
                    t = t_new;
                    ls_func_evals = evals;
                    add_step(params, t, &d);
                    opt_cond = max_abs(&flat_grad) <= cfg.tolerance_grad;
                }
                LineSearch::None => {
                    add_step(params, t, &d);
                    if n_iter != cfg.max_iter {
                        let (l, g) = closure(params)?;
                        loss = l;
                        flat_grad = flatten(params, &g)?;
                        opt_cond = max_abs(&flat_grad) <= cfg.tolerance_grad;
                        ls_func_evals = 1;
                    } else {
                        ls_func_evals = 0;
                    }
                }
            }
            current_evals += ls_func_evals;
            m.func_evals += ls_func_evals;

            let tt = T::of(t);
            let step_max = d.iter().fold(0.0, |acc: f64, &x| py_max(acc, (x * tt).abs().f64()));
            m.d = Some(d);
            m.t = t;

            if n_iter == cfg.max_iter
                || current_evals >= self_max_eval(&cfg)
                || opt_cond
                || step_max <= cfg.tolerance_change
                || (loss - m.prev_loss).abs() < cfg.tolerance_change
            {
                break;
            }
        }
        Ok(orig_loss)
    }

    /// The state keyed by parameter name: tensors `d/{name}`, `prev_flat_grad/{name}`,
    /// `old_dirs/{name}` and `old_stps/{name}` (history along a new leading axis), and metadata
    /// (`t`, `h_diag`, `ro`, `prev_loss`, counters, settings).
    pub fn state(&self, params: &Params<T>) -> Result<OptimizerState<T>> {
        let m = &self.mem;
        let mut st = OptimizerState::new(KIND, self.steps);
        let layout = layout(params);
        let n: usize = layout.iter().map(|(_, s)| s.numel()).sum();
        for v in m.d.iter().chain(&m.prev_flat_grad).chain(&m.old_dirs).chain(&m.old_stps) {
            if v.len() != n {
                return Err(Error::StateMismatch {
                    origin: "this optimizer".into(),
                    field: "parameter count".into(),
                    saved: v.len().to_string(),
                    current: n.to_string(),
                });
            }
        }
        let mut offset = 0;
        for (name, shape) in &layout {
            let k = shape.numel();
            let piece = |v: &[T]| v[offset..offset + k].to_vec();
            if let Some(d) = &m.d {
                st.tensors.push((format!("d/{name}"), Tensor::from_vec(piece(d), shape.clone())?));
            }
            if let Some(g) = &m.prev_flat_grad {
                st.tensors
                    .push((format!("prev_flat_grad/{name}"), Tensor::from_vec(piece(g), shape.clone())?));
            }
            for (key, hist) in [("old_dirs", &m.old_dirs), ("old_stps", &m.old_stps)] {
                let mut dims = vec![hist.len()];
                dims.extend_from_slice(shape.dims());
                let data: Vec<T> = hist.iter().flat_map(|v| piece(v)).collect();
                st.tensors
                    .push((format!("{key}/{name}"), Tensor::from_vec(data, Shape::from(dims.as_slice()))?));
            }
            offset += k;
        }
        st.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = layout.iter().map(|(n, _)| n.as_str()).collect();
        let md = &mut st.metadata;
        md.insert("params".into(), serde_json::Value::from(names).to_string());
        md.insert("func_evals".into(), m.func_evals.to_string());
        md.insert("n_iter".into(), m.n_iter.to_string());
        md.insert("t".into(), num(m.t));
        md.insert("h_diag".into(), num(m.h_diag));
        md.insert("prev_loss".into(), num(m.prev_loss));
        md.insert("ro".into(), m.ro.iter().map(|&r| num(r)).collect::<Vec<_>>().join(","));
        md.insert("has_direction".into(), m.d.is_some().to_string());
        md.insert("has_prev_grad".into(), m.prev_flat_grad.is_some().to_string());
        for (k, v) in self.settings() {
            md.insert(k, v);
        }
        Ok(st)
    }

    fn settings(&self) -> Vec<(String, String)> {
        let c = &self.config;
        vec![
            ("lr".into(), num(c.lr)),
            ("hyper.max_iter".into(), c.max_iter.to_string()),
            ("hyper.max_eval".into(), self.max_eval().to_string()),
            ("hyper.tolerance_grad".into(), num(c.tolerance_grad)),
            ("hyper.tolerance_change".into(), num(c.tolerance_change)),
            ("hyper.history_size".into(), c.history_size.to_string()),
            ("hyper.line_search".into(), format!("{:?}", c.line_search)),
        ]
    }

    /// Restores a state saved by [`Lbfgs::state`] for a store with the same parameter names and
    /// shapes. All or nothing.
    pub fn load_state(&mut self, st: &OptimizerState<T>, params: &Params<T>) -> Result<()> {
        st.expect_kind(KIND)?;
        let layout = layout(params);
        let store: Vec<&str> = layout.iter().map(|(n, _)| n.as_str()).collect();
        crate::engine::check_names(st, &st.string_list("params")?, &store)?;
        for (k, v) in self.settings() {
            st.expect_setting(&k, &v)?;
        }
        let ro: VecDeque<f64> = match st.text("ro")? {
            "" => VecDeque::new(),
            s => s
                .split(',')
                .map(|x| x.parse::<f64>().map_err(|_| st.corrupt(format!("ro entry {x:?} is not a number"))))
                .collect::<Result<_>>()?,
        };
        let hist = ro.len();
        let flag = |key: &str| -> Result<bool> { st.parse(key) };
        let gather = |key: &str, lead: Option<usize>| -> Result<Vec<T>> {
            let mut out = Vec::new();
            for (name, shape) in &layout {
                let full = format!("{key}/{name}");
                let t = st.get(&full).ok_or_else(|| st.corrupt(format!("no tensor {full:?}")))?;
                let mut dims = lead.map(|k| vec![k]).unwrap_or_default();
                dims.extend_from_slice(shape.dims());
                let expected = Shape::from(dims.as_slice());
                if t.shape() != &expected {
                    return Err(Error::StateShape {
                        origin: st.origin.as_str().into(),
                        tensor: format!("{key}/{name}").into(),
                        expected,
                        found: t.shape().clone(),
                    });
                }
                out.push(t.data().to_vec());
            }
            Ok(out.concat())
        };
        // History tensors are per parameter [k, ...]; reassemble the k flat vectors.
        let history = |key: &str| -> Result<VecDeque<Vec<T>>> {
            let mut rows: Vec<Vec<T>> = vec![Vec::new(); hist];
            for (name, shape) in &layout {
                let full = format!("{key}/{name}");
                let t = st.get(&full).ok_or_else(|| st.corrupt(format!("no tensor {full:?}")))?;
                let mut dims = vec![hist];
                dims.extend_from_slice(shape.dims());
                let expected = Shape::from(dims.as_slice());
                if t.shape() != &expected {
                    return Err(Error::StateShape {
                        origin: st.origin.as_str().into(),
                        tensor: format!("{key}/{name}").into(),
                        expected,
                        found: t.shape().clone(),
                    });
                }
                let k = shape.numel();
                for (i, row) in rows.iter_mut().enumerate() {
                    row.extend_from_slice(&t.data()[i * k..(i + 1) * k]);
                }
            }
            Ok(rows.into())
        };
        let mem = Memory {
            func_evals: st.parse("func_evals")?,
            n_iter: st.parse("n_iter")?,
            d: if flag("has_direction")? { Some(gather("d", None)?) } else { None },
            t: st.parse("t")?,
            old_dirs: history("old_dirs")?,
            old_stps: history("old_stps")?,
            ro,
            h_diag: st.parse("h_diag")?,
            prev_flat_grad: if flag("has_prev_grad")? { Some(gather("prev_flat_grad", None)?) } else { None },
            prev_loss: st.parse("prev_loss")?,
        };
        self.steps = st.step()?;
        self.mem = mem;
        Ok(())
    }
}

fn self_max_eval(cfg: &LbfgsConfig) -> u64 {
    cfg.max_eval.unwrap_or(cfg.max_iter * 5 / 4)
}

fn layout<T: Float>(params: &Params<T>) -> Vec<(String, Shape)> {
    params.iter().map(|(_, n, t)| (n.to_string(), t.shape().clone())).collect()
}

/// The gradients as one vector in parameter order (zeros for a parameter without one).
fn flatten<T: Float>(params: &Params<T>, grads: &Grads<T>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(params.numel());
    for (id, name, p) in params.iter() {
        match grads.get(id) {
            Some(g) if g.shape() == p.shape() => out.extend_from_slice(g.data()),
            Some(g) => {
                return Err(Error::ParamShape {
                    name: name.to_string(),
                    expected: p.shape().clone(),
                    got: g.shape().clone(),
                });
            }
            None => out.extend(std::iter::repeat_n(T::zero(), p.numel())),
        }
    }
    Ok(out)
}

fn flatten_params<T: Float>(params: &Params<T>) -> Vec<T> {
    params.iter().flat_map(|(_, _, p)| p.data().iter().copied()).collect()
}

/// `θ ← θ + t·d`.
fn add_step<T: Float>(params: &mut Params<T>, t: f64, d: &[T]) {
    let t = T::of(t);
    let mut offset = 0;
    for id in params.ids() {
        let p = params.get_mut(id).data_mut();
        for (p, &d) in p.iter_mut().zip(&d[offset..]) {
            *p += t * d;
        }
        offset += p.len();
    }
}

/// Copies `x` back into the parameters.
fn set_params<T: Float>(params: &mut Params<T>, x: &[T]) {
    let mut offset = 0;
    for id in params.ids() {
        let p = params.get_mut(id).data_mut();
        let k = p.len();
        p.copy_from_slice(&x[offset..offset + k]);
        offset += k;
    }
}

/// Loss and flat gradient at `x + t·d`; the parameters are restored to `x` afterwards.
fn directional_evaluate<T: Float, F>(
    params: &mut Params<T>,
    closure: &mut F,
    x: &[T],
    t: f64,
    d: &[T],
) -> Result<(f64, Vec<T>)>
where
    F: FnMut(&Params<T>) -> Result<(f64, Grads<T>)>,
{
    add_step(params, t, d);
    let out = closure(params).and_then(|(l, g)| Ok((l, flatten(params, &g)?)));
    set_params(params, x);
    out
}

/// PyTorch's `_strong_wolfe`: returns `(f_new, g_new, t, evaluations)`.
#[allow(clippy::too_many_arguments)]
fn strong_wolfe<T: Float, F>(
    params: &mut Params<T>,
    closure: &mut F,
    x: &[T],
    mut t: f64,
    d: &[T],
    f: f64,
    g: &[T],
    gtd: f64,
    tolerance_change: f64,
) -> Result<(f64, Vec<T>, f64, u64)>
where
    F: FnMut(&Params<T>) -> Result<(f64, Grads<T>)>,
{
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_LS: u64 = 25;
    let d_norm = max_abs(d);
    let (mut f_new, mut g_new) = directional_evaluate(params, closure, x, t, d)?;
    let mut ls_func_evals = 1;
    let mut gtd_new = dot(&g_new, d);

    let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f, g.to_vec(), gtd);
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket: Vec<f64> = Vec::new();
    let mut bracket_f: Vec<f64> = Vec::new();
    let mut bracket_g: Vec<Vec<T>> = Vec::new();
    let mut bracket_gtd: Vec<f64> = Vec::new();
    while ls_iter < MAX_LS {
        if f_new > f + C1 * t * gtd || (ls_iter > 1 && f_new >= f_prev) {
            bracket = vec![t_prev, t];
            bracket_f = vec![f_prev, f_new];
            bracket_g = vec![g_prev.clone(), g_new.clone()];
            bracket_gtd = vec![gtd_prev, gtd_new];
            break;
        }
        if gtd_new.abs() <= -C2 * gtd {
            bracket = vec![t];
            bracket_f = vec![f_new];
            bracket_g = vec![g_new.clone()];
            done = true;
            break;
        }
        if gtd_new >= 0.0 {
            bracket = vec![t_prev, t];
            bracket_f = vec![f_prev, f_new];
            bracket_g = vec![g_prev.clone(), g_new.clone()];
            bracket_gtd = vec![gtd_prev, gtd_new];
            break;
        }
        // Interpolate.
        let min_step = t + 0.01 * (t - t_prev);
        let max_step = t * 10.0;
        let tmp = t;
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, Some((min_step, max_step)));
        // Next step.
        t_prev = tmp;
        f_prev = f_new;
        g_prev = g_new.clone();
        gtd_prev = gtd_new;
        (f_new, g_new) = directional_evaluate(params, closure, x, t, d)?;
        ls_func_evals += 1;
        gtd_new = dot(&g_new, d);
        ls_iter += 1;
    }
    if ls_iter == MAX_LS {
        bracket = vec![0.0, t];
        bracket_f = vec![f, f_new];
        bracket_g = vec![g.to_vec(), g_new.clone()];
    }

    // Zoom.
    let mut insuf_progress = false;
    let order = |bf: &[f64]| if bf[0] <= bf[bf.len() - 1] { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket_f);
    while !done && ls_iter < MAX_LS {
        if (bracket[1] - bracket[0]).abs() * d_norm < tolerance_change {
            break;
        }
        t = cubic_interpolate(
            bracket[0],
            bracket_f[0],
            bracket_gtd[0],
            bracket[1],
            bracket_f[1],
            bracket_gtd[1],
            None,
        );
        let (bmax, bmin) = (py_max(bracket[0], bracket[1]), py_min(bracket[0], bracket[1]));
        let eps = 0.1 * (bmax - bmin);
        if py_min(bmax - t, t - bmin) < eps {
            if insuf_progress || t >= bmax || t <= bmin {
                t = if (t - bmax).abs() < (t - bmin).abs() { bmax - eps } else { bmin + eps };
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        (f_new, g_new) = directional_evaluate(params, closure, x, t, d)?;
        ls_func_evals += 1;
        gtd_new = dot(&g_new, d);
        ls_iter += 1;

        if f_new > f + C1 * t * gtd || f_new >= bracket_f[low] {
            bracket[high] = t;
            bracket_f[high] = f_new;
            bracket_g[high] = g_new.clone();
            bracket_gtd[high] = gtd_new;
            (low, high) = order(&bracket_f);
        } else {
            if gtd_new.abs() <= -C2 * gtd {
                done = true;
            } else if gtd_new * (bracket[high] - bracket[low]) >= 0.0 {
                bracket[high] = bracket[low];
                bracket_f[high] = bracket_f[low];
                bracket_g[high] = bracket_g[low].clone();
                bracket_gtd[high] = bracket_gtd[low];
            }
            bracket[low] = t;
            bracket_f[low] = f_new;
            bracket_g[low] = g_new.clone();
            bracket_gtd[low] = gtd_new;
        }
    }
    let t = bracket[low];
    let f_new = bracket_f[low];
    let g_new = std::mem::take(&mut bracket_g[low]);
    Ok((f_new, g_new, t, ls_func_evals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_interpolation_finds_the_minimum_of_a_cubic() {
        // f(x) = (x - 1)² has f(0) = 1, f'(0) = -2, f(3) = 4, f'(3) = 4: minimum at 1.
        let x = cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, None);
        assert!((x - 1.0).abs() < 1e-12, "{x}");
        // Clamped to the bounds.
        assert_eq!(cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, Some((2.0, 5.0))), 2.0);
    }

    #[test]
    fn python_min_max_propagate_nan_in_the_first_argument() {
        assert!(py_max(f64::NAN, 1.0).is_nan());
        assert!(py_min(f64::NAN, 1.0).is_nan());
        assert_eq!(py_max(1.0, 2.0), 2.0);
    }

    #[test]
    fn settings_are_validated() {
        assert!(Lbfgs::<f64>::new(LbfgsConfig { lr: 0.0, ..Default::default() }).is_err());
        assert!(Lbfgs::<f64>::new(LbfgsConfig { max_iter: 0, ..Default::default() }).is_err());
        assert!(Lbfgs::<f64>::new(LbfgsConfig { history_size: 0, ..Default::default() }).is_err());
        assert!(Lbfgs::<f64>::new(LbfgsConfig { tolerance_grad: f64::NAN, ..Default::default() }).is_err());
    }
}

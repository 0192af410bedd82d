//! The machinery every first-order optimizer shares: learning rate and schedule, clipping,
//! weight decay and parameter groups, per-parameter buffers keyed by name, the step counter, and
//! saving and loading all of it. Each optimizer only supplies its update [`Rule`].

use std::collections::BTreeMap;
use std::sync::Arc;

use downhill_tensor::{Error, Float, Grads, Params, Result, Tensor};

use crate::clip::{self, Clip};
use crate::group::{self, ParamGroup, WeightDecay};
use crate::schedule::Schedule;
use crate::state::{OptimizerState, num};

/// An optimizer's update rule for one parameter tensor.
pub(crate) trait Rule: std::fmt::Debug + Clone + Sync {
    /// The kind stored in saved state (`"adam"`).
    fn kind(&self) -> &'static str;
    /// Names of the per-parameter buffers, in the order `update` receives them.
    fn buffers(&self) -> &'static [&'static str];
    /// Initial value of buffer `i` (0 unless the rule says otherwise).
    fn init(&self, _i: usize) -> f64 {
        0.0
    }
    /// `(name, value)` of the hyperparameters, stored as `hyper.{name}` and compared on load.
    fn hyper(&self) -> Vec<(&'static str, String)>;
    /// Updates `p` in place from the (clipped, L2-decayed) gradient `g`. `lr` is this
    /// parameter's learning rate for the step, `t` its update count including this one (1 on
    /// its first update).
    ///
    /// Elementwise: element `i` of `p` and of each buffer depends only on element `i` of `p`,
    /// `g` and the buffers. The engine relies on it to run large tensors in chunks on several
    /// threads (the same result for any thread count).
    ///
    /// Write each new buffer value from a local and compute with the local (`let m_new = …;
    /// *m = m_new;`), never read an element back right after writing it: the compiler cannot tell
    /// the buffers apart, so it reloads it, and a CPU whose 512-bit stores do not forward to a
    /// 512-bit load (Zen 4) then waits for the store: Adam ran at half speed that way.
    fn update<T: Float>(&self, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, t: u64);
    /// Whether the engine may run `update` on pieces of [`SUM_SQ_PIECE`] elements with the
    /// norm's squares in between ([`update_sum_sq_generic`]). True unless the rule's per-call
    /// branching does not compile well into a piece: RMSProp's, which picks its optional
    /// buffers, ran 6× slower so on pieces of 16 and 9× on pieces of 128 (413–421 against
    /// 45–51 µs for 200,704 `f32`, one thread).
    const PIECEWISE: bool = true;
}

/// Elements per piece in [`update_sum_sq_generic`]: eight 512-bit registers of `f32`. Each
/// call of the rule on a piece pays the compiled loop's run-time checks (do the slices overlap,
/// how long are they); on pieces of 16 they took a fifth of Adam's time (a 200,704-element
/// update, one thread: 46.7–47.2 µs on pieces of 16, 41.2–42.2 on 128, 47.8–48.5 on 1,024, where
/// the norm's chain no longer overlaps the divisions). Any multiple of 8 gives the norm the same
/// bits: the lanes take the squares in element order either way.
const SUM_SQ_PIECE: usize = 128;

/// [`Rule::update`] that also adds each `g²` into `lanes` as [`clip::add_sq_lanes`] does (so the
/// norm has the same bits), in one pass: piece by piece, the squares of [`SUM_SQ_PIECE`] elements and
/// then the rule on them. Summed on its own, `Σ g²` is one chain of dependent additions, which waits on
/// their latency; interleaved, it runs while the rule waits on its divisions (Adam) or its
/// stores. The rule, inlined, is the same code on each piece, its per-call scalars (Adam's bias
/// corrections) computed once outside the loop, and its result the same as one call on the whole.
#[inline(always)]
fn update_sum_sq_generic<T: Float, R: Rule>(
    rule: &R,
    p: &mut [T],
    g: &[T],
    bufs: &mut [&mut [T]],
    (lr, t): (f64, u64),
    lanes: &mut [f64; 8],
) {
    let whole = g.len() / SUM_SQ_PIECE * SUM_SQ_PIECE;
    for (k, (p, g)) in p.chunks_exact_mut(SUM_SQ_PIECE).zip(g.chunks_exact(SUM_SQ_PIECE)).enumerate() {
        update_sum_sq_piece(rule, p, g, bufs, k * SUM_SQ_PIECE..(k + 1) * SUM_SQ_PIECE, (lr, t), lanes);
    }
    if whole < g.len() {
        update_sum_sq_piece(rule, &mut p[whole..], &g[whole..], bufs, whole..g.len(), (lr, t), lanes);
    }
}

/// One piece of [`update_sum_sq_generic`]: `p` and `g` are elements `at` of the whole.
#[inline(always)]
fn update_sum_sq_piece<T: Float, R: Rule>(
    rule: &R,
    p: &mut [T],
    g: &[T],
    bufs: &mut [&mut [T]],
    at: std::ops::Range<usize>,
    (lr, t): (f64, u64),
    lanes: &mut [f64; 8],
) {
    clip::add_sq_lanes(lanes, g);
    let mut piece: [&mut [T]; downhill_tensor::ZIP_MAX] = Default::default();
    let n = bufs.len().min(piece.len());
    for (s, b) in piece.iter_mut().zip(bufs.iter_mut()) {
        *s = &mut b[at.clone()];
    }
    rule.update(p, g, &mut piece[..n], lr, t);
}

downhill_tensor::multiversion!(
    /// [`update_sum_sq_generic`] compiled for the widest vectors the CPU has (same bits in every
    /// version, as for [`update_simd`]).
    update_sum_sq_simd<T: Float, R: Rule>, update_sum_sq_generic,
    (rule: &R, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr_t: (f64, u64), lanes: &mut [f64; 8]) -> ()
);

/// [`Rule::update`] as a function, for [`update_simd`] to compile in each vector width.
#[inline(always)]
fn update_generic<T: Float, R: Rule>(rule: &R, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, t: u64) {
    rule.update(p, g, bufs, lr, t)
}

downhill_tensor::multiversion!(
    /// [`Rule::update`] compiled for the widest vectors the CPU has. The rules use only `+ − × ÷`
    /// and `sqrt` (no fused multiply-add), which round the same in every instruction set, so the
    /// result is the same whichever version runs.
    update_simd<T: Float, R: Rule>, update_generic,
    (rule: &R, p: &mut [T], g: &[T], bufs: &mut [&mut [T]], lr: f64, t: u64) -> ()
);

/// Runs `rule` on one parameter: large tensors in fixed chunks on the pool's threads
/// ([`downhill_tensor::zip_chunks_sum`]), each chunk vectorized ([`update_simd`]). With `norm`,
/// also returns the gradient's `Σ g²` exactly as [`clip::global_norm`] sums one tensor (same
/// lanes, same chunks), summed in the same pass ([`update_sum_sq_simd`]); otherwise 0.
fn update_param<T: Float, R: Rule>(
    rule: &R,
    p: &mut [T],
    g: &[T],
    bufs: &mut [Tensor<T>],
    (lr, t): (f64, u64),
    norm: bool,
) -> Result<f64> {
    let mut outs: [&mut [T]; downhill_tensor::ZIP_MAX] = Default::default();
    outs[0] = p;
    let n = bufs.len() + 1;
    assert!(n <= outs.len(), "an update rule with more than {} buffers", outs.len() - 1);
    for (o, b) in outs[1..].iter_mut().zip(bufs.iter_mut()) {
        *o = b.data_mut();
    }
    downhill_tensor::zip_chunks_sum(&mut outs[..n], &[g], |o, i| {
        let Some((p, bufs)) = o.split_first_mut() else { return 0.0 };
        if norm && R::PIECEWISE {
            let mut lanes = [0.0; 8];
            update_sum_sq_simd(rule, p, i[0], bufs, (lr, t), &mut lanes);
            clip::lanes_total(&lanes)
        } else if norm {
            let sum_sq = clip::lanes_sum_sq(i[0]);
            update_simd(rule, p, i[0], bufs, lr, t);
            sum_sq
        } else {
            update_simd(rule, p, i[0], bufs, lr, t);
            0.0
        }
    })
}

/// Buffers and update count of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Slot<T: Float> {
    pub(crate) step: u64,
    pub(crate) bufs: Vec<Tensor<T>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Engine<T: Float, R> {
    pub(crate) rule: R,
    pub(crate) lr: f64,
    pub(crate) schedule: Option<Arc<dyn Schedule>>,
    pub(crate) lr_scale: f64,
    pub(crate) weight_decay: WeightDecay,
    pub(crate) groups: Vec<ParamGroup>,
    pub(crate) clip: Clip,
    pub(crate) step: u64,
    pub(crate) slots: BTreeMap<String, Slot<T>>,
    scratch: Vec<Tensor<T>>,
    /// The parameters of the current step (kept to reuse its buffer).
    ids: Vec<downhill_tensor::ParamId>,
    last_norm: Option<f64>,
}

impl<T: Float, R: Rule> Engine<T, R> {
    pub(crate) fn new(rule: R, lr: f64, weight_decay: WeightDecay) -> Result<Self> {
        crate::check::positive(rule.kind(), "lr", lr, "finite and > 0")?;
        weight_decay.validate(rule.kind())?;
        Ok(Engine {
            rule,
            lr,
            schedule: None,
            lr_scale: 1.0,
            weight_decay,
            groups: Vec::new(),
            clip: Clip::None,
            step: 0,
            slots: BTreeMap::new(),
            scratch: Vec::new(),
            ids: Vec::new(),
            last_norm: None,
        })
    }

    pub(crate) fn add_group(&mut self, g: ParamGroup) -> Result<()> {
        g.validate(self.rule.kind())?;
        self.groups.push(g);
        Ok(())
    }

    pub(crate) fn set_clip(&mut self, c: Clip) -> Result<()> {
        c.validate()?;
        self.clip = c;
        Ok(())
    }

    pub(crate) fn set_lr_scale(&mut self, scale: f64) -> Result<()> {
        crate::check::non_negative(
            self.rule.kind(),
            "lr_scale",
            scale,
            "finite and >= 0 (1 keeps the learning rate)",
        )?;
        self.lr_scale = scale;
        Ok(())
    }

    /// The learning rate of the next step: the schedule's (or the constant `lr`) times `lr_scale`.
    pub(crate) fn lr(&self) -> f64 {
        let base = self.schedule.as_ref().map_or(self.lr, |s| s.lr_at(self.step));
        base * self.lr_scale
    }

    pub(crate) fn last_grad_norm(&self) -> Option<f64> {
        self.last_norm
    }

    pub(crate) fn step(&mut self, params: &mut Params<T>, grads: &Grads<T>) -> Result<()> {
        let kind = self.rule.kind();
        // Check everything before changing anything.
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        for (id, g) in grads.iter() {
            let p = params.try_get(id)?;
            if p.shape() != g.shape() {
                return Err(Error::ParamShape {
                    name: params.name(id).to_string(),
                    expected: p.shape().clone(),
                    got: g.shape().clone(),
                });
            }
            ids.push(id);
        }
        let lr = self.lr();
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Hyperparameter {
                owner: kind,
                name: "lr (schedule times lr_scale)",
                value: lr,
                expected: "finite and >= 0; check the schedule",
            });
        }
        // Clipping and L2 decay change the gradients: they work on a copy (buffers reused between
        // steps). Without either, the update reads the gradients where they are, and (from
        // LANES_FROM elements on, where the norm is a sum of per-tensor sums) sums the squares
        // for the norm in the same pass.
        let copy = self.clip != Clip::None
            || ids.iter().any(|&id| {
                matches!(
                    group::resolve(&self.groups, self.weight_decay, params.name(id)).1,
                    WeightDecay::L2(_)
                )
            });
        if copy {
            self.scratch.truncate(ids.len());
            for (k, &id) in ids.iter().enumerate() {
                let g = grads.try_get(id)?;
                match self.scratch.get_mut(k) {
                    Some(s) if s.shape() == g.shape() => s.data_mut().copy_from_slice(g.data()),
                    Some(s) => *s = Tensor::from_slice(g.data(), g.shape().clone())?,
                    None => self.scratch.push(Tensor::from_slice(g.data(), g.shape().clone())?),
                }
            }
            self.last_norm = Some(clip::global_norm(&self.scratch));
            self.clip.apply(&mut self.scratch)?;
        }
        let gradients = || ids.iter().map(|&id| grads.get(id).map_or(&[][..], Tensor::data));
        let fused_norm = !copy && gradients().map(<[T]>::len).sum::<usize>() >= clip::LANES_FROM;
        if !copy && !fused_norm {
            self.last_norm = Some(clip::global_norm_of(gradients()));
        }
        let mut sum_sq = 0.0;

        self.step += 1;
        for (k, &id) in ids.iter().enumerate() {
            let name = params.name(id);
            let (scale, decay) = group::resolve(&self.groups, self.weight_decay, name);
            let lr_p = lr * scale;
            if !self.slots.contains_key(name) {
                let shape = params.get(id).shape().clone();
                let bufs = (0..self.rule.buffers().len())
                    .map(|i| Tensor::full(shape.clone(), T::of(self.rule.init(i))))
                    .collect();
                self.slots.insert(name.to_string(), Slot { step: 0, bufs });
            }
            let Some(slot) = self.slots.get_mut(name) else { continue };
            slot.step += 1;
            let p = params.get_mut(id).data_mut();
            // ANCHOR: decay
            match decay {
                WeightDecay::None => {}
                WeightDecay::L2(l) => {
                    // (A parameter with L2 decay always has its gradient copied, see above.)
                    let l = T::of(l);
                    for (g, &p) in self.scratch[k].data_mut().iter_mut().zip(p.iter()) {
                        *g += l * p;
                    }
                }
                WeightDecay::Decoupled(l) => {
                    let keep = T::of(1.0 - lr_p * l);
                    for p in p.iter_mut() {
                        *p *= keep;
                    }
                }
            }
            // ANCHOR_END: decay
            let g = if copy { self.scratch[k].data() } else { grads.try_get(id)?.data() };
            sum_sq += update_param(&self.rule, p, g, &mut slot.bufs, (lr_p, slot.step), fused_norm)?;
        }
        if fused_norm {
            // The same sum, in the same order, as `clip::global_norm_of`.
            self.last_norm = Some(sum_sq.sqrt());
        }
        self.ids = ids;
        Ok(())
    }

    fn settings(&self) -> Vec<(String, String)> {
        let mut s = vec![
            ("lr".to_string(), num(self.lr)),
            ("schedule".to_string(), self.schedule.as_ref().map_or("none".to_string(), |s| format!("{s:?}"))),
            ("weight_decay".to_string(), format!("{:?}", self.weight_decay)),
            ("groups".to_string(), format!("{:?}", self.groups)),
            ("clip".to_string(), format!("{:?}", self.clip)),
        ];
        s.extend(self.rule.hyper().into_iter().map(|(k, v)| (format!("hyper.{k}"), v)));
        s
    }

    pub(crate) fn state(&self, params: &Params<T>) -> Result<OptimizerState<T>> {
        let mut st = OptimizerState::new(self.rule.kind(), self.step);
        let names: Vec<&str> = params.iter().map(|(_, n, _)| n).collect();
        for (name, slot) in &self.slots {
            let id = params.id(name).map_err(|_| Error::StateUnknownParam {
                origin: "this optimizer".to_string(),
                name: name.clone(),
                available: format!("{names:?}"),
            })?;
            for (b, t) in self.rule.buffers().iter().zip(&slot.bufs) {
                if t.shape() != params.get(id).shape() {
                    return Err(Error::StateShape {
                        origin: "this optimizer".into(),
                        tensor: format!("{b}/{name}").into(),
                        expected: params.get(id).shape().clone(),
                        found: t.shape().clone(),
                    });
                }
                st.tensors.push((format!("{b}/{name}"), t.clone()));
            }
        }
        st.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let m = &mut st.metadata;
        m.insert("lr_scale".into(), num(self.lr_scale));
        m.insert("params".into(), serde_json::Value::from(names.clone()).to_string());
        let steps: serde_json::Map<String, serde_json::Value> =
            self.slots.iter().map(|(n, s)| (n.clone(), serde_json::Value::from(s.step))).collect();
        m.insert("slot_steps".into(), serde_json::Value::Object(steps).to_string());
        for (k, v) in self.settings() {
            m.insert(k, v);
        }
        Ok(st)
    }

    /// All or nothing: on any error the optimizer is unchanged.
    pub(crate) fn load_state(&mut self, st: &OptimizerState<T>, params: &Params<T>) -> Result<()> {
        st.expect_kind(self.rule.kind())?;
        let store: Vec<&str> = params.iter().map(|(_, n, _)| n).collect();
        let saved = st.string_list("params")?;
        check_names(st, &saved, &store)?;
        for (k, v) in self.settings() {
            st.expect_setting(&k, &v)?;
        }
        let step: u64 = st.step()?;
        let lr_scale: f64 = st.parse("lr_scale")?;
        let slot_steps = st.count_map("slot_steps")?;
        let mut slots = BTreeMap::new();
        let mut used = 0;
        for (name, &count) in &slot_steps {
            let id = params.id(name).map_err(|_| unknown(st, name, &store))?;
            let shape = params.get(id).shape();
            let mut bufs = Vec::new();
            for b in self.rule.buffers() {
                let key = format!("{b}/{name}");
                let t = st.get(&key).ok_or_else(|| st.corrupt(format!("no tensor {key:?}")))?;
                if t.shape() != shape {
                    return Err(Error::StateShape {
                        origin: st.origin.as_str().into(),
                        tensor: format!("{b}/{name}").into(),
                        expected: shape.clone(),
                        found: t.shape().clone(),
                    });
                }
                bufs.push(t.clone());
                used += 1;
            }
            slots.insert(name.clone(), Slot { step: count, bufs });
        }
        if used != st.tensors.len() {
            let extra: Vec<&str> = st
                .tensors
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| n.split_once('/').is_none_or(|(_, p)| !slot_steps.contains_key(p)))
                .collect();
            return Err(st.corrupt(format!("tensors {extra:?} belong to no parameter slot")));
        }
        self.step = step;
        self.lr_scale = lr_scale;
        self.slots = slots;
        Ok(())
    }
}

fn unknown<T: Float>(st: &OptimizerState<T>, name: &str, store: &[&str]) -> Error {
    Error::StateUnknownParam {
        origin: st.origin.clone(),
        name: name.to_string(),
        available: format!("{store:?}"),
    }
}

/// The saved state must cover exactly the store's parameter names.
pub(crate) fn check_names<T: Float>(st: &OptimizerState<T>, saved: &[String], store: &[&str]) -> Result<()> {
    if let Some(n) = saved.iter().find(|n| !store.contains(&n.as_str())) {
        return Err(unknown(st, n, store));
    }
    if let Some(n) = store.iter().find(|n| !saved.iter().any(|s| s == *n)) {
        return Err(Error::StateMissingParam {
            origin: st.origin.clone(),
            name: n.to_string(),
            covered: format!("{saved:?}"),
        });
    }
    Ok(())
}

/// Shared public surface of every first-order optimizer: builders and the [`Optimizer`]
/// implementation, delegating to the engine.
macro_rules! first_order {
    ($ty:ident) => {
        impl<T: downhill_tensor::Float> $ty<T> {
            /// Drives the learning rate with a schedule (the configured `lr` is then unused).
            pub fn with_schedule(mut self, schedule: impl $crate::schedule::Schedule + 'static) -> Self {
                self.engine.schedule = Some(std::sync::Arc::new(schedule));
                self
            }

            /// Adds a parameter group (checked in the order added; the first match wins).
            pub fn with_group(mut self, group: $crate::ParamGroup) -> downhill_tensor::Result<Self> {
                self.engine.add_group(group)?;
                Ok(self)
            }

            /// Clips the gradients before each update.
            pub fn with_clip(mut self, clip: $crate::Clip) -> downhill_tensor::Result<Self> {
                self.engine.set_clip(clip)?;
                Ok(self)
            }

            /// The parameter groups, in match order.
            pub fn groups(&self) -> &[$crate::ParamGroup] {
                &self.engine.groups
            }
        }

        impl<T: downhill_tensor::Float> $crate::Optimizer<T> for $ty<T> {
            fn kind(&self) -> &'static str {
                $crate::engine::Rule::kind(&self.engine.rule)
            }
            fn step(
                &mut self,
                params: &mut downhill_tensor::Params<T>,
                grads: &downhill_tensor::Grads<T>,
            ) -> downhill_tensor::Result<()> {
                self.engine.step(params, grads)
            }
            fn step_count(&self) -> u64 {
                self.engine.step
            }
            fn lr(&self) -> f64 {
                self.engine.lr()
            }
            fn lr_scale(&self) -> f64 {
                self.engine.lr_scale
            }
            fn set_lr_scale(&mut self, scale: f64) -> downhill_tensor::Result<()> {
                self.engine.set_lr_scale(scale)
            }
            fn last_grad_norm(&self) -> Option<f64> {
                self.engine.last_grad_norm()
            }
            fn state(
                &self,
                params: &downhill_tensor::Params<T>,
            ) -> downhill_tensor::Result<$crate::OptimizerState<T>> {
                self.engine.state(params)
            }
            fn load_state(
                &mut self,
                state: &$crate::OptimizerState<T>,
                params: &downhill_tensor::Params<T>,
            ) -> downhill_tensor::Result<()> {
                self.engine.load_state(state, params)
            }
        }
    };
}
pub(crate) use first_order;

//! Large-tensor kernels run on a small persistent thread pool, with results that do not depend on
//! the number of threads.
//!
//! The rule that makes results thread-count independent: work is cut into **fixed chunks** of
//! [`CHUNK`] elements (or rows), whatever the thread count; each chunk is computed sequentially;
//! a reduction keeps one partial per chunk and adds the partials in chunk order on the calling
//! thread. Threads only decide *who* computes a chunk, never how it is computed.
//!
//! Only tensors with at least [`LARGE`] elements take these paths; smaller ones keep the plain
//! sequential loops (and their exact summation order).
//!
//! The pool has `threads() − 1` workers. After a job a worker watches for the next one for
//! [`SPIN`] (a training step dispatches many in a row), then parks on a condition variable; a
//! dispatch allocates nothing. If the pool is busy (another thread of the program is using it), the caller simply
//! runs every part itself, which gives the same result.

use crate::error::{Error, Result, Site};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// Elements (or rows) per chunk: the unit of work and of partial sums.
pub(crate) const CHUNK: usize = 1 << 13;

/// Tensors with at least this many elements use the chunked (and threaded) kernels; smaller ones
/// keep the plain sequential loops and their summation order.
pub const LARGE: usize = 1 << 15;

/// 0 = not yet read from the environment.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The number of threads downhill's own large-tensor kernels use: `DOWNHILL_THREADS` if set (≥ 1),
/// else the available parallelism. Large GEMMs are cut into row or column blocks on the same
/// threads. Results never depend on the count.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let default = || std::thread::available_parallelism().map_or(1, |n| n.get());
            let n = match std::env::var_os("DOWNHILL_THREADS") {
                None => default(),
                Some(v) => parse_threads(&v.to_string_lossy()).unwrap_or_else(|why| {
                    let n = default();
                    // Not an error a kernel could return: said once on stderr, not swallowed.
                    eprintln!(
                        "downhill: DOWNHILL_THREADS {why}; using {n} thread(s) (the available parallelism)"
                    );
                    n
                }),
            };
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Reads a `DOWNHILL_THREADS` value: a whole number of threads, at least 1. The error says what
/// is wrong and how to fix it.
fn parse_threads(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(0) => Err("is 0; set it to 1 or more (1 turns threading off)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("is {value:?}, not a whole number of threads; set it like DOWNHILL_THREADS=2")),
    }
}

/// Sets the number of threads for downhill's large-tensor kernels (at least 1). Results are the
/// same for every setting; only the speed changes.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// A lifetime-erased `&(dyn Fn() + Sync)`.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn() + Sync + 'static));
// SAFETY: the pointee is `Sync`, and `run` keeps it alive until every worker is done with it.
unsafe impl Send for Job {}

struct State {
    /// The current job; `None` once its caller has finished its own share (late workers skip it).
    job: Option<Job>,
    /// How many workers may still join the current job.
    helpers: usize,
    epoch: u64,
    /// Workers inside the current job's closure.
    active: usize,
    /// Workers parked on `work` (the others are watching `Pool::epoch`).
    parked: usize,
    /// Whether the caller is parked on `done`, waiting for the last worker.
    caller_parked: bool,
    /// The first panic of a worker inside the current job, re-raised on the caller.
    panic: Option<Box<dyn std::any::Any + Send>>,
}

/// How long a worker keeps watching for the next job before it parks. Waking a parked thread
/// takes 10–25 µs here, about what a small kernel takes, and the ops of a step come one after
/// another; a watching worker costs a core only while the program is dispatching work.
const SPIN: Duration = Duration::from_micros(100);

struct Pool {
    /// Worker threads that started (fewer than asked for if the system refused a thread).
    workers: AtomicUsize,
    /// `State::epoch`, readable without the lock by watching workers.
    epoch: AtomicU64,
    /// `State::active`, readable without the lock by a caller watching for its workers to finish.
    active: AtomicUsize,
    busy: Mutex<()>,
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let wanted = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).min(15);
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            workers: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            busy: Mutex::new(()),
            state: Mutex::new(State {
                job: None,
                helpers: 0,
                epoch: 0,
                active: 0,
                parked: 0,
                caller_parked: false,
                panic: None,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        }));
        // A system that refuses a thread (a thread limit) gets a smaller pool, down to none: the
        // caller then runs every chunk itself, with the same result.
        let started = (1..=wanted)
            .take_while(|&w| {
                std::thread::Builder::new().name(format!("downhill-{w}")).spawn(move || worker(pool)).is_ok()
            })
            .count();
        pool.workers.store(started, Ordering::Relaxed);
        pool
    })
}

fn worker(pool: &'static Pool) {
    let mut seen = 0u64;
    loop {
        let since = Instant::now();
        while pool.epoch.load(Ordering::Acquire) == seen && since.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        let job = {
            let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            while st.epoch == seen {
                st.parked += 1;
                st = pool.work.wait(st).unwrap_or_else(|e| e.into_inner());
                st.parked -= 1;
            }
            seen = st.epoch;
            match st.job {
                Some(job) if st.helpers > 0 => {
                    st.helpers -= 1;
                    st.active += 1;
                    pool.active.store(st.active, Ordering::Release);
                    job
                }
                // Finished before this worker woke up, or enough helpers already.
                _ => continue,
            }
        };
        // SAFETY: `run` does not return (and the closure stays alive) while `active` counts this
        // worker, which lasts until the decrement below.
        let f = unsafe { &*job.0 };
        let result = catch_unwind(AssertUnwindSafe(f));
        let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(payload) = result {
            st.panic.get_or_insert(payload);
        }
        st.active -= 1;
        pool.active.store(st.active, Ordering::Release);
        if st.active == 0 && st.caller_parked {
            pool.done.notify_one();
        }
    }
}

/// Runs `f` on the calling thread and on up to `helpers` of the pool's workers at once; `f` takes
/// its work from a shared counter, so a worker that wakes late (or never, on a busy machine) finds
/// nothing left to do, and nobody waits for it. Returns when the caller's `f` has returned and no
/// worker is still inside `f`.
fn run(helpers: usize, f: &(dyn Fn() + Sync)) {
    let pool = pool();
    let helpers = helpers.min(pool.workers.load(Ordering::Relaxed));
    let guard = match (helpers > 0).then(|| pool.busy.try_lock()) {
        Some(Ok(g)) => g,
        Some(Err(TryLockError::Poisoned(e))) => e.into_inner(),
        // No workers, or the pool is busy: run everything here.
        _ => return f(),
    };
    // SAFETY: only the lifetime is erased; we wait below until no worker can still call it.
    let job: Job = Job(unsafe {
        std::mem::transmute::<*const (dyn Fn() + Sync + '_), *const (dyn Fn() + Sync + 'static)>(f)
    });
    {
        let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        st.job = Some(job);
        st.helpers = helpers;
        st.active = 0;
        st.epoch += 1;
        pool.epoch.store(st.epoch, Ordering::Release);
        st.panic = None;
        // Watching workers see the new epoch without a wake-up (a system call).
        if st.parked > 0 {
            pool.work.notify_all();
        }
    }
    let mine = catch_unwind(AssertUnwindSafe(f));
    let worker_panic = {
        let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        // No worker may join from now on; wait for those inside `f` (each finishing a chunk).
        st.job = None;
        if st.active > 0 {
            // Watch for them for a while first: a parked caller takes 10–25 µs to wake up.
            drop(st);
            let since = Instant::now();
            while pool.active.load(Ordering::Acquire) > 0 && since.elapsed() < SPIN {
                std::hint::spin_loop();
            }
            st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            st.caller_parked = true;
            while st.active > 0 {
                st = pool.done.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.caller_parked = false;
        }
        st.panic.take()
    };
    drop(guard);
    if let Err(p) = mine {
        std::panic::resume_unwind(p);
    }
    // A closure that panicked on a worker (a kernel bug, or a caller's `zip_chunks` closure)
    // panics here with its own message, as if it had run on this thread.
    if let Some(p) = worker_panic {
        std::panic::resume_unwind(p);
    }
}

/// Calls `f(c)` for every chunk index `c < chunks`, on up to [`threads()`] threads: each thread
/// takes the next chunk not yet taken until none is left, so a thread the system does not run
/// for a while holds up at most the chunk it is in.
pub(crate) fn for_each_chunk(chunks: usize, f: impl Fn(usize) + Sync) {
    let parts = threads().min(chunks).max(1);
    if parts == 1 {
        (0..chunks).for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    run(parts - 1, &|| {
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                break;
            }
            f(c);
        }
    });
}

/// A raw pointer that may be shared with the pool's threads; each chunk writes a disjoint part.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// SAFETY: used only to write disjoint ranges from different threads (see each use).
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The sub-slice `[start, start + len)`.
    ///
    /// # Safety
    /// The range must be in bounds of the original allocation and not accessed by anyone else
    /// while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        // SAFETY: forwarded to the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }

    /// The pointer `start` elements in, for a kernel that writes through strides (a GEMM block).
    ///
    /// # Safety
    /// `start` must be in bounds of the original allocation.
    pub(crate) unsafe fn at(&self, start: usize) -> *mut T {
        // SAFETY: forwarded to the caller.
        unsafe { self.0.add(start) }
    }
}

/// The most slices [`zip_chunks`] takes on each side.
pub const ZIP_MAX: usize = 8;

/// Runs an **elementwise** kernel over equal-length slices: `f(outs, ins)` is called on the
/// slices themselves when they are shorter than [`LARGE`], and otherwise on the same fixed chunk
/// of 8192 elements of every slice at a time, the chunks spread over the pool's threads.
///
/// `f` must compute each output element from the elements at the same position only (an
/// optimizer's update rule, an activation), so cutting the slices into chunks, and which thread
/// runs which chunk, cannot change any result. For a kernel that also sums, see
/// [`zip_chunks_sum`].
///
/// # Errors
/// [`Error::InvalidArgument`] if the slices differ in length or there are more than
/// [`ZIP_MAX`] on a side; `f` is then not called.
#[track_caller]
pub fn zip_chunks<T: Copy + Send + Sync>(
    outs: &mut [&mut [T]],
    ins: &[&[T]],
    f: impl Fn(&mut [&mut [T]], &[&[T]]) + Sync,
) -> Result<()> {
    let n = zip_len(outs, ins, Site::caller())?;
    if n < LARGE || threads().min(n.div_ceil(CHUNK)) <= 1 {
        f(outs, ins);
        return Ok(());
    }
    zip_each_chunk(n, outs, ins, |_, o, i| f(o, i));
    Ok(())
}

/// [`zip_chunks`] for an elementwise kernel that also returns a partial sum of its chunk (a norm,
/// a loss): returns `f` of the whole slices when they are shorter than [`LARGE`], else the chunks'
/// partial sums added in chunk order. From `LARGE` elements on the slices are always cut into
/// the same chunks, also on one thread, so the sum does not depend on the thread count.
///
/// The partial sums live on the stack up to 128 chunks (a million elements).
///
/// # Errors
/// As [`zip_chunks`].
#[track_caller]
pub fn zip_chunks_sum<T: Copy + Send + Sync>(
    outs: &mut [&mut [T]],
    ins: &[&[T]],
    f: impl Fn(&mut [&mut [T]], &[&[T]]) -> f64 + Sync,
) -> Result<f64> {
    let n = zip_len(outs, ins, Site::caller())?;
    Ok(zip_sum_unchecked(n, outs, ins, f))
}

/// [`zip_chunks_sum`] over one input slice and no outputs (a norm, a sum of squares): nothing to
/// check, so nothing can fail.
pub fn chunks_sum<T: Copy + Send + Sync>(x: &[T], f: impl Fn(&[T]) -> f64 + Sync) -> f64 {
    zip_sum_unchecked(x.len(), &mut [], &[x], |_, i| f(i[0]))
}

/// [`zip_chunks_sum`] for slices known to hold `n` elements each, at most [`ZIP_MAX`] a side.
fn zip_sum_unchecked<T: Copy + Send + Sync>(
    n: usize,
    outs: &mut [&mut [T]],
    ins: &[&[T]],
    f: impl Fn(&mut [&mut [T]], &[&[T]]) -> f64 + Sync,
) -> f64 {
    if n < LARGE {
        return f(outs, ins);
    }
    let chunks = n.div_ceil(CHUNK);
    let mut partials = Partials::from_elem(0.0f64, chunks);
    let sums = SendPtr(partials.as_mut_ptr());
    zip_each_chunk(n, outs, ins, |c, o, i| {
        // SAFETY: chunk c writes only its own element of `partials`.
        unsafe { sums.slice(c, 1)[0] = f(o, i) };
    });
    partials.iter().fold(0.0, |s, &v| s + v)
}

/// The common length of `zip_chunks`' slices, or what is wrong with them.
fn zip_len<T>(outs: &[&mut [T]], ins: &[&[T]], at: Site) -> Result<usize> {
    let bad = |message: String| Err(Error::InvalidArgument { op: "zip_chunks", message, at });
    if outs.len() > ZIP_MAX || ins.len() > ZIP_MAX {
        return bad(format!(
            "{} output and {} input slices; at most {ZIP_MAX} a side: split the kernel in two",
            outs.len(),
            ins.len()
        ));
    }
    let n = outs.first().map(|s| s.len()).or_else(|| ins.first().map(|s| s.len())).unwrap_or(0);
    let lens = || outs.iter().map(|s| s.len()).chain(ins.iter().map(|s| s.len()));
    if lens().any(|l| l != n) {
        let all: Vec<usize> = lens().collect();
        return bad(format!(
            "slices of lengths {all:?} (outputs first); an elementwise kernel needs equal lengths"
        ));
    }
    Ok(n)
}

/// Calls `f(c, outs[chunk c], ins[chunk c])` for every chunk `c` of `CHUNK` elements of slices of
/// length `n`, on the pool.
fn zip_each_chunk<T: Copy + Send + Sync>(
    n: usize,
    outs: &mut [&mut [T]],
    ins: &[&[T]],
    f: impl Fn(usize, &mut [&mut [T]], &[&[T]]) + Sync,
) {
    let mut ptrs = [SendPtr(std::ptr::null_mut::<T>()); ZIP_MAX];
    for (p, s) in ptrs.iter_mut().zip(outs.iter_mut()) {
        *p = SendPtr(s.as_mut_ptr());
    }
    let (n_out, n_in) = (outs.len(), ins.len());
    for_each_chunk(n.div_ceil(CHUNK), |c| {
        let (start, len) = (c * CHUNK, CHUNK.min(n - c * CHUNK));
        let mut o: [&mut [T]; ZIP_MAX] = Default::default();
        for (d, p) in o.iter_mut().zip(&ptrs[..n_out]) {
            // SAFETY: every output slice has n elements and chunk c touches only
            // [start, start + len) of each; the slices are exclusively borrowed for the call.
            *d = unsafe { p.slice(start, len) };
        }
        let mut i: [&[T]; ZIP_MAX] = Default::default();
        for (d, s) in i.iter_mut().zip(ins) {
            *d = &s[start..start + len];
        }
        f(c, &mut o[..n_out], &i[..n_in]);
    });
}

/// Per-chunk results (on the stack up to 128 chunks, i.e. a million elements).
pub(crate) type Partials<T> = smallvec::SmallVec<[T; 128]>;

/// The partial results of `n` elements cut into chunks, in chunk order:
/// `partials[c] = f(c·CHUNK .. min((c+1)·CHUNK, n))`.
pub(crate) fn chunk_partials<T: Send + Copy + Default>(
    n: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Partials<T> {
    let chunks = n.div_ceil(CHUNK);
    let mut partials = Partials::from_elem(T::default(), chunks);
    let ptr = SendPtr(partials.as_mut_ptr());
    for_each_chunk(chunks, |c| {
        let r = c * CHUNK..(c * CHUNK + CHUNK).min(n);
        // SAFETY: each chunk writes only its own element of `partials`.
        unsafe { ptr.slice(c, 1)[0] = f(r) };
    });
    partials
}

/// `Σ f(i)` for `i < n` in a fixed order: per chunk, eight interleaved lanes (`i mod 8`) added
/// in order; then the chunks' sums in order. For large tensors only (the order differs from a
/// sequential sum); the chunks run on the pool.
pub(crate) fn sum_large<T: crate::Float>(n: usize, f: impl Fn(usize) -> T + Sync) -> T {
    let partials = chunk_partials(n, |r| {
        let mut acc = [T::zero(); 8];
        let mut i = r.start;
        while i + 8 <= r.end {
            for (l, a) in acc.iter_mut().enumerate() {
                *a += f(i + l);
            }
            i += 8;
        }
        for (l, j) in (i..r.end).enumerate() {
            acc[l] += f(j);
        }
        acc.iter().fold(T::zero(), |s, &v| s + v)
    });
    partials.iter().fold(T::zero(), |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_thread_count_is_explained() {
        assert_eq!(parse_threads("2"), Ok(2));
        assert_eq!(parse_threads(" 3\n"), Ok(3));
        assert!(parse_threads("0").unwrap_err().contains("set it to 1 or more"));
        for bad in ["two", "-1", "", "1.5"] {
            let e = parse_threads(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("DOWNHILL_THREADS=2"), "{e}");
        }
    }

    #[test]
    fn every_chunk_runs_once_whatever_the_thread_count() {
        for t in [1, 2, 3, 8] {
            set_threads(t);
            let mut out = vec![0usize; 5 * CHUNK + 17];
            let n = out.len();
            let ptr = SendPtr(out.as_mut_ptr());
            for_each_chunk(n.div_ceil(CHUNK), |c| {
                let start = c * CHUNK;
                // SAFETY: chunk c covers its own range of `out`.
                let dst = unsafe { ptr.slice(start, CHUNK.min(n - start)) };
                for (i, d) in dst.iter_mut().enumerate() {
                    *d += start + i + 1;
                }
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i + 1), "threads {t}");
            let partials = chunk_partials(out.len(), |r| r.len());
            assert_eq!(partials.len(), 6);
            assert_eq!(partials.iter().sum::<usize>(), out.len());
        }
        THREADS.store(0, Ordering::Relaxed);
        assert!(threads() >= 1);
    }

    #[test]
    fn zip_chunks_covers_every_element_once_with_its_own_inputs() {
        for n in [0, 5, LARGE - 1, LARGE, 3 * CHUNK + LARGE + 7] {
            for t in [1, 2, 3] {
                set_threads(t);
                let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
                let y: Vec<f64> = (0..n).map(|i| 2.0 * i as f64).collect();
                let (mut a, mut b) = (vec![0.0; n], vec![1.0; n]);
                zip_chunks(&mut [&mut a, &mut b], &[&x, &y], |o, i| {
                    let [a, b] = o else { panic!("two outputs") };
                    for (((a, b), &x), &y) in a.iter_mut().zip(b.iter_mut()).zip(i[0]).zip(i[1]) {
                        *a += x + y;
                        *b += 1.0;
                    }
                })
                .unwrap();
                assert!(a.iter().enumerate().all(|(i, &v)| v == 3.0 * i as f64), "n {n}, threads {t}");
                assert!(b.iter().all(|&v| v == 2.0), "n {n}, threads {t}");
            }
        }
        THREADS.store(0, Ordering::Relaxed);
    }

    #[test]
    fn zip_chunks_sum_adds_fixed_chunks_in_order_whatever_the_thread_count() {
        let n = 5 * CHUNK + LARGE + 3;
        // Values whose sum depends on the order: chunk sums of a fixed cut, added in order.
        let x: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 1e-17 + (i % 3) as f64 * 1e10).collect();
        let want = x.chunks(CHUNK).map(|c| c.iter().sum::<f64>()).fold(0.0, |s, v| s + v);
        for t in [1, 2, 3] {
            set_threads(t);
            let mut y = vec![0.0; n];
            let got = zip_chunks_sum(&mut [&mut y], &[&x], |o, i| {
                o[0].copy_from_slice(i[0]);
                i[0].iter().sum()
            })
            .unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "threads {t}");
            assert_eq!(y, x);
            // Short slices: one call on the whole.
            let got = zip_chunks_sum(&mut [], &[&x[..100]], |_, i| i[0].iter().sum()).unwrap();
            assert_eq!(got, x[..100].iter().sum::<f64>());
            // One input, no outputs: the same sums without a check.
            assert_eq!(chunks_sum(&x, |c| c.iter().sum()).to_bits(), want.to_bits(), "threads {t}");
        }
        THREADS.store(0, Ordering::Relaxed);
    }

    #[test]
    fn a_closure_that_panics_on_a_worker_panics_on_the_caller_with_its_own_message() {
        if pool().workers.load(Ordering::Relaxed) == 0 {
            return; // one core: nothing runs on a worker
        }
        set_threads(2);
        let mut out = vec![0.0f32; 4 * CHUNK * 8];
        let inp = vec![1.0f32; out.len()];
        // The worker may start late and find no chunk left (or another test may hold the pool):
        // try until a chunk ran on it.
        for _ in 0..200 {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                zip_chunks(&mut [&mut out[..]], &[&inp[..]], |o, i| {
                    if std::thread::current().name().is_some_and(|n| n.starts_with("downhill-")) {
                        panic!("the caller's kernel failed");
                    }
                    o[0].copy_from_slice(i[0]);
                })
            }));
            if let Err(payload) = caught {
                let msg = payload.downcast_ref::<&str>().copied().unwrap_or("not the caller's message");
                assert_eq!(msg, "the caller's kernel failed");
                return;
            }
        }
        panic!("no chunk ran on a worker in 200 tries");
    }

    #[test]
    fn zip_chunks_refuses_mismatched_slices_with_a_typed_error() {
        let called = std::sync::atomic::AtomicBool::new(false);
        let e = zip_chunks(&mut [&mut [0.0f32; 3][..]], &[&[1.0f32; 4][..]], |_, _| {
            called.store(true, Ordering::Relaxed);
        })
        .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { op: "zip_chunks", .. }), "{e}");
        assert!(e.to_string().contains("lengths [3, 4]"), "{e}");
        let many: Vec<&[f32]> = vec![&[1.0][..]; ZIP_MAX + 1];
        let e = zip_chunks_sum(&mut [], &many, |_, _| 0.0).unwrap_err();
        assert!(e.to_string().contains("at most 8 a side"), "{e}");
        assert!(!called.load(Ordering::Relaxed), "the kernel ran on bad slices");
    }
}

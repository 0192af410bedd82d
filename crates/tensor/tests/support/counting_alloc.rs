//! A counting global allocator for the allocation tests (`crates/tensor/tests/alloc_steady_state.rs`
//! and the root `tests/alloc_workloads.rs`, which include this file with `#[path]`). It keeps two
//! kinds of count:
//!
//! - [`allocations`]: the number of allocations made by a closure, counted only on the thread that
//!   switched counting on, so the test harness's own threads cannot disturb the count;
//! - [`live_bytes`] / [`peak_live_bytes`]: the bytes currently allocated and the most ever allocated
//!   at once since [`reset_peak`], over **every** thread (a kernel's worker threads count too). A
//!   test that reads them must keep the other tests of its binary from allocating at the same time
//!   (e.g. by holding one shared mutex in every test).

#![allow(dead_code)] // each includer uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes allocated and not yet freed, over all threads.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The largest value `LIVE` reached since the last `reset_peak`.
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn note() {
    // `try_with`: the allocator can run while a thread's locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

fn grew(bytes: usize) {
    // `fetch_add` returns the value just before this allocation in LIVE's single modification
    // order, so the maximum of these sums is the true peak even with several threads allocating.
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; the bookkeeping touches only
// const-initialised thread-locals and atomics, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as if the block grew or shrank in place; a moving realloc briefly holds
            // both blocks inside the system allocator, which no caller can observe.
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f` on this thread.
pub fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(Cell::get)
}

/// Bytes allocated and not yet freed, over all threads (the sizes the callers asked for, not
/// counting the system allocator's own headers and rounding).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak: from now on [`peak_live_bytes`] reports the largest [`live_bytes`] seen.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The largest [`live_bytes`] since the last [`reset_peak`] (or since the program started).
pub fn peak_live_bytes() -> usize {
    PEAK.load(Ordering::Relaxed).max(live_bytes())
}

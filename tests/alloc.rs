//! Steady state allocates nothing: heartbeats and acks through
//! `handle_message` and `poll_output` on a 5-node cluster, counted by a
//! global allocator that counts only while this thread asks it to.
//!
//! The cluster runs on `sim::LockStep`, hence the `sim` feature.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

#[path = "support/pump.rs"]
mod pump;

struct CountingAllocator;

thread_local! {
    // Both per thread, so tests running in parallel do not count each
    // other's allocations; const-initialised so that touching them never
    // allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every method forwards to `System` unchanged; the only addition is
// a counter, which neither allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count_allocations(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn steady_state_heartbeats_and_acks_allocate_nothing() {
    let mut cluster = pump::Pump::new(5, 7);
    let (goose, _) = cluster
        .elect(1_000)
        .expect("a 5-node loss-free cluster elects");
    // Warm up: a few rounds so every buffer has reached its working size,
    // and every Duck has acknowledged the membership the new Goose re-issued
    // (until then heartbeats carry it, and those allocate by design).
    for _ in 0..50 {
        cluster.tick_one(goose);
    }
    let goose_membership = cluster.node(goose).membership().id();
    for node in cluster.nodes() {
        assert_eq!(node.membership().id(), goose_membership, "{}", node.id());
    }
    assert_eq!(cluster.node(goose).membership_pending(), Some(false));
    let membership_changes: Vec<u64> = cluster
        .nodes()
        .iter()
        .map(|node| node.counters().membership_changes)
        .collect();
    let delivered_before = cluster.delivered();
    let allocations = count_allocations(|| {
        for _ in 0..10_000 {
            cluster.tick_one(goose);
        }
    });
    let delivered = cluster.delivered() - delivered_before;
    // 10 000 ticks at one round per 5 ticks, 4 heartbeats and 4 acks a round.
    assert_eq!(delivered, 10_000 / 5 * 8);
    assert_eq!(
        allocations, 0,
        "steady state allocated {allocations} times for {delivered} messages"
    );
    assert_eq!(cluster.node(goose).role(), duckduckgoose::Role::Goose);
    // Nothing changed the membership meanwhile: these were plain heartbeats.
    let membership_changes_after: Vec<u64> = cluster
        .nodes()
        .iter()
        .map(|node| node.counters().membership_changes)
        .collect();
    assert_eq!(membership_changes_after, membership_changes);
}

#[test]
fn the_counter_counts() {
    // A check that the allocator above can fail the test at all.
    let allocations = count_allocations(|| {
        let v: Vec<u64> = Vec::with_capacity(16);
        std::hint::black_box(v);
    });
    assert!(allocations >= 1);
}

//! When each recent tick happened, so a lease counted in ticks can be turned
//! into a real-time deadline: a stalled driver sees fewer ticks than real
//! time passed, so a lease counted in ticks alone would look longer than it
//! is. The runtime keeps tokio `Instant`s; the simulator keeps virtual
//! microseconds.

use std::collections::VecDeque;

/// The instants (`T`) at which a host processed its most recent ticks.
///
/// A host that advances time by deadline rather than tick by tick processes
/// several ticks in one step; every tick of a step happened at the step's
/// instant, so the clock keeps one entry per step, not per tick: "every tick
/// after the previous entry's, up to this one, was processed at this
/// instant".
///
/// A Goose's lease starts at a tick no older than the lease itself (the core
/// stops being Goose once `now_tick ≥ start + lease`), so remembering
/// `lease_ticks + 1` ticks is enough; each step covers at least one tick, so
/// the entries fit in a buffer of that many, allocated once.
#[derive(Debug)]
pub(crate) struct TickClock<T> {
    /// The number of the newest tick recorded.
    last_tick: u64,
    /// How many ticks back are remembered (the newest included).
    remembered_ticks: u64,
    /// `(newest tick of a step, its instant)`, oldest first, ticks strictly
    /// increasing; no entry older than `remembered_ticks` is kept.
    steps: VecDeque<(u64, T)>,
}

impl<T: Copy> TickClock<T> {
    /// A clock whose tick 0 (the core's state at construction) happened at
    /// `start`, remembering at least `span_ticks + 1` ticks.
    pub(crate) fn new(start: T, span_ticks: u64) -> Self {
        // A lease that does not fit in memory cannot be honoured either; the
        // cap only bounds the allocation, and an evicted tick reads as `None`
        // (no lease), which is the safe answer.
        let capacity = usize::try_from(span_ticks)
            .unwrap_or(usize::MAX)
            .saturating_add(2)
            .min(1 << 16);
        let mut steps = VecDeque::with_capacity(capacity);
        steps.push_back((0, start));
        TickClock {
            last_tick: 0,
            remembered_ticks: capacity as u64,
            steps,
        }
    }

    /// Records that the next tick is being processed at `now`. Call it
    /// *before* the core's `tick()`, so that everything the core sends during
    /// that tick leaves after the recorded instant. (The simulator ticks one
    /// tick at a time; the runtime advances by deadline.)
    #[cfg(any(test, feature = "sim"))]
    #[inline]
    pub(crate) fn record(&mut self, now: T) {
        self.record_through(self.last_tick + 1, now);
    }

    /// Records that every tick after the newest recorded, up to `tick`, is
    /// being processed at `now` (one step of a host advancing by deadline).
    /// Call it *before* the core's `advance_to(tick)`. A `tick` already
    /// recorded changes nothing.
    pub(crate) fn record_through(&mut self, tick: u64, now: T) {
        if tick <= self.last_tick {
            return;
        }
        self.last_tick = tick;
        let oldest = self.oldest_remembered_tick();
        while self.steps.front().is_some_and(|(step, _)| *step < oldest) {
            self.steps.pop_front();
        }
        // Every entry left covers a distinct remembered tick, so there is
        // room: this never reallocates.
        self.steps.push_back((tick, now));
    }

    /// When tick `tick` was processed, if it is still remembered.
    #[inline]
    pub(crate) fn instant_of(&self, tick: u64) -> Option<T> {
        if tick > self.last_tick || tick < self.oldest_remembered_tick() {
            return None;
        }
        // The step that processed `tick`: the first one reaching it.
        let index = self.steps.partition_point(|(step, _)| *step < tick);
        self.steps.get(index).map(|(_, instant)| *instant)
    }

    fn oldest_remembered_tick(&self) -> u64 {
        (self.last_tick + 1).saturating_sub(self.remembered_ticks)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn remembers_recent_ticks_and_forgets_old_ones() {
        let start = Instant::now();
        let at = |tick: u64| start + Duration::from_millis(10 * tick);
        let mut clock = TickClock::new(start, 3);
        for tick in 1..=10 {
            clock.record(at(tick));
        }
        // Capacity 5: ticks 6..=10 are remembered.
        assert_eq!(clock.instant_of(5), None);
        for tick in 6..=10 {
            assert_eq!(clock.instant_of(tick), Some(at(tick)));
        }
        assert_eq!(clock.instant_of(11), None);
    }

    #[test]
    fn a_step_over_several_ticks_dates_them_all() {
        let start = Instant::now();
        let at = |tick: u64| start + Duration::from_millis(10 * tick);
        let mut clock = TickClock::new(start, 20);
        clock.record(at(1));
        clock.record_through(6, at(6));
        clock.record_through(6, at(7));
        clock.record_through(11, at(12));
        assert_eq!(clock.instant_of(0), Some(start));
        assert_eq!(clock.instant_of(1), Some(at(1)));
        for tick in 2..=6 {
            assert_eq!(clock.instant_of(tick), Some(at(6)), "tick {tick}");
        }
        for tick in 7..=11 {
            assert_eq!(clock.instant_of(tick), Some(at(12)), "tick {tick}");
        }
        assert_eq!(clock.instant_of(12), None);
        // Capacity 22: a jump to tick 30 forgets ticks 0..=8, and the step
        // that covered 7..=11 still dates 9..=11.
        clock.record_through(30, at(30));
        assert_eq!(clock.instant_of(8), None);
        assert_eq!(clock.instant_of(9), Some(at(12)));
        assert_eq!(clock.instant_of(12), Some(at(30)));
    }

    #[test]
    fn tick_zero_is_the_start() {
        let start = Instant::now();
        let clock = TickClock::new(start, 25);
        assert_eq!(clock.instant_of(0), Some(start));
        assert_eq!(clock.instant_of(1), None);
    }
}

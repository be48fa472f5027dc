//! When each recent tick happened, so a lease counted in ticks can be turned
//! into a real-time deadline: a stalled driver sees fewer ticks than real
//! time passed, so a lease counted in ticks alone would look longer than it
//! is. The runtime keeps tokio `Instant`s; the simulator keeps virtual
//! microseconds.

/// A ring buffer of the instants (`T`) at which a host processed its most
/// recent ticks.
///
/// A Goose's lease starts at a tick no older than the lease itself (the core
/// stops being Goose once `now_tick ≥ start + lease`), so remembering
/// `lease_ticks + 1` ticks is enough; the buffer is allocated once.
#[derive(Debug)]
pub(crate) struct TickClock<T> {
    /// The number of the newest tick recorded.
    last_tick: u64,
    /// Its slot in `instants`: `last_tick % len`, kept so that recording
    /// a tick needs no division.
    last_slot: usize,
    /// Slot `tick % len` holds tick `tick`, for the newest `len` ticks (or
    /// as many as have happened).
    instants: Vec<T>,
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
        TickClock {
            last_tick: 0,
            last_slot: 0,
            instants: vec![start; capacity],
        }
    }

    /// Records that the next tick is being processed at `now`. Call it
    /// *before* the core's `tick()`, so that everything the core sends during
    /// that tick leaves after the recorded instant.
    #[inline]
    pub(crate) fn record(&mut self, now: T) {
        self.last_tick += 1;
        self.last_slot += 1;
        if self.last_slot == self.instants.len() {
            self.last_slot = 0;
        }
        self.instants[self.last_slot] = now;
    }

    /// When tick `tick` was processed, if it is still remembered.
    #[inline]
    pub(crate) fn instant_of(&self, tick: u64) -> Option<T> {
        let age = self.last_tick.checked_sub(tick)?;
        if age >= self.instants.len() as u64 {
            return None;
        }
        Some(self.instants[self.slot(tick)])
    }

    fn slot(&self, tick: u64) -> usize {
        // The remainder is below `len`, a `usize`.
        (tick % self.instants.len() as u64) as usize
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
    fn tick_zero_is_the_start() {
        let start = Instant::now();
        let clock = TickClock::new(start, 25);
        assert_eq!(clock.instant_of(0), Some(start));
        assert_eq!(clock.instant_of(1), None);
    }
}

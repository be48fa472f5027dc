//! When each recent tick happened, so a lease counted in ticks can be turned
//! into a real-time deadline: a stalled driver sees fewer ticks than real
//! time passed, so a lease counted in ticks alone would look longer than it
//! is. The runtime keeps tokio `Instant`s; the simulator keeps virtual
//! microseconds.

use std::collections::VecDeque;

/// A ring buffer of the instants (`T`) at which a host processed its most
/// recent ticks.
///
/// A Goose's lease starts at a tick no older than the lease itself (the core
/// stops being Goose once `now_tick ≥ start + lease`), so remembering
/// `lease_ticks + 1` ticks is enough; the buffer is allocated once.
#[derive(Debug)]
pub(crate) struct TickClock<T> {
    /// The tick number of `instants[0]`.
    first_tick: u64,
    instants: VecDeque<T>,
    capacity: usize,
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
        let mut instants = VecDeque::with_capacity(capacity);
        instants.push_back(start);
        TickClock {
            first_tick: 0,
            instants,
            capacity,
        }
    }

    /// Records that the next tick is being processed at `now`. Call it
    /// *before* the core's `tick()`, so that everything the core sends during
    /// that tick leaves after the recorded instant.
    pub(crate) fn record(&mut self, now: T) {
        if self.instants.len() == self.capacity {
            self.instants.pop_front();
            self.first_tick += 1;
        }
        self.instants.push_back(now);
    }

    /// When tick `tick` was processed, if it is still remembered.
    pub(crate) fn instant_of(&self, tick: u64) -> Option<T> {
        let index = usize::try_from(tick.checked_sub(self.first_tick)?).ok()?;
        self.instants.get(index).copied()
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

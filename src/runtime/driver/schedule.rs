//! When each tick falls due in real time, so that the driver can sleep until
//! the core's next deadline instead of waking every tick.
//!
//! Ticks fall due every `tick` from an anchor: the driver's start, moved
//! only when the driver itself overran a tick. Time the driver spends
//! waiting counts in full: on waking, the core is advanced to the tick the
//! clock says. Time the driver spends *busy* past the next tick (a blocking
//! call, a starved executor while it runs) does not: like a tokio interval
//! with `MissedTickBehavior::Delay`, the missed tick falls due at once and
//! the ticks after it a whole tick apart from there, so the core sees fewer
//! ticks than real time passed. That is the safe direction for a voter (it
//! stays sticky longer); for the Goose, whose lease would look longer,
//! `is_goose` checks the lease's real-time deadline.

use std::time::Duration;

use tokio::time::Instant;

/// The tick schedule: tick `anchor_tick` fell due at `anchor`, and each tick
/// after it a `tick` later.
#[derive(Clone, Copy, Debug)]
pub(super) struct TickSchedule {
    anchor_tick: u64,
    anchor: Instant,
    /// At least a nanosecond, so that dividing by it is defined.
    tick_nanos: u128,
}

impl TickSchedule {
    /// Tick 0 due at `start`, one tick every `tick`.
    pub(super) fn new(start: Instant, tick: Duration) -> Self {
        TickSchedule {
            anchor_tick: 0,
            anchor: start,
            tick_nanos: tick.as_nanos().max(1),
        }
    }

    /// When tick `tick` falls due; `None` when that is too far away to
    /// express (centuries: never, in practice).
    pub(super) fn instant_of(&self, tick: u64) -> Option<Instant> {
        let ticks = u128::from(tick.saturating_sub(self.anchor_tick));
        let nanos = u64::try_from(ticks.checked_mul(self.tick_nanos)?).ok()?;
        self.anchor.checked_add(Duration::from_nanos(nanos))
    }

    /// The newest tick due at `now`.
    pub(super) fn tick_at(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.anchor).as_nanos();
        let ticks = u64::try_from(elapsed / self.tick_nanos).unwrap_or(u64::MAX);
        self.anchor_tick.saturating_add(ticks)
    }

    /// The driver finished handling an input at `now`, with the core at
    /// `now_tick`: if the next tick fell due while it was busy, that tick
    /// falls due now instead, and the schedule continues from there.
    pub(super) fn after_busy(&mut self, now_tick: u64, now: Instant) {
        let next = now_tick.saturating_add(1);
        if self.instant_of(next).is_some_and(|due| due < now) {
            self.anchor_tick = next;
            self.anchor = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);

    #[test]
    fn ticks_fall_due_a_tick_apart_from_the_start() {
        let start = Instant::now();
        let schedule = TickSchedule::new(start, TICK);
        assert_eq!(schedule.instant_of(0), Some(start));
        assert_eq!(schedule.instant_of(30), Some(start + 30 * TICK));
        assert_eq!(schedule.tick_at(start), 0);
        assert_eq!(
            schedule.tick_at(start + 30 * TICK - Duration::from_nanos(1)),
            29
        );
        assert_eq!(schedule.tick_at(start + 30 * TICK), 30);
        assert_eq!(schedule.instant_of(u64::MAX), None);
    }

    #[test]
    fn waiting_counts_but_a_busy_overrun_delays_the_ticks_after_it() {
        let start = Instant::now();
        let mut schedule = TickSchedule::new(start, TICK);
        // Done with tick 5 before tick 6 was due: nothing moves.
        schedule.after_busy(5, start + 5 * TICK + Duration::from_millis(3));
        assert_eq!(schedule.instant_of(6), Some(start + 6 * TICK));
        // Busy with tick 6 until well after tick 8 was due: tick 7 falls due
        // when it is done, tick 8 a tick later.
        let done = start + 8 * TICK + Duration::from_millis(4);
        schedule.after_busy(6, done);
        assert_eq!(schedule.instant_of(7), Some(done));
        assert_eq!(schedule.instant_of(8), Some(done + TICK));
        assert_eq!(schedule.tick_at(done), 7);
        assert_eq!(schedule.tick_at(done + 3 * TICK), 10);
    }
}

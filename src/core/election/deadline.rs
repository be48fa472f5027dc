//! Time without ticking: when the next timer is due, and advancing several
//! ticks in one input.
//!
//! A host that calls [`Election::tick`] every tick wakes up a hundred times
//! a second (at the default 10 ms tick) although nothing happens between a
//! Goose's heartbeat rounds, or before a Duck's election timeout. Instead it
//! can sleep until [`Election::next_deadline_tick`], or until a message or
//! command arrives, and then call [`Election::advance_to`] with the tick its
//! clock says: the outputs are exactly those of the same number of `tick()`
//! calls, and the work is proportional to the deadlines crossed, not to the
//! ticks.

use super::super::config::Config;
use super::leader::LeaderState;
use super::{Election, State};

impl LeaderState {
    /// The tick at which this leadership's lease runs out, unless renewed
    /// first (a Goose that never held one steps down a lease after its
    /// election). Only with check-quorum does it end anything.
    pub(super) fn lease_deadline_tick(&self, lease_ticks: u64) -> u64 {
        self.lease_start_tick
            .unwrap_or(self.elected_tick)
            .saturating_add(lease_ticks)
    }

    /// The first tick at which `tick_due` asks for anything: the next
    /// heartbeat round, or the lease's end with check-quorum on.
    fn next_due_tick(&self, lease_ticks: u64, config: &Config) -> u64 {
        let lease_end = if config.check_quorum {
            self.lease_deadline_tick(lease_ticks)
        } else {
            u64::MAX
        };
        self.next_round_tick.min(lease_end)
    }
}

impl Election {
    /// The earliest tick at which [`tick`](Self::tick) could queue an output
    /// or change what a getter says beyond the clock itself; `None` when no
    /// timer runs, so that only an input (a message, a command) can change
    /// anything.
    ///
    /// Due on the Goose: its next heartbeat round (a learner's promotion
    /// rides on it) and, with check-quorum, the end of its lease, where
    /// [`role`](Self::role) turns Duck and the node steps down. Due on a
    /// Duck or (pre-)candidate: its election timeout (a learner's
    /// membership probe); a node outside the membership has none.
    ///
    /// Between now and this tick, ticking changes nothing but
    /// [`now_tick`](Self::now_tick) and what is counted down from it:
    /// [`lease_remaining_ticks`](Self::lease_remaining_ticks) and whether
    /// the node is still sticky (which only the answer to a later message
    /// shows). Always later than `now_tick`; recompute it after every input,
    /// since any input can move it.
    pub fn next_deadline_tick(&self) -> Option<u64> {
        let due = match &self.state {
            State::Leader(leader) => Some(leader.next_due_tick(self.lease_ticks, &self.config)),
            // A node outside the membership neither campaigns nor probes
            // when its timer runs out (`on_election_timeout`).
            _ if !self.is_voter && !self.membership.contains(self.config.id) => None,
            _ => self.state.election_deadline_tick(),
        };
        // A timer already due fires at the very next tick.
        due.map(|tick| tick.max(self.now_tick.saturating_add(1)))
    }

    /// Local time has reached tick `target_tick`: the same outputs, in the
    /// same order, and the same state as `target_tick - now_tick()` calls of
    /// [`tick`](Self::tick), but costing one step per deadline crossed. The
    /// host drains [`poll_output`](Self::poll_output) afterwards as after any
    /// input. A target at or before `now_tick()` changes nothing.
    pub fn advance_to(&mut self, target_tick: u64) {
        while self.now_tick < target_tick {
            match self.next_deadline_tick() {
                Some(due) if due <= target_tick => {
                    // Nothing happens on the ticks before `due`: skip them,
                    // then run the one that is due.
                    self.now_tick = due - 1;
                    self.tick();
                }
                _ => self.now_tick = target_tick,
            }
        }
    }
}

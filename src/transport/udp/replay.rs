//! Refusing datagrams seen before: each sender's boot epoch, and a sliding
//! window over its counters within that epoch.
//!
//! A sender numbers its datagrams with a counter that starts afresh at each
//! boot, under a boot epoch (wall-clock UNIX nanoseconds at the transport's
//! creation, strictly above any epoch the same process used before). For
//! each sender the receiver remembers the newest epoch, the highest counter
//! and which of the [`WINDOW`] counters up to it were seen:
//!
//! - a newer epoch: the sender restarted; accepted, and the window starts
//!   over at its counter, so a restarted node is heard at once;
//! - an older epoch: refused ([`Verdict::StaleEpoch`]);
//! - the same epoch, a counter above the highest: accepted, the window
//!   slides up;
//! - a counter within the window not seen yet (reordered): accepted;
//! - one seen already ([`Verdict::Replay`]), or below the window
//!   ([`Verdict::BelowWindow`]): refused. Datagrams that old carry nothing
//!   a newer one has not superseded.
//!
//! The assumption behind epochs: a node's clock does not step back across
//! its restart by more than its downtime. If it does, its peers refuse its
//! datagrams (counted as stale epochs) until its new epoch passes the one
//! they saw.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::NodeId;

/// Counters remembered below the highest, the highest included.
pub(crate) const WINDOW: u64 = 64;

/// Most senders remembered. Without a key, anyone sending from a peer's
/// address can claim any id, so the table is bounded: when full, the
/// sender accepted longest ago is forgotten (a replay of its datagrams is
/// then accepted once more, as after its restart).
pub(crate) const MAX_SENDERS: usize = 1024;

/// What to do with a datagram, by its sender, epoch and counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: deliver it.
    Fresh,
    /// Its counter was seen already in this epoch.
    Replay,
    /// Its counter is below the window.
    BelowWindow,
    /// It comes from an older boot of its sender.
    StaleEpoch,
}

/// One sender's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    epoch: u64,
    highest: u64,
    /// Bit `i` set: counter `highest - i` was seen.
    seen: u64,
    /// When it last accepted a datagram, in `Replay::clock` steps.
    last_accepted: u64,
}

/// Every sender's window.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    senders: HashMap<NodeId, Window>,
    /// Counts accepted datagrams: an order for eviction, not a time.
    clock: u64,
}

impl Replay {
    /// Decides on a datagram from `from`, and records it when fresh. Call
    /// it only for datagrams already authenticated (with a key), so that a
    /// forger cannot move a window.
    pub(crate) fn check(&mut self, from: NodeId, epoch: u64, counter: u64) -> Verdict {
        self.clock += 1;
        let now = self.clock;
        let Some(window) = self.senders.get_mut(&from) else {
            if self.senders.len() >= MAX_SENDERS {
                self.evict_oldest();
            }
            self.senders.insert(
                from,
                Window {
                    epoch,
                    highest: counter,
                    seen: 1,
                    last_accepted: now,
                },
            );
            return Verdict::Fresh;
        };
        let verdict = window.check(epoch, counter);
        if verdict == Verdict::Fresh {
            window.last_accepted = now;
        }
        verdict
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .senders
            .iter()
            .min_by_key(|(_, window)| window.last_accepted)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.senders.remove(&id);
        }
    }

    /// Senders remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }
}

impl Window {
    fn check(&mut self, epoch: u64, counter: u64) -> Verdict {
        if epoch < self.epoch {
            return Verdict::StaleEpoch;
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.highest = counter;
            self.seen = 1;
            return Verdict::Fresh;
        }
        if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = counter;
            return Verdict::Fresh;
        }
        let behind = self.highest - counter;
        if behind >= WINDOW {
            return Verdict::BelowWindow;
        }
        let bit = 1u64 << behind;
        if self.seen & bit != 0 {
            return Verdict::Replay;
        }
        self.seen |= bit;
        Verdict::Fresh
    }
}

/// The newest boot epoch handed out in this process.
static LAST_EPOCH: AtomicU64 = AtomicU64::new(0);

/// A boot epoch for a new transport: UNIX nanoseconds now, strictly above
/// every epoch this process used before (two transports created in one
/// nanosecond, or a clock that stepped back while the process ran, still
/// get increasing epochs). A clock before 1970 reads as 0.
pub(crate) fn boot_epoch() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut last = LAST_EPOCH.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST_EPOCH.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);

    /// Runs `(epoch, counter)` datagrams from one sender through a fresh
    /// table and lists the verdicts.
    fn run(datagrams: &[(u64, u64)]) -> Vec<Verdict> {
        let mut replay = Replay::default();
        datagrams
            .iter()
            .map(|&(epoch, counter)| replay.check(A, epoch, counter))
            .collect()
    }

    use Verdict::{BelowWindow, Fresh, Replay as Rep, StaleEpoch};

    #[test]
    fn in_order_counters_are_fresh_and_repeats_are_replays() {
        assert_eq!(
            run(&[(5, 0), (5, 1), (5, 2), (5, 2), (5, 0), (5, 3)]),
            vec![Fresh, Fresh, Fresh, Rep, Rep, Fresh]
        );
    }

    #[test]
    fn reordered_counters_within_the_window_are_fresh_once() {
        assert_eq!(
            run(&[(5, 10), (5, 7), (5, 9), (5, 7), (5, 8), (5, 10)]),
            vec![Fresh, Fresh, Fresh, Rep, Fresh, Rep]
        );
    }

    #[test]
    fn the_window_holds_64_counters_and_older_ones_are_below_it() {
        // Highest 100: 37 is the oldest in the window (100 - 63), 36 is below.
        assert_eq!(
            run(&[
                (5, 100),
                (5, 37),
                (5, 36),
                (5, 37),
                (5, 164),
                (5, 100),
                (5, 101)
            ]),
            vec![Fresh, Fresh, BelowWindow, Rep, Fresh, BelowWindow, Fresh]
        );
    }

    #[test]
    fn a_jump_past_the_window_forgets_everything_below() {
        assert_eq!(
            run(&[(5, 1), (5, 1000), (5, 999), (5, 1000), (5, 1)]),
            vec![Fresh, Fresh, Fresh, Rep, BelowWindow]
        );
    }

    #[test]
    fn a_newer_epoch_resets_the_window_and_an_older_one_is_stale() {
        assert_eq!(
            run(&[(5, 500), (6, 0), (6, 1), (5, 501), (6, 0), (7, 0), (6, 2)]),
            vec![Fresh, Fresh, Fresh, StaleEpoch, Rep, Fresh, StaleEpoch]
        );
    }

    #[test]
    fn senders_have_windows_of_their_own() {
        let mut replay = Replay::default();
        assert_eq!(replay.check(A, 5, 0), Fresh);
        assert_eq!(replay.check(NodeId(2), 5, 0), Fresh);
        assert_eq!(replay.check(A, 5, 0), Rep);
        assert_eq!(replay.check(NodeId(2), 4, 9), StaleEpoch);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_sender_heard_longest_ago() {
        let mut replay = Replay::default();
        for id in 0..MAX_SENDERS as u64 {
            assert_eq!(replay.check(NodeId(id), 1, 0), Fresh);
        }
        // Sender 0 is heard again, so sender 1 is now the oldest.
        assert_eq!(replay.check(NodeId(0), 1, 1), Fresh);
        assert_eq!(replay.check(NodeId(u64::MAX), 1, 0), Fresh);
        assert_eq!(replay.len(), MAX_SENDERS);
        assert_eq!(replay.check(NodeId(0), 1, 1), Rep, "kept");
        assert_eq!(replay.check(NodeId(1), 1, 0), Fresh, "forgotten");
    }

    #[test]
    fn boot_epochs_strictly_increase() {
        let epochs: Vec<u64> = (0..1000).map(|_| boot_epoch()).collect();
        assert!(epochs.windows(2).all(|w| w[0] < w[1]));
        assert!(epochs[0] > 1_600_000_000_000_000_000, "UNIX nanoseconds");
    }
}

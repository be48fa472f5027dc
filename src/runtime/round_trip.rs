//! Heartbeat-ack round trips, measured by the driver: the core counts ticks
//! and knows no time, so the instant a heartbeat's tick was processed
//! (the driver's [`TickClock`]) and the instant its ack arrived are compared
//! here. Each measurement goes to the peers table (last and smoothed round
//! trip), the ack histogram and, for an ack that came too late to extend any
//! lease, the late-ack counter, a [`NodeEvent::LateAck`] and a rate-limited
//! warning.
//!
//! What is measured: acks of the newest term this node led, while or after
//! it led it (a Goose whose acks come too late loses its lease, or never
//! holds one, before they arrive: those are the acks that explain why), one
//! sample per peer per heartbeat round, newest rounds only. A duplicate
//! ack, or one overtaken by the ack of a newer round from the same peer, is
//! ignored. The round trip runs from the instant the driver processed the
//! heartbeat's tick, the instant the lease counts from, so it includes the
//! time the driver took to send it (for a new Goose's first round, sent when
//! the last vote arrived, up to one tick: the driver dates a tick it catches
//! up on when a message wakes it at the tick's scheduled instant, when a
//! driver ticking every tick would have processed it).
//!
//! [`TickClock`]: crate::tick_clock::TickClock
//! [`NodeEvent::LateAck`]: super::NodeEvent::LateAck

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::Observed;
use super::events::EventSender;
use crate::core::{NodeId, Term, is_round_tick};
use crate::tick_clock::TickClock;

/// At most one late-ack warning per node per this interval; the late acks in
/// between are counted and the next warning says how many there were.
pub const LATE_ACK_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The longest round trip measured exactly: the top bucket of
/// [`ACK_ROUND_TRIP_BUCKETS`](super::ACK_ROUND_TRIP_BUCKETS). The driver's
/// tick clock remembers this far back (the lease alone needs only the lease
/// plus a tick), so that a late ack says by how much it was late.
const MEASURED_SPAN: Duration = Duration::from_millis(2_500);

/// How many ticks the driver's clock remembers: the lease's, or enough for
/// [`MEASURED_SPAN`] if that is longer (250 ticks, 4 KiB of instants, with
/// the default 10 ms tick).
pub(crate) fn clock_span_ticks(lease_ticks: u64, tick: Duration) -> u64 {
    let span_ticks = MEASURED_SPAN.as_nanos().div_ceil(tick.as_nanos().max(1));
    lease_ticks.max(u64::try_from(span_ticks).unwrap_or(u64::MAX))
}

/// The weight of a new sample in the smoothed round trip: 1/8, TCP's SRTT
/// gain (RFC 6298).
const SMOOTHING_DIVISOR: u128 = 8;

/// A peer's heartbeat-ack round trip as this node measured it while leading,
/// from [`PeerStatus::ack_round_trip`](super::PeerStatus::ack_round_trip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckRoundTrip {
    /// The newest measurement: from the instant this node processed the
    /// heartbeat's tick to the instant the ack arrived.
    pub last: Duration,
    /// An exponentially weighted moving average of the measurements, as
    /// TCP's smoothed round trip (RFC 6298): the first measurement, then
    /// `7/8 · smoothed + 1/8 · last` at each one after it.
    pub smoothed: Duration,
}

/// One heartbeat ack as it arrived: who sent it, the term it carries, the
/// tick of the heartbeat it echoes, and when the driver took it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AckArrival {
    pub(crate) from: NodeId,
    pub(crate) term: Term,
    pub(crate) sent_tick: u64,
    pub(crate) at: Instant,
}

/// Where the driver keeps what the measurement needs between acks.
#[derive(Debug)]
pub(crate) struct RoundTrips {
    /// This node: its own id on an ack is forged.
    me: NodeId,
    /// The real-time lease; `None` without check-quorum (nothing is late).
    lease: Option<Duration>,
    /// Rounds leave every this many ticks from the election's.
    heartbeat_ticks: u64,
    /// The newest term this node led, and the tick it was elected at.
    led: Option<(Term, u64)>,
    /// Per peer that acked in the led term: the newest round measured and
    /// the smoothed round trip. Reset each time this node leads a new term;
    /// only members are entered, so it stays as small as the membership.
    peers: BTreeMap<NodeId, PeerRoundTrip>,
    /// Whether the peers table shows round trips, to clear.
    shown: bool,
    warning: Warning,
}

#[derive(Clone, Copy, Debug, Default)]
struct PeerRoundTrip {
    /// The newest round whose ack was taken (measured, or late beyond
    /// what the clock remembers).
    newest_tick: Option<u64>,
    smoothed: Option<Duration>,
}

impl RoundTrips {
    pub(crate) fn new(me: NodeId, lease: Option<Duration>, heartbeat_ticks: u64) -> Self {
        RoundTrips {
            me,
            lease,
            heartbeat_ticks: heartbeat_ticks.max(1),
            led: None,
            peers: BTreeMap::new(),
            shown: false,
            warning: Warning::default(),
        }
    }

    /// This node was elected Goose of `term` at tick `tick`: measurements
    /// start afresh.
    pub(crate) fn elected(&mut self, term: Term, tick: u64, observed: &Observed) {
        self.led = Some((term, tick));
        self.peers.clear();
        self.clear_shown(observed);
    }

    /// The node is in `term`: once that is not the term it led, the round
    /// trips it shows are stale (another node leads, or nobody yet), and go.
    /// Acks of the led term are still measured (they may be late ones).
    pub(crate) fn follow_term(&mut self, term: Term, observed: &Observed) {
        if self.shown && self.led.is_none_or(|(led, _)| led != term) {
            self.clear_shown(observed);
        }
    }

    fn clear_shown(&mut self, observed: &Observed) {
        if std::mem::take(&mut self.shown) {
            observed.peers.clear_round_trips();
        }
    }

    /// Measures `ack` if it echoes a round of the led term not measured yet;
    /// `now_tick` is the newest tick `clock` recorded.
    pub(crate) fn ack(
        &mut self,
        ack: AckArrival,
        clock: &TickClock<Instant>,
        now_tick: u64,
        observed: &Observed,
        events: &EventSender,
    ) {
        let Some((term, elected_tick)) = self.led else {
            return;
        };
        // A tick that is no round of the leadership is no heartbeat this
        // node sent in it (the core drops such an ack as forged or
        // corrupted): it must neither count as late nor block later
        // measurements.
        if ack.term != term
            || !is_round_tick(ack.sent_tick, elected_tick, now_tick, self.heartbeat_ticks)
            || ack.from == self.me
            || !observed.peers.contains(ack.from)
        {
            return;
        }
        let peer = self.peers.entry(ack.from).or_default();
        if peer
            .newest_tick
            .is_some_and(|newest| ack.sent_tick <= newest)
        {
            return;
        }
        peer.newest_tick = Some(ack.sent_tick);
        // `None`: the tick is older than the clock remembers (at least
        // `MEASURED_SPAN`, and the lease), so the round trip is longer.
        let round_trip = clock
            .instant_of(ack.sent_tick)
            .map(|sent| ack.at.saturating_duration_since(sent));
        if let Some(last) = round_trip {
            let smoothed = peer.smoothed.map_or(last, |before| smooth(before, last));
            peer.smoothed = Some(smoothed);
            observed
                .peers
                .record_round_trip(ack.from, AckRoundTrip { last, smoothed });
            observed.ack_round_trip.record(last);
            self.shown = true;
        }
        let Some(lease) = self.lease else {
            return;
        };
        if round_trip.is_some_and(|last| last < lease) {
            return;
        }
        observed.late_acks.fetch_add(1, Ordering::Relaxed);
        events.late_ack(ack.from, round_trip, lease);
        if let Some(not_logged) = self.warning.due(ack.at) {
            warn_late(ack.from, round_trip, lease, not_logged);
        }
    }
}

/// The smoothed round trip after `sample`: `7/8 · before + 1/8 · sample`.
fn smooth(before: Duration, sample: Duration) -> Duration {
    let nanos =
        (before.as_nanos() * (SMOOTHING_DIVISOR - 1) + sample.as_nanos()) / SMOOTHING_DIVISOR;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The advice an operator needs: what is slow, by how much, which knob.
fn warn_late(peer: NodeId, round_trip: Option<Duration>, lease: Duration, not_logged: u64) {
    let took = match round_trip {
        Some(round_trip) => format!("take {round_trip:?}"),
        None => format!("take over {:?}", MEASURED_SPAN.max(lease)),
    };
    let unlogged = match not_logged {
        0 => String::new(),
        n => format!(
            " {n} late acks were not logged since the last warning (at most one per \
             {LATE_ACK_WARNING_INTERVAL:?})."
        ),
    };
    tracing::warn!(
        %peer,
        ?round_trip,
        ?lease,
        not_logged,
        "acks from node {peer} {took}, the lease is {lease:?}: this Goose cannot keep its lease. \
         Raise the election timeout (NodeConfig::election_timeout, --election-timeout-ms; the \
         lease follows its minimum) or fix the network.{unlogged}"
    );
}

/// The rate limit of the late-ack warning.
#[derive(Debug, Default)]
struct Warning {
    /// When the last warning was logged.
    logged_at: Option<Instant>,
    /// Late acks since then that were not logged.
    not_logged: u64,
}

impl Warning {
    /// A late ack at `now`: `Some(late acks not logged since the last
    /// warning)` if this one is to be logged.
    fn due(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= LATE_ACK_WARNING_INTERVAL);
        if !due {
            self.not_logged += 1;
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.not_logged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Membership;
    use crate::runtime::events::NodeEvent;
    use crate::runtime::latency::LatencyRecorder;
    use crate::runtime::peers::Peers;

    /// Node 1 led term 3 from tick 0, rounds every 5 ticks of 10 ms, a
    /// 250 ms lease, its clock remembering 250 ticks, 300 of them recorded.
    #[test]
    fn takes_each_round_once_ignores_what_it_did_not_send_and_reports_late_acks() {
        let start = Instant::now();
        let at = |tick: u64| start + Duration::from_millis(10 * tick);
        let observed = Observed {
            peers: Peers::new(start, &Membership::new([NodeId(1), NodeId(2), NodeId(3)])),
            persist_latency: LatencyRecorder::default(),
            ack_round_trip: LatencyRecorder::default(),
            late_acks: Default::default(),
            driver_wakeups: Default::default(),
        };
        let (events, weak) = EventSender::new();
        let mut stream = weak.upgrade().expect("open").subscribe();
        let mut clock = TickClock::new(start, 250);
        for tick in 1..=300 {
            clock.record(at(tick));
        }
        let lease = Duration::from_millis(250);
        let mut trips = RoundTrips::new(NodeId(1), Some(lease), 5);
        trips.elected(Term(3), 0, &observed);
        let mut ack = |from: u64, term: u64, sent_tick: u64| {
            let ack = AckArrival {
                from: NodeId(from),
                term: Term(term),
                sent_tick,
                at: at(300),
            };
            trips.ack(ack, &clock, 300, &observed, &events);
        };
        ack(2, 3, 290); // 100 ms
        ack(2, 3, 290); // a duplicate
        ack(2, 3, 285); // overtaken
        ack(2, 3, 291); // no round
        ack(2, 3, 305); // not sent yet
        ack(2, 2, 295); // another term
        ack(9, 3, 295); // no member
        ack(1, 3, 295); // itself
        ack(3, 3, 40); // forgotten: late, length unknown
        ack(3, 3, 270); // 300 ms: late
        ack(3, 3, 275); // 250 ms: late
        let histogram = observed.ack_round_trip.snapshot();
        assert_eq!(histogram.count(), 3);
        assert_eq!(histogram.sum(), Duration::from_millis(650));
        assert_eq!(observed.late_acks.load(Ordering::Relaxed), 3);
        let late: Vec<_> = std::iter::from_fn(|| stream.try_recv().ok()).collect();
        let late_ack = |round_trip: Option<u64>| NodeEvent::LateAck {
            peer: NodeId(3),
            round_trip: round_trip.map(Duration::from_millis),
            lease,
        };
        assert_eq!(
            late,
            [late_ack(None), late_ack(Some(300)), late_ack(Some(250))]
        );
        let shown = |observed: &Observed| -> Vec<_> {
            observed
                .peers
                .snapshot(NodeId(1), start)
                .iter()
                .map(|peer| peer.ack_round_trip.map(|trip| (trip.last, trip.smoothed)))
                .collect()
        };
        let ms = Duration::from_millis;
        // Node 3: 300 ms, then 7/8 · 300 + 1/8 · 250.
        assert_eq!(
            shown(&observed),
            [
                None,
                Some((ms(100), ms(100))),
                Some((ms(250), Duration::from_micros(293_750)))
            ]
        );
        trips.follow_term(Term(3), &observed);
        assert_eq!(
            shown(&observed)[1],
            Some((ms(100), ms(100))),
            "still its term"
        );
        trips.follow_term(Term(4), &observed);
        assert_eq!(shown(&observed), [None, None, None], "another term");
    }

    #[test]
    fn the_clock_spans_the_lease_or_the_measured_span() {
        let ms = Duration::from_millis;
        assert_eq!(clock_span_ticks(25, ms(10)), 250);
        assert_eq!(clock_span_ticks(25, ms(3)), 834);
        assert_eq!(clock_span_ticks(300, ms(10)), 300);
        assert_eq!(clock_span_ticks(25, Duration::ZERO), 2_500_000_000);
    }

    #[test]
    fn smoothing_follows_rfc_6298() {
        let ms = Duration::from_millis;
        assert_eq!(smooth(ms(80), ms(80)), ms(80));
        assert_eq!(smooth(ms(80), ms(160)), ms(90));
        assert_eq!(smooth(ms(90), ms(10)), ms(80));
    }

    #[test]
    fn the_warning_is_logged_once_per_interval_and_counts_the_rest() {
        let start = Instant::now();
        let mut warning = Warning::default();
        assert_eq!(warning.due(start), Some(0));
        assert_eq!(warning.due(start + Duration::from_secs(1)), None);
        assert_eq!(warning.due(start + Duration::from_millis(9_999)), None);
        assert_eq!(warning.due(start + LATE_ACK_WARNING_INTERVAL), Some(2));
        assert_eq!(warning.due(start + Duration::from_secs(11)), None);
        assert_eq!(warning.due(start + Duration::from_secs(30)), Some(1));
    }
}

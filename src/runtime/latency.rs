//! Latency histograms with fixed buckets held in atomics, so that the
//! driver records every `storage.save` and every heartbeat ack without
//! allocating or locking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the persist-latency buckets, from 0.1 ms (a page-cache
/// write) to 1 s (a disk in trouble); slower saves land in the overflow
/// bucket that [`LatencyHistogram::count`] includes.
pub const PERSIST_LATENCY_BUCKETS: [Duration; 13] = [
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// The upper bounds of the heartbeat-ack round-trip buckets, from 0.1 ms
/// (a loopback or rack) to 2.5 s (ten times the default 250 ms lease, a
/// network that cannot hold any lease); slower acks land in the overflow
/// bucket.
pub const ACK_ROUND_TRIP_BUCKETS: [Duration; 14] = [
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2_500),
];

/// Room for the longest bucket list plus the overflow bucket: a fixed size
/// keeps [`LatencyHistogram`] `Copy` whichever buckets it has.
const SLOTS: usize = ACK_ROUND_TRIP_BUCKETS.len() + 1;

// Every bucket list fits, with its overflow slot.
const _: () =
    assert!(PERSIST_LATENCY_BUCKETS.len() < SLOTS && ACK_ROUND_TRIP_BUCKETS.len() < SLOTS);

/// Where the driver records latencies; read with [`snapshot`](Self::snapshot).
#[derive(Debug)]
pub(crate) struct LatencyRecorder {
    /// The buckets' upper bounds, ascending.
    bounds: &'static [Duration],
    /// Observations per bucket, not cumulative; slot `bounds.len()` is
    /// overflow, the slots after it stay zero.
    counts: [AtomicU64; SLOTS],
    sum_nanos: AtomicU64,
}

impl Default for LatencyRecorder {
    /// The persist-latency histogram.
    fn default() -> Self {
        Self::with_bounds(&PERSIST_LATENCY_BUCKETS)
    }
}

impl LatencyRecorder {
    /// An empty histogram with these ascending bucket bounds (at most
    /// `SLOTS - 1` of them; any beyond are ignored).
    pub(crate) fn with_bounds(bounds: &'static [Duration]) -> Self {
        LatencyRecorder {
            bounds: &bounds[..bounds.len().min(SLOTS - 1)],
            counts: Default::default(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub(crate) fn record(&self, latency: Duration) {
        // The first bucket whose bound is at least `latency` (Prometheus'
        // `le`), or the overflow slot.
        let slot = self.bounds.partition_point(|&bound| bound < latency);
        // Relaxed: each counter is independent, and a reader racing a record
        // may see the count before the sum, which a scrape tolerates.
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram as it stands.
    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            bounds: self.bounds,
            counts: std::array::from_fn(|slot| self.counts[slot].load(Ordering::Relaxed)),
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A snapshot of a latency histogram with fixed buckets:
/// [`PERSIST_LATENCY_BUCKETS`] from
/// [`NodeHandle::persist_latency`](crate::runtime::NodeHandle::persist_latency),
/// [`ACK_ROUND_TRIP_BUCKETS`] from
/// [`NodeHandle::ack_round_trips`](crate::runtime::NodeHandle::ack_round_trips).
/// The default is an empty persist-latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    bounds: &'static [Duration],
    counts: [u64; SLOTS],
    sum: Duration,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            bounds: &PERSIST_LATENCY_BUCKETS,
            counts: [0; SLOTS],
            sum: Duration::ZERO,
        }
    }
}

impl LatencyHistogram {
    /// Each bucket's upper bound with the number of observations at or below
    /// it (cumulative, as Prometheus' `le` buckets), in ascending order.
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = (Duration, u64)> + '_ {
        let mut below = 0u64;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(move |(&bound, &count)| {
                below = below.saturating_add(count);
                (bound, below)
            })
    }

    /// A histogram with `bounds` holding `latencies`, for tests of what
    /// renders one.
    #[cfg(all(test, feature = "http"))]
    pub(crate) fn of(bounds: &'static [Duration], latencies: &[Duration]) -> Self {
        let recorder = LatencyRecorder::with_bounds(bounds);
        for &latency in latencies {
            recorder.record(latency);
        }
        recorder.snapshot()
    }

    /// Every observation, the slower-than-every-bucket ones included.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |total, &count| total.saturating_add(count))
    }

    /// The sum of every observed latency.
    pub fn sum(&self) -> Duration {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let recorder = LatencyRecorder::default();
        recorder.record(Duration::ZERO);
        recorder.record(Duration::from_micros(100));
        recorder.record(Duration::from_micros(101));
        recorder.record(Duration::from_secs(2));
        let histogram = recorder.snapshot();
        let buckets: Vec<_> = histogram.buckets().collect();
        assert_eq!(buckets.len(), PERSIST_LATENCY_BUCKETS.len());
        assert_eq!(buckets[0], (Duration::from_micros(100), 2));
        assert_eq!(buckets[1], (Duration::from_micros(250), 3));
        assert_eq!(buckets.last(), Some(&(Duration::from_secs(1), 3)));
        assert_eq!(histogram.count(), 4);
        assert_eq!(
            histogram.sum(),
            Duration::from_micros(201) + Duration::from_secs(2)
        );
    }

    #[test]
    fn the_bounds_ascend() {
        for bounds in [&PERSIST_LATENCY_BUCKETS[..], &ACK_ROUND_TRIP_BUCKETS[..]] {
            assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }

    #[test]
    fn round_trip_buckets_reach_two_and_a_half_seconds() {
        let recorder = LatencyRecorder::with_bounds(&ACK_ROUND_TRIP_BUCKETS);
        recorder.record(Duration::from_millis(300));
        recorder.record(Duration::from_secs(2));
        recorder.record(Duration::from_secs(3));
        let histogram = recorder.snapshot();
        let buckets: Vec<_> = histogram.buckets().collect();
        assert_eq!(buckets.len(), 14);
        assert_eq!(buckets[10], (Duration::from_millis(250), 0));
        assert_eq!(buckets[11], (Duration::from_millis(500), 1));
        assert_eq!(buckets[13], (Duration::from_millis(2_500), 2));
        assert_eq!(histogram.count(), 3);
        assert_eq!(histogram.sum(), Duration::from_millis(5_300));
    }
}

//! A latency histogram with fixed buckets held in atomics, so that the
//! driver records every `storage.save` without allocating or locking.

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

/// One counter per bucket, plus the overflow bucket.
const SLOTS: usize = PERSIST_LATENCY_BUCKETS.len() + 1;

/// Where the driver records latencies; read with [`snapshot`](Self::snapshot).
#[derive(Debug, Default)]
pub(crate) struct LatencyRecorder {
    /// Observations per bucket, not cumulative; the last slot is overflow.
    counts: [AtomicU64; SLOTS],
    sum_nanos: AtomicU64,
}

impl LatencyRecorder {
    /// Counts one observation.
    pub(crate) fn record(&self, latency: Duration) {
        // The first bucket whose bound is at least `latency` (Prometheus'
        // `le`), or the overflow slot.
        let slot = PERSIST_LATENCY_BUCKETS.partition_point(|&bound| bound < latency);
        // Relaxed: each counter is independent, and a reader racing a record
        // may see the count before the sum, which a scrape tolerates.
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram as it stands.
    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            counts: std::array::from_fn(|slot| self.counts[slot].load(Ordering::Relaxed)),
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A snapshot of a latency histogram with the fixed
/// [`PERSIST_LATENCY_BUCKETS`], from
/// [`NodeHandle::persist_latency`](crate::runtime::NodeHandle::persist_latency).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; SLOTS],
    sum: Duration,
}

impl LatencyHistogram {
    /// Each bucket's upper bound with the number of observations at or below
    /// it (cumulative, as Prometheus' `le` buckets), in ascending order.
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = (Duration, u64)> + '_ {
        let mut below = 0u64;
        PERSIST_LATENCY_BUCKETS
            .iter()
            .zip(&self.counts)
            .map(move |(&bound, &count)| {
                below = below.saturating_add(count);
                (bound, below)
            })
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
        assert!(PERSIST_LATENCY_BUCKETS.is_sorted());
        assert!(
            PERSIST_LATENCY_BUCKETS
                .windows(2)
                .all(|pair| pair[0] < pair[1])
        );
    }
}

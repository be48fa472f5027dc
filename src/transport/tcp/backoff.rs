//! Jittered exponential backoff between reconnect attempts.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

/// Delays that double from `min` to `max`, each drawn uniformly from the
/// upper half of the current step (never below `min`), so that nodes which
/// lost a peer together do not redial it in lockstep.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            step: min,
        }
    }

    /// The next delay; the step after it is twice as long, up to `max`.
    pub(crate) fn next_delay(&mut self, rng: &mut StdRng) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.max);
        let low = (step / 2).max(self.min);
        if low >= step {
            return step;
        }
        let span_nanos = u64::try_from((step - low).as_nanos()).unwrap_or(u64::MAX);
        low + Duration::from_nanos(rng.random_range(0..=span_nanos))
    }

    /// Back to the shortest delay, after a connection worked.
    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn delays_stay_between_min_and_max_and_grow() {
        let min = Duration::from_millis(10);
        let max = Duration::from_secs(1);
        let mut backoff = Backoff::new(min, max);
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<_> = (0..20).map(|_| backoff.next_delay(&mut rng)).collect();
        assert!(delays.iter().all(|d| *d >= min && *d <= max), "{delays:?}");
        assert_eq!(delays[0], min);
        assert!(delays[19] >= max / 2);
        backoff.reset();
        assert_eq!(backoff.next_delay(&mut rng), min);
    }
}

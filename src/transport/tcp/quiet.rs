//! How loudly a failure that repeats is logged: the one rule for every
//! warning the transport would otherwise write at each attempt (a peer's
//! name that does not resolve, a handshake a peer refuses, a misconfigured
//! node knocking at the listener every second).
//!
//! The first failure of a kind is a warning; the same failure again is
//! logged at debug only, until [`REMINDER_INTERVAL`] has passed (then a
//! warning again, saying how many attempts failed in between) or a failure
//! of another kind comes. After a warning, the first success is worth one
//! line too, so that an operator sees the problem end.

use std::time::Duration;

use tokio::time::Instant;

/// How long a failure that keeps repeating stays at debug level before it
/// is logged as a warning again.
pub(crate) const REMINDER_INTERVAL: Duration = Duration::from_secs(600);

/// Whether a failure is worth a warning now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loudness {
    /// Log it as a warning; `repeats` failures were logged at debug since
    /// the last warning of the same kind.
    Warn {
        /// Failures since the last warning, that one excluded.
        repeats: u64,
    },
    /// Log it at debug level: it was warned about recently.
    Quiet,
}

/// The failures of one source (a peer's writer, the acceptor) since it last
/// worked, as far as logging goes.
#[derive(Debug)]
pub(crate) struct Repeats<K> {
    /// The kind last warned about, and when.
    warned: Option<(K, Instant)>,
    /// Failures since that warning.
    since_warning: u64,
    /// Failures since the last success.
    in_run: u64,
}

impl<K> Default for Repeats<K> {
    fn default() -> Self {
        Repeats {
            warned: None,
            since_warning: 0,
            in_run: 0,
        }
    }
}

impl<K: PartialEq> Repeats<K> {
    /// Records a failure of `kind` at `now` and says how to log it.
    pub(crate) fn failed(&mut self, kind: K, now: Instant) -> Loudness {
        self.in_run += 1;
        match &self.warned {
            Some((warned, at))
                if *warned == kind && now.saturating_duration_since(*at) < REMINDER_INTERVAL =>
            {
                self.since_warning += 1;
                Loudness::Quiet
            }
            Some((warned, _)) if *warned == kind => {
                let repeats = self.since_warning;
                self.warned = Some((kind, now));
                self.since_warning = 0;
                Loudness::Warn { repeats }
            }
            _ => {
                self.warned = Some((kind, now));
                self.since_warning = 0;
                Loudness::Warn { repeats: 0 }
            }
        }
    }

    /// Records a success; returns how many failures the run that ends
    /// counted, if any was warned about (then the end is worth a line).
    pub(crate) fn recovered(&mut self) -> Option<u64> {
        let failures = std::mem::take(&mut self.in_run);
        self.since_warning = 0;
        self.warned.take().map(|_| failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_warns_once_then_reminds_and_another_kind_warns_at_once() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        assert_eq!(
            repeats.failed("resolve", start),
            Loudness::Warn { repeats: 0 }
        );
        for n in 1..=5 {
            let at = start + Duration::from_secs(n);
            assert_eq!(repeats.failed("resolve", at), Loudness::Quiet, "{n}");
        }
        // Another kind is news.
        let later = start + Duration::from_secs(10);
        assert_eq!(
            repeats.failed("handshake", later),
            Loudness::Warn { repeats: 0 }
        );
        assert_eq!(
            repeats.failed("handshake", later + Duration::from_secs(1)),
            Loudness::Quiet
        );
        // Still failing after the reminder interval: warned again, with the
        // count of quiet failures in between.
        assert_eq!(
            repeats.failed("handshake", later + REMINDER_INTERVAL),
            Loudness::Warn { repeats: 1 }
        );
        assert_eq!(
            repeats.failed("handshake", later + REMINDER_INTERVAL),
            Loudness::Quiet
        );
        // Recovery after a warning is worth a line, once, counting every
        // failure of the run.
        assert_eq!(repeats.recovered(), Some(10));
        assert_eq!(repeats.recovered(), None);
        assert_eq!(
            repeats.failed("handshake", later + REMINDER_INTERVAL),
            Loudness::Warn { repeats: 0 },
            "a new run of failures warns again"
        );
    }
}

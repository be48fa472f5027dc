//! The measurements, as markdown table rows on stdout (`--nocapture`;
//! `grep '^|'` collects the table).

use std::sync::Once;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// One scenario's figures over its measured window.
pub struct Row {
    pub scenario: String,
    pub availability_percent: f64,
    pub changes_per_minute: f64,
    pub overlaps: usize,
    pub two_geese_terms: usize,
    pub note: String,
}

impl Row {
    /// The figures of `cluster`'s observer between `from` and `to`.
    pub fn measure(cluster: &Cluster, scenario: &str, from: Instant, to: Instant) -> Row {
        let observer = &cluster.watch.observer;
        let availability = observer.availability(from, to);
        let minutes = (to - from).as_secs_f64() / 60.0;
        let changes = observer.goose_changes(from, to);
        Row {
            scenario: scenario.to_owned(),
            availability_percent: availability.percent(),
            changes_per_minute: changes as f64 / minutes,
            overlaps: observer.overlaps,
            two_geese_terms: observer.two_geese_terms.len(),
            note: format!(
                "{:.0} s, {changes} changes, {} blind slots",
                (to - from).as_secs_f64(),
                availability.blind_slots
            ),
        }
    }

    /// Prints the row (and the table's header, once per process).
    pub fn print(&self, cluster: &Cluster) {
        static HEADER: Once = Once::new();
        HEADER.call_once(|| {
            println!(
                "| transport | scenario | availability | Goose changes | overlaps | \
                 terms with two Geese | notes |"
            );
            println!("|---|---|---|---|---|---|---|");
        });
        println!(
            "| {} | {} | {:.2} % | {:.1}/min | {} | {} | {} |",
            cluster.transport.name(),
            self.scenario,
            self.availability_percent,
            self.changes_per_minute,
            self.overlaps,
            self.two_geese_terms,
            self.note
        );
    }
}

/// The `q`-quantile (0..=1) of `samples`, by nearest rank.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Milliseconds, for the table.
pub fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::quantile;
    use std::time::Duration;

    #[test]
    fn nearest_rank_quantiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&samples, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}

//! `GET /metrics` in the Prometheus text exposition format, version 0.0.4:
//! a `# HELP` and a `# TYPE` line per family, then `name{labels} value`
//! lines.

use std::fmt::{Display, Write};

use crate::core::{Counters, NodeId, Term};
use crate::runtime::{LatencyHistogram, NodeHandle};

/// Every family's name starts with this.
const PREFIX: &str = "duckduckgoose_";

/// What one scrape reports, read from the handle once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    id: NodeId,
    term: Term,
    is_goose: bool,
    counters: Counters,
    persist_latency: LatencyHistogram,
    ack_round_trips: LatencyHistogram,
    late_acks: u64,
    driver_wakeups: u64,
}

impl Sample {
    pub(super) fn take(handle: &NodeHandle) -> Self {
        let lease = handle.lease();
        let status = handle.status();
        Sample {
            id: handle.id(),
            // A Goose reports the term it leads (see `handlers::status`).
            term: lease.map_or(status.term, |lease| lease.term),
            is_goose: lease.is_some(),
            counters: status.counters,
            persist_latency: handle.persist_latency(),
            ack_round_trips: handle.ack_round_trips(),
            late_acks: handle.late_acks(),
            driver_wakeups: handle.driver_wakeups(),
        }
    }
}

/// The exposition text for `sample`.
pub(super) fn render(sample: &Sample) -> String {
    let mut out = Exposition::default();
    let counters = &sample.counters;

    out.family(
        "node_info",
        "gauge",
        "Always 1; the node_id label names the node this endpoint reports on.",
    );
    out.sample("node_info", &[("node_id", &sample.id)], 1);
    out.family(
        "term",
        "gauge",
        "The node's current term; while it is the Goose, its fencing token.",
    );
    out.sample("term", &[], sample.term);
    out.family(
        "is_goose",
        "gauge",
        "1 while this node is the Goose (its lease checked against the clock), 0 otherwise.",
    );
    out.sample("is_goose", &[], u8::from(sample.is_goose));

    let totals: [(&str, &str, u64); 5] = [
        (
            "elections_started_total",
            "Elections this node started (each one a new term).",
            counters.elections_started,
        ),
        (
            "pre_votes_started_total",
            "Pre-vote rounds this node started.",
            counters.pre_votes_started,
        ),
        (
            "role_changes_total",
            "Changes of this node's role between Goose and Duck.",
            counters.role_changes,
        ),
        (
            "heartbeats_sent_total",
            "Heartbeats sent, one per destination.",
            counters.heartbeats_sent,
        ),
        (
            "heartbeats_received_total",
            "Heartbeats received from a current Goose.",
            counters.heartbeats_received,
        ),
    ];
    for (name, help, value) in totals {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }

    out.family(
        "messages_dropped_total",
        "counter",
        "Messages dropped without effect, by reason.",
    );
    for (reason, value) in [
        ("not_member", counters.dropped_not_member),
        ("from_self", counters.dropped_from_self),
        ("stale_term", counters.dropped_stale_term),
        ("unexpected", counters.dropped_unexpected),
    ] {
        out.sample("messages_dropped_total", &[("reason", &reason)], value);
    }

    out.histogram(
        "persist_latency_seconds",
        "Time taken to save the term and vote to storage.",
        &sample.persist_latency,
    );
    out.histogram(
        "ack_round_trip_seconds",
        "Heartbeat-ack round trips measured while leading, from the heartbeat's tick to the \
         ack; at or above the lease, acks come too late to keep it.",
        &sample.ack_round_trips,
    );
    out.family(
        "late_acks_total",
        "counter",
        "Heartbeat acks that arrived after the lease they could have extended had run out.",
    );
    out.sample("late_acks_total", &[], sample.late_acks);
    out.family(
        "driver_wakeups_total",
        "counter",
        "Times the driver task woke up: heartbeat rounds, timeouts, messages and commands.",
    );
    out.sample("driver_wakeups_total", &[], sample.driver_wakeups);
    out.text
}

/// The text being built.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of family `name`.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.text, "# TYPE {PREFIX}{name} {kind}");
    }

    /// Family `name` as a histogram: its cumulative `_bucket` lines, the
    /// `+Inf` one, `_sum` in seconds and `_count`.
    fn histogram(&mut self, name: &str, help: &str, histogram: &LatencyHistogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in histogram.buckets() {
            self.sample(&bucket, &[("le", &bound.as_secs_f64())], count);
        }
        self.sample(&bucket, &[("le", &"+Inf")], histogram.count());
        self.sample(&format!("{name}_sum"), &[], histogram.sum().as_secs_f64());
        self.sample(&format!("{name}_count"), &[], histogram.count());
    }

    /// One `name{labels} value` line. Label values here are numbers and
    /// fixed words, none of which needs escaping.
    fn sample(&mut self, name: &str, labels: &[(&str, &dyn Display)], value: impl Display) {
        let _ = write!(self.text, "{PREFIX}{name}");
        for (index, (label, label_value)) in labels.iter().enumerate() {
            let open = if index == 0 { "{" } else { "," };
            let _ = write!(self.text, "{open}{label}=\"{label_value}\"");
        }
        if !labels.is_empty() {
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::ACK_ROUND_TRIP_BUCKETS;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let sample = Sample {
            id: NodeId(3),
            term: Term(7),
            is_goose: true,
            counters: Counters {
                elections_started: 2,
                dropped_stale_term: 5,
                ..Counters::default()
            },
            persist_latency: LatencyHistogram::default(),
            ack_round_trips: LatencyHistogram::of(
                &ACK_ROUND_TRIP_BUCKETS,
                &[Duration::from_millis(300), Duration::from_micros(200)],
            ),
            late_acks: 1,
            driver_wakeups: 42,
        };
        let text = render(&sample);
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE duckduckgoose_node_info gauge",
            "duckduckgoose_node_info{node_id=\"3\"} 1",
            "# TYPE duckduckgoose_term gauge",
            "duckduckgoose_term 7",
            "duckduckgoose_is_goose 1",
            "# TYPE duckduckgoose_elections_started_total counter",
            "duckduckgoose_elections_started_total 2",
            "# TYPE duckduckgoose_messages_dropped_total counter",
            "duckduckgoose_messages_dropped_total{reason=\"stale_term\"} 5",
            "duckduckgoose_messages_dropped_total{reason=\"not_member\"} 0",
            "# TYPE duckduckgoose_persist_latency_seconds histogram",
            "duckduckgoose_persist_latency_seconds_bucket{le=\"0.0001\"} 0",
            "duckduckgoose_persist_latency_seconds_bucket{le=\"0.00025\"} 0",
            "duckduckgoose_persist_latency_seconds_bucket{le=\"1\"} 0",
            "duckduckgoose_persist_latency_seconds_bucket{le=\"+Inf\"} 0",
            "duckduckgoose_persist_latency_seconds_sum 0",
            "duckduckgoose_persist_latency_seconds_count 0",
            "# TYPE duckduckgoose_ack_round_trip_seconds histogram",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"0.0001\"} 0",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"0.00025\"} 1",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"0.25\"} 1",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"0.5\"} 2",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"2.5\"} 2",
            "duckduckgoose_ack_round_trip_seconds_bucket{le=\"+Inf\"} 2",
            "duckduckgoose_ack_round_trip_seconds_sum 0.3002",
            "duckduckgoose_ack_round_trip_seconds_count 2",
            "# TYPE duckduckgoose_late_acks_total counter",
            "duckduckgoose_late_acks_total 1",
            "# TYPE duckduckgoose_driver_wakeups_total counter",
            "duckduckgoose_driver_wakeups_total 42",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        // Every family has exactly one HELP and one TYPE line.
        let types = lines
            .iter()
            .filter(|line| line.starts_with("# TYPE"))
            .count();
        let helps = lines
            .iter()
            .filter(|line| line.starts_with("# HELP"))
            .count();
        assert_eq!(types, 13);
        assert_eq!(helps, 13);
    }
}

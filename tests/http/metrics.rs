//! `/metrics` in the Prometheus text format, and `/health`.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use duckduckgoose::runtime::HandleError;
use serde_json::json;
use tokio::time::timeout;

use crate::common::{ATTEMPTS, ELECTION_WAIT, call, get_json, ids, keys, set, start_cluster};

#[derive(Debug)]
struct PromSample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses a sample line strictly enough to catch malformed output.
fn parse_sample(line: &str) -> PromSample {
    let (series, value) = line.rsplit_once(' ').expect("`series value`");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let inner = rest.strip_suffix('}').expect("labels end with }");
            let labels = inner
                .split(',')
                .map(|pair| {
                    let (label, quoted) = pair.split_once('=').expect("label=value");
                    assert!(is_metric_name(label) && !label.contains(':'), "{line:?}");
                    let unquoted = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .expect("quoted label value");
                    assert!(!unquoted.contains(['"', '\\', '\n']), "{line:?}");
                    (label.to_owned(), unquoted.to_owned())
                })
                .collect();
            (name, labels)
        }
    };
    assert!(is_metric_name(name), "bad name in {line:?}");
    PromSample {
        name: name.to_owned(),
        labels,
        value,
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let cluster = start_cluster(6).await;
    let goose = cluster.goose().await;
    let (code, content_type, body) = call(
        &cluster.router(goose),
        Method::GET,
        "/metrics",
        Body::empty(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let content_type = content_type.expect("a content type");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8(body).expect("UTF-8");

    let mut types = std::collections::BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("# HELP name text");
            assert!(!help.is_empty());
            assert!(helps.insert(name.to_owned()), "two HELP lines for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none());
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let sample = parse_sample(line);
            assert!(sample.name.starts_with("duckduckgoose_"), "{line}");
            // Every sample belongs to a family declared above it.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = sample.name.strip_suffix(suffix)?;
                    (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
                })
                .unwrap_or(&sample.name)
                .to_owned();
            assert!(types.contains_key(&family), "no TYPE for {line}");
            assert!(helps.contains(&family), "no HELP for {line}");
            samples.push(sample);
        }
    }
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(l, v)| s.labels.iter().any(|(sl, sv)| sl == l && sv == v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"))
            .value
    };

    for (name, kind) in [
        ("duckduckgoose_term", "gauge"),
        ("duckduckgoose_is_goose", "gauge"),
        ("duckduckgoose_elections_started_total", "counter"),
        ("duckduckgoose_pre_votes_started_total", "counter"),
        ("duckduckgoose_role_changes_total", "counter"),
        ("duckduckgoose_heartbeats_sent_total", "counter"),
        ("duckduckgoose_heartbeats_received_total", "counter"),
        ("duckduckgoose_messages_dropped_total", "counter"),
        ("duckduckgoose_persist_latency_seconds", "histogram"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    let id = goose.0.to_string();
    assert_eq!(value("duckduckgoose_node_info", &[("node_id", &id)]), 1.0);
    let term = value("duckduckgoose_term", &[]);
    assert!(term >= 1.0);
    let is_goose = value("duckduckgoose_is_goose", &[]);
    assert!(is_goose == 0.0 || is_goose == 1.0);
    // Only a node that campaigned can have been elected.
    assert!(value("duckduckgoose_elections_started_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_pre_votes_started_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_role_changes_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_heartbeats_sent_total", &[]) >= 1.0);
    for reason in ["not_member", "from_self", "stale_term", "unexpected"] {
        assert!(
            value(
                "duckduckgoose_messages_dropped_total",
                &[("reason", reason)]
            ) >= 0.0
        );
    }

    // The histogram: ascending bounds, cumulative counts, +Inf == count,
    // and at least the Goose's own vote for itself was saved.
    let buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == "duckduckgoose_persist_latency_seconds_bucket")
        .map(|s| {
            let le = &s.labels.iter().find(|(l, _)| l == "le").expect("le").1;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("a number")
            };
            (bound, s.value)
        })
        .collect();
    assert!(buckets.len() >= 2);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    let (last_bound, last_count) = *buckets.last().expect("buckets");
    assert_eq!(last_bound, f64::INFINITY);
    let count = value("duckduckgoose_persist_latency_seconds_count", &[]);
    assert_eq!(last_count, count);
    assert!(count >= 1.0);
    assert!(value("duckduckgoose_persist_latency_seconds_sum", &[]) >= 0.0);
    cluster.shutdown().await;
}

#[tokio::test]
async fn health_is_ok_then_503_after_a_storage_failure_and_after_shutdown() {
    let cluster = start_cluster(7).await;
    for id in ids() {
        let (code, body) = get_json(&cluster.router(id), "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }

    // A transfer makes its target campaign, which must save its vote: the
    // save fails and the target stops (as in tests/runtime.rs).
    let mut failed = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let target = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
        cluster.storage(target).set_fail_saves(true);
        match cluster.node(goose).transfer_leadership(target).await {
            Ok(_term) => {
                failed = Some(target);
                break;
            }
            Err(HandleError::Rejected(_)) => {
                cluster.storage(target).set_fail_saves(false);
            }
            Err(other) => panic!("the transfer failed: {other}"),
        }
    }
    let target = failed.expect("a transfer started");
    let node = cluster.node(target);
    timeout(ELECTION_WAIT, node.stopped())
        .await
        .expect("the target stops");
    let (code, body) = get_json(&cluster.router(target), "/health").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(keys(&body), set(&["status", "error"]));
    assert_eq!(body["status"], "failed");
    let error = body["error"].as_str().expect("a message");
    assert!(error.contains("injected save failure"), "{error}");

    // A node shut down on purpose is "stopped", with no error.
    let survivor = ids().into_iter().find(|&id| id != target).expect("3 nodes");
    cluster.node(survivor).shutdown().await;
    let (code, body) = get_json(&cluster.router(survivor), "/health").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({ "status": "stopped" }));
    cluster.shutdown().await;
}

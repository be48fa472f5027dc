//! Random loss on every link, both ways, and duplicated packets: safety
//! always; on udp also the availability targets.

use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::report::Row;
use crate::{Transport, env_number, long_runs, on_both_transports};

/// At most this many Goose changes per minute under loss (udp).
const MAX_CHANGES_PER_MINUTE: f64 = 1.0;

/// How long the duplication run lasts.
const DUPLICATION_RUN: Duration = Duration::from_secs(15);

/// The share of cluster packets sent twice in the duplication run.
const DUPLICATION: f64 = 0.2;

on_both_transports!(loss_10_percent, loss_20_percent, duplication);

/// 10 % loss: on udp, availability at least 99.9 %.
fn loss_10_percent(transport: Transport) {
    lossy_run(transport, 0.10, 99.9);
}

/// 20 % loss: on udp, availability at least 99 %.
fn loss_20_percent(transport: Transport) {
    lossy_run(transport, 0.20, 99.0);
}

/// How long a loss run lasts: `DDG_NETNS_LOSS_SECS`, else 300 s with
/// `DDG_NETNS_LONG=1`, else 60 s on udp (whose targets are asserted) and
/// 30 s on tcp (recorded only).
fn loss_run(transport: Transport) -> Duration {
    let default = match (long_runs(), transport) {
        (true, _) => 300,
        (false, Transport::Udp) => 60,
        (false, Transport::Tcp) => 30,
    };
    Duration::from_secs(env_number("DDG_NETNS_LOSS_SECS", default))
}

/// Every node drops `loss` of the cluster packets it receives, for the
/// run's length; safety is asserted always, the availability target
/// (`target_percent`) and the change rate on udp only.
fn lossy_run(transport: Transport, loss: f64, target_percent: f64) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    cluster.net.lose(loss);
    let from = Instant::now();
    cluster.watch_for(loss_run(transport));
    let to = Instant::now();
    let counts = cluster.net.packets_matched("filter", "INPUT");
    let (received, dropped) = match counts[..] {
        [tcp, udp, tcp_dropped, udp_dropped] => (tcp + udp, tcp_dropped + udp_dropped),
        _ => panic!("four loss rules, not {counts:?}"),
    };
    cluster.net.heal();
    let mut row = Row::measure(&cluster, &format!("{:.0} % loss", loss * 100.0), from, to);
    row.note = format!(
        "{dropped} of {received} cluster packets dropped ({:.1} %); {}",
        100.0 * dropped as f64 / received.max(1) as f64,
        row.note
    );
    row.print(&cluster);
    cluster.watch.observer.assert_safe();
    if transport == Transport::Udp {
        assert!(
            row.availability_percent >= target_percent,
            "availability {:.3} % under {:.0} % loss, target {target_percent} %",
            row.availability_percent,
            loss * 100.0
        );
        assert!(
            row.changes_per_minute <= MAX_CHANGES_PER_MINUTE,
            "{:.1} Goose changes per minute under {:.0} % loss, at most \
             {MAX_CHANGES_PER_MINUTE} allowed",
            row.changes_per_minute,
            loss * 100.0
        );
    }
}

/// Every node sends [`DUPLICATION`] of its cluster packets twice, for
/// [`DUPLICATION_RUN`]; safety only.
fn duplication(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    cluster.net.duplicate(DUPLICATION);
    let from = Instant::now();
    cluster.watch_for(DUPLICATION_RUN);
    let to = Instant::now();
    let copied: u64 = cluster.net.packets_matched("mangle", "OUTPUT").iter().sum();
    cluster.net.heal();
    let scenario = format!("{:.0} % duplicated", DUPLICATION * 100.0);
    let mut row = Row::measure(&cluster, &scenario, from, to);
    row.note = format!("{copied} cluster packets sent twice; {}", row.note);
    row.print(&cluster);
    cluster.watch.observer.assert_safe();
}

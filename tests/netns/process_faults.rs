//! Process faults: kill -9 of the Goose again and again (restarted on its
//! data directory each time), and SIGSTOP of the Goose past its lease.

use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::report::{Row, ms, quantile};
use crate::{ELECTION_TIMEOUT_MIN, Transport, env_number, long_runs, on_both_transports};

/// Long runs assert the failover median within this factor of the minimum
/// election timeout...
const P50_FACTOR: f64 = 1.12;

/// ...and the 99th percentile within this one.
const P99_FACTOR: f64 = 1.7;

/// How long the Goose stays stopped: well past its lease and the longest
/// election timeout (450 ms).
const STOPPED: Duration = Duration::from_millis(1500);

/// SIGSTOP rounds.
const STOP_ROUNDS: usize = 3;

on_both_transports!(kill_nine_failover, sigstop_past_lease);

/// `DDG_NETNS_KILLS` rounds (30 by default, 300 with `DDG_NETNS_LONG=1`):
/// SIGKILL the Goose, time until another node answers Goose, restart the
/// killed one on its data directory and wait until all five agree again.
/// The time is until the first Goose answer came back, an upper bound (by
/// up to one poll) on when the new Goose was elected. Long udp runs assert
/// it against the minimum election timeout.
fn kill_nine_failover(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let kills = env_number("DDG_NETNS_KILLS", if long_runs() { 300 } else { 30 }) as usize;
    let mut cluster = Cluster::start(transport);
    let (mut goose, mut term) = cluster.wait_for_agreement(Instant::now());
    let started = Instant::now();
    let mut failovers = Vec::with_capacity(kills);
    for _round in 0..kills {
        let others = cluster.others(goose);
        cluster.node(goose).kill9();
        let killed = Instant::now();
        let (_, _, answered) = cluster.wait_for_new_goose(term, killed, &others);
        failovers.push(answered - killed);
        cluster.node(goose).spawn();
        (goose, term) = cluster.wait_for_agreement(Instant::now());
    }
    let p50 = quantile(&failovers, 0.5);
    let p99 = quantile(&failovers, 0.99);
    let ratio = |d: Duration| d.as_secs_f64() / ELECTION_TIMEOUT_MIN.as_secs_f64();
    let mut row = Row::measure(
        &cluster,
        &format!("kill -9 ×{kills}"),
        started,
        Instant::now(),
    );
    row.note = format!(
        "kill to new Goose answer: p50 {} ({:.2}×), p99 {} ({:.2}×), max {} of {} min \
         election timeout; {}",
        ms(p50),
        ratio(p50),
        ms(p99),
        ratio(p99),
        ms(quantile(&failovers, 1.0)),
        ms(ELECTION_TIMEOUT_MIN),
        row.note
    );
    row.print(&cluster);
    cluster.watch.observer.assert_safe();
    // The failover targets are the udp transport's (the default); tcp's
    // figures are recorded only, as under loss.
    if long_runs() && transport == Transport::Udp {
        assert!(
            ratio(p50) <= P50_FACTOR && ratio(p99) <= P99_FACTOR,
            "failover p50 {p50:?} (limit {P50_FACTOR}×) or p99 {p99:?} (limit {P99_FACTOR}×) \
             over {ELECTION_TIMEOUT_MIN:?}"
        );
    }
}

/// The Goose is frozen with SIGSTOP for [`STOPPED`]: the others elect a
/// new Goose; once resumed, the old one must not answer Goose in its old
/// term (its lease ran out while it was frozen) and must follow.
fn sigstop_past_lease(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    let started = Instant::now();
    let mut elected = Vec::new();
    for _round in 0..STOP_ROUNDS {
        let (goose, term) = cluster.wait_for_agreement(Instant::now());
        let others = cluster.others(goose);
        cluster.node(goose).signal("STOP");
        let stopped = Instant::now();
        let (_, _, at) = cluster.wait_for_new_goose(term, stopped, &others);
        elected.push(at - stopped);
        cluster.watch_for(STOPPED.saturating_sub(stopped.elapsed()));
        cluster.node(goose).signal("CONT");
        cluster.wait_for_agreement(Instant::now());
    }
    let mut row = Row::measure(
        &cluster,
        &format!("SIGSTOP {} ×{STOP_ROUNDS}", ms(STOPPED)),
        started,
        Instant::now(),
    );
    row.note = format!(
        "new Goose after the stop: {}; {}",
        elected
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", "),
        row.note
    );
    row.print(&cluster);
    cluster.watch.observer.assert_safe();
}

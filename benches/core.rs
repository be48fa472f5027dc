//! Core throughput: steady-state heartbeat/ack traffic through
//! `handle_message` and `poll_output` on a 5-node cluster, and a cold-start
//! election.
//!
//! Run with `cargo bench -p duckduckgoose-benches --bench core`. Each heartbeat round is 4 heartbeats
//! and 4 acks, so criterion's "elements" are messages handled.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use duckduckgoose::core::{Config, Election, HardState, Message, NodeId, Term};

#[path = "../tests/support/pump.rs"]
mod pump;

/// One Goose and four Ducks, messages passed by hand: the tightest loop over
/// `handle_message` + `poll_output` there is.
fn steady_state(c: &mut Criterion) {
    let mut cluster = pump::Pump::new(5, 1);
    let (goose, _) = cluster
        .elect(1_000)
        .expect("a 5-node loss-free cluster elects");
    let heartbeat_interval_ticks = cluster.nodes()[0].config().heartbeat_interval_ticks;
    // Past the first rounds, whose heartbeats carry the membership the new
    // Goose re-issued: from here on no heartbeat carries one.
    for _ in 0..10 * heartbeat_interval_ticks {
        cluster.tick_one(goose);
    }
    assert_eq!(
        cluster.node(goose).membership_pending(),
        Some(false),
        "every Duck holds the Goose's membership"
    );
    let mut group = c.benchmark_group("steady_state_5_nodes");
    group.throughput(Throughput::Elements(8));
    group.bench_function("heartbeat_round", |b| {
        b.iter(|| {
            for _ in 0..heartbeat_interval_ticks {
                cluster.tick_one(goose);
            }
        })
    });
    group.finish();

    // One heartbeat into a Duck per iteration, without the pump's buffering.
    let ids: Vec<NodeId> = (1..=5).map(NodeId).collect();
    let mut duck = Election::new(Config::new(NodeId(2), ids.clone()), HardState::default(), 3)
        .expect("valid config");
    let term = Term(1);
    // The steady state: heartbeats without a membership attached (the Goose
    // attaches it only until a peer acknowledges holding it).
    duck.handle_message(
        NodeId(1),
        Message::Heartbeat {
            term,
            sent_tick: 0,
            membership: None,
        },
    );
    while duck.poll_output().is_some() {}
    let mut group = c.benchmark_group("per_message");
    group.throughput(Throughput::Elements(1));
    let mut sent_tick = 0;
    group.bench_function("duck_handles_heartbeat", |b| {
        b.iter(|| {
            sent_tick += 1;
            duck.handle_message(
                NodeId(1),
                Message::Heartbeat {
                    term,
                    sent_tick,
                    membership: None,
                },
            );
            while let Some(output) = duck.poll_output() {
                std::hint::black_box(&output);
            }
        })
    });
    group.finish();
}

/// Five fresh nodes ticking in lock-step until one is the Goose.
fn cold_start_election(c: &mut Criterion) {
    let mut seed = 0;
    c.bench_function("cold_start_election_5_nodes", |b| {
        b.iter_batched(
            || {
                seed += 1;
                pump::Pump::new(5, seed)
            },
            |mut cluster| cluster.elect(10_000).expect("elects"),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, steady_state, cold_start_election);
criterion_main!(benches);

//! Safety under cuts: symmetric, one-way, a bridge node, a partial
//! partition. Each holds the fault for [`HOLD`], repairs it, and asserts no
//! overlap, one Goose per term, and one Goose agreed on by every node
//! within [`PATIENCE`](crate::PATIENCE) of the repair.

use std::time::{Duration, Instant};

use crate::Transport;
use crate::cluster::Cluster;
use crate::on_both_transports;
use crate::report::{Row, ms};

/// How long each fault lasts: several election timeouts (300..450 ms).
const HOLD: Duration = Duration::from_secs(3);

on_both_transports!(symmetric_cut, one_way_cut, bridge_node, partial_partition);

/// Repairs every fault, waits for one Goose agreed on by all, measures the
/// window since `faulted`, prints the row and asserts safety.
fn repair_and_check(cluster: &mut Cluster, scenario: &str, faulted: Instant, note: &str) {
    cluster.net.heal();
    let healed = Instant::now();
    let (goose, term) = cluster.wait_for_agreement(healed);
    let agreed = healed.elapsed();
    let mut row = Row::measure(cluster, scenario, faulted, Instant::now());
    row.note = format!(
        "{note}; node {goose} Goose of term {term}, agreed by all {} after repair; {}",
        ms(agreed),
        row.note
    );
    row.print(cluster);
    cluster.watch.observer.assert_safe();
}

/// The Goose and one Duck are cut off from the three others: the majority
/// elects a Goose of its own; the old one's lease runs out.
fn symmetric_cut(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    let (goose, term) = cluster.wait_for_agreement(Instant::now());
    let ids = cluster.ids();
    let partner = *ids.iter().find(|&&id| id != goose).expect("five nodes");
    let minority = [goose, partner];
    let majority: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !minority.contains(id))
        .collect();
    cluster.net.cut(&minority, &majority);
    let cut = Instant::now();
    let (new_goose, _, at) = cluster.wait_for_new_goose(term, cut, &majority);
    cluster.watch_for(HOLD.saturating_sub(cut.elapsed()));
    let note = format!(
        "{minority:?} vs {majority:?}: node {new_goose} Goose {} after the cut",
        ms(at - cut)
    );
    repair_and_check(&mut cluster, "symmetric cut 2 vs 3", cut, &note);
}

/// One way at a time: first nobody hears the Goose (it still hears them),
/// then the next Goose hears nobody (they still hear it).
fn one_way_cut(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    let (goose, term) = cluster.wait_for_agreement(Instant::now());
    let others = cluster.others(goose);
    for &other in &others {
        cluster.net.drop_from(goose, other);
    }
    let muted = Instant::now();
    let (new_goose, _, at) = cluster.wait_for_new_goose(term, muted, &others);
    cluster.watch_for(HOLD.saturating_sub(muted.elapsed()));
    let note = format!(
        "node {goose} unheard: node {new_goose} Goose {} after",
        ms(at - muted)
    );
    repair_and_check(&mut cluster, "one-way: Goose unheard", muted, &note);

    let (deaf, _) = cluster.wait_for_agreement(Instant::now());
    let others = cluster.others(deaf);
    for &other in &others {
        cluster.net.drop_from(other, deaf);
    }
    let deafened = Instant::now();
    cluster.watch_for(HOLD);
    let during = cluster
        .watch
        .observer
        .availability(deafened, Instant::now())
        .percent();
    let note = format!("node {deaf} deaf: {during:.1} % available while deaf");
    repair_and_check(&mut cluster, "one-way: Goose deaf", deafened, &note);
}

/// The Goose and one Duck cannot reach two others, and one node reaches
/// everybody: each side has a majority only through the bridge node.
fn bridge_node(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    let (goose, _) = cluster.wait_for_agreement(Instant::now());
    let others = cluster.others(goose);
    let side_a = [goose, others[0]];
    let bridge = others[1];
    let side_c = [others[2], others[3]];
    cluster.net.cut(&side_a, &side_c);
    let cut = Instant::now();
    cluster.watch_for(HOLD);
    let during = cluster
        .watch
        .observer
        .availability(cut, Instant::now())
        .percent();
    let note = format!(
        "{side_a:?} x {side_c:?}, node {bridge} bridges: {during:.1} % available while cut"
    );
    repair_and_check(&mut cluster, "bridge node", cut, &note);
}

/// Two single links cut, everything else connected: the Goose and one
/// Duck, and two other Ducks.
fn partial_partition(transport: Transport) {
    let Some(_serial) = crate::begin() else {
        return;
    };
    let mut cluster = Cluster::start(transport);
    let (goose, _) = cluster.wait_for_agreement(Instant::now());
    let others = cluster.others(goose);
    cluster.net.cut(&[goose], &[others[0]]);
    cluster.net.cut(&[others[1]], &[others[2]]);
    let cut = Instant::now();
    cluster.watch_for(HOLD);
    let during = cluster
        .watch
        .observer
        .availability(cut, Instant::now())
        .percent();
    let note = format!(
        "links {goose}-{} and {}-{} cut: {during:.1} % available while cut",
        others[0], others[1], others[2]
    );
    repair_and_check(&mut cluster, "partial partition", cut, &note);
}

//! The sidecar demo (`examples/sidecar.rs`, `/sidecar` in the image) next
//! to each node of the compose cluster: its work units, stamped on the
//! clock the containers share, never overlap across containers while the
//! Goose is frozen, cut off, killed and stopped (a hand-over) in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::clock::{Ns, ms, now_ns};
use crate::cluster::{Cluster, NODES};
use crate::docker::{docker_ok, state, stdout};
use crate::{PATIENCE, serial};

/// One unit of work as a sidecar logged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unit {
    node: u64,
    term: u64,
    start: Ns,
    end: Ns,
}

/// `unit node=ID term=T start_ns=S end_ns=E`.
fn parse_unit(line: &str) -> Option<Unit> {
    let mut fields = line.strip_prefix("unit ")?.split(' ');
    let mut field = |name: &str| -> Option<u64> {
        fields
            .next()?
            .strip_prefix(name)?
            .strip_prefix('=')?
            .parse()
            .ok()
    };
    Some(Unit {
        node: field("node")?,
        term: field("term")?,
        start: field("start_ns")?,
        end: field("end_ns")?,
    })
}

/// Every unit the sidecars have logged so far, by start time.
fn units(sidecars: &BTreeMap<u64, String>) -> Vec<Unit> {
    let mut units: Vec<Unit> = sidecars
        .values()
        .flat_map(|container| {
            let log = stdout(container);
            log.lines()
                .map(|line| parse_unit(line).unwrap_or_else(|| panic!("not a unit: {line:?}")))
                .collect::<Vec<_>>()
        })
        .collect();
    units.sort_by_key(|unit| unit.start);
    units
}

/// Waits until `node`'s sidecar has logged a unit in `term`.
fn wait_for_work(sidecars: &BTreeMap<u64, String>, node: u64, term: u64) {
    let deadline = Instant::now() + PATIENCE;
    while !units(sidecars)
        .iter()
        .any(|unit| unit.node == node && unit.term == term)
    {
        assert!(
            Instant::now() < deadline,
            "node {node}'s sidecar did no work in term {term}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Four changes of Goose: three by a failure a lease must cover, the Goose
/// frozen (`docker pause`), cut off from the others (`docker network
/// disconnect`; its sidecar still reaches it) and killed, and one by a
/// hand-over (`docker stop`), which gives the lease up at once and which the
/// sidecar's lock delay covers. The sidecars' units never overlap, their
/// terms never go back, every unit was done by the Goose of its term, and
/// each new Goose's sidecar took over.
#[test]
fn the_sidecar_works_on_one_container_at_a_time() {
    let _serial = serial();
    let mut cluster = Cluster::start("side", true);
    let sidecars: BTreeMap<u64, String> = NODES
        .iter()
        .map(|&node| (node, cluster.project.container(&format!("sidecar{node}"))))
        .collect();
    let network = cluster.project.network();
    let (mut goose, mut term) = cluster.agreement(now_ns());
    wait_for_work(&sidecars, goose, term);

    // The hand-over first, while every sidecar is connected (one whose node
    // restarted takes a while to rejoin its namespace).
    for failure in ["stop", "pause", "disconnect", "kill"] {
        let container = cluster.container(goose).to_owned();
        let failed = now_ns();
        match failure {
            "pause" => docker_ok(&["pause", &container]),
            "disconnect" => docker_ok(&["network", "disconnect", &network, &container]),
            "kill" => docker_ok(&["kill", &container]),
            _ => docker_ok(&["stop", &container]),
        };
        let (new_goose, new_term) = cluster.watch.wait_for(
            &format!("a new Goose after docker {failure} of node {goose}"),
            |observer| {
                let status = observer.goose_after(term, failed)?.status.as_ref()?;
                Some((status.id, status.term))
            },
        );
        wait_for_work(&sidecars, new_goose, new_term);
        eprintln!(
            "docker {failure} of node {goose} (term {term}): node {new_goose}'s sidecar works \
             in term {new_term}, {:.0} ms later",
            ms(failed, now_ns())
        );
        match failure {
            "pause" => docker_ok(&["unpause", &container]),
            "disconnect" => docker_ok(&[
                "network",
                "connect",
                "--alias",
                &format!("node{goose}"),
                &network,
                &container,
            ]),
            _ if state(&container).status != "running" => docker_ok(&["start", &container]),
            _ => String::new(),
        };
        (goose, term) = cluster.settle();
        wait_for_work(&sidecars, goose, term);
    }
    cluster.watch.drain();

    let units = units(&sidecars);
    let mut handoffs = Vec::new();
    for pair in units.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        assert!(
            before.end <= after.start,
            "OVERLAP: {before:?} ends {:.1} ms after {after:?} starts",
            ms(after.start, before.end)
        );
        assert!(
            before.term <= after.term,
            "terms went back: {before:?} then {after:?}"
        );
        if before.node != after.node {
            handoffs.push(ms(before.end, after.start));
        }
    }
    for unit in &units {
        if let Some(goose) = cluster.watch.observer.goose_of(unit.term) {
            assert_eq!(goose, unit.node, "{unit:?} in a term node {goose} led");
        }
    }
    let workers: BTreeSet<u64> = units.iter().map(|unit| unit.node).collect();
    let reigns: BTreeSet<(u64, u64)> = units.iter().map(|unit| (unit.node, unit.term)).collect();
    eprintln!(
        "{} units by nodes {workers:?} in {} reigns, none overlapping; idle between two \
         sidecars: {handoffs:.0?} ms",
        units.len(),
        reigns.len()
    );
    assert!(
        reigns.len() >= 4 && workers.len() >= 2,
        "work moved with the Goose: {reigns:?}"
    );
}

#[test]
fn a_unit_line_parses_and_garbage_does_not() {
    assert_eq!(
        parse_unit("unit node=2 term=7 start_ns=10 end_ns=20"),
        Some(Unit {
            node: 2,
            term: 7,
            start: 10,
            end: 20
        })
    );
    assert_eq!(parse_unit("unit node=2 term=7 start_ns=10"), None);
    assert_eq!(parse_unit("sidecar: working"), None);
}

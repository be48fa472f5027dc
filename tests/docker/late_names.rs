//! Names that appear late: the compose file's three nodes started one at a
//! time, [`STAGGER`] apart, as a Kubernetes StatefulSet's pods (and their
//! DNS names) appear. A node whose peers' names do not resolve yet keeps
//! running and retrying; the three converge to one Goose.

use std::time::Duration;

use crate::clock::{ms, now_ns};
use crate::cluster::NODES;
use crate::docker::state;
use crate::observer::Watch;
use crate::project::Project;
use crate::serial;

/// The pause between two containers' starts (three starts over ~30 s).
const STAGGER: Duration = Duration::from_secs(12);

#[test]
fn nodes_whose_names_appear_late_converge_to_one_goose() {
    let _serial = serial();
    let began = now_ns();
    let mut watch = Watch::start(&[]);
    let project = Project::up("late", &["node1"]);
    watch.add(1, &project.container("node1"));

    // Alone, node 1 cannot resolve node2 or node3, nor win an election; it
    // must keep running as a Duck.
    watch.watch_for(STAGGER);
    let alone = watch.observer.status_since(1, began).cloned();
    assert!(
        alone.as_ref().is_some_and(|status| !status.is_goose()),
        "node 1 alone answers {alone:?}"
    );

    project.compose_ok(&["up", "-d", "--no-color", "node2"]);
    let second = now_ns();
    watch.add(2, &project.container("node2"));
    let (goose, term) = watch.wait_for_agreement(&[1, 2], second);
    eprintln!(
        "node2 started {:.1} s after node1: node {goose} leads term {term} {:.0} ms later",
        ms(began, second) / 1e3,
        ms(second, now_ns())
    );
    watch.watch_for(STAGGER.saturating_sub(Duration::from_nanos(now_ns() - second)));

    project.compose_ok(&["up", "-d", "--no-color", "node3"]);
    let third = now_ns();
    watch.add(3, &project.container("node3"));
    let (goose, term) = watch.wait_for_agreement(&NODES, third);
    eprintln!(
        "node3 started {:.1} s after node1: all three follow node {goose} in term {term} \
         {:.0} ms later; {} answers checked",
        ms(began, third) / 1e3,
        ms(third, now_ns()),
        watch.observer.answers
    );
    for node in NODES {
        let state = state(&project.container(&format!("node{node}")));
        assert_eq!(
            (state.status.as_str(), state.restart_count),
            ("running", 0),
            "node {node} never stopped"
        );
    }
    // The watch stops before the project goes.
    drop(watch);
}

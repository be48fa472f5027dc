//! Membership changes from outside: `--join`, `DELETE /members`,
//! restarts with the first command line, and `--leave-on-shutdown`.

use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::http::{get_cluster, get_status, voters_and_learners};
use crate::observer::Observer;
use crate::{FAST, PATIENCE};

/// The membership changes from outside: three nodes started with `--peer`
/// grow to five with `--join` through a Duck (forwarded to the Goose),
/// every one a voter; shrink back to three with `DELETE /members` while a
/// node that stays is frozen (SIGSTOP, a partition from the cluster's point
/// of view) and catches up once thawed; the Goose removes itself and the
/// others elect a new one; nodes restarted with their first command line
/// come back in the new membership, and removed ones start as removed
/// nodes that never campaign.
#[test]
fn grow_shrink_and_restart_through_membership_changes() {
    let started = Instant::now();
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    let duck = (1..=3)
        .find(|id| *id != goose)
        .expect("two of three are Ducks");

    // Grow: two nodes join through the Duck, one after the other (the
    // second may meet the first one's promotion in progress, and try
    // again).
    // Node 4 brings metadata with its request.
    let with_meta: Vec<&str> = FAST
        .iter()
        .copied()
        .chain(["--meta", "http=http://127.0.0.1:9004", "--meta", "zone=b"])
        .collect();
    cluster.spawn_joiner(4, duck, &with_meta);
    cluster.spawn_joiner(5, duck, FAST);
    let all = [1, 2, 3, 4, 5];
    cluster.wait_for_membership(&mut observer, &all, &all);
    let port = cluster.node(duck).http_port;
    let members = get_cluster(port).expect("the Duck answers")["members"].clone();
    let meta: Vec<&serde_json::Value> = members
        .as_array()
        .expect("an array of members")
        .iter()
        .map(|member| &member["meta"])
        .collect();
    let none = serde_json::json!({});
    let four = serde_json::json!({ "http": "http://127.0.0.1:9004", "zone": "b" });
    assert_eq!(meta, [&none, &none, &none, &four, &none], "{members}");
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: five voters, node {goose} the Goose",
        started.elapsed()
    );

    // Shrink to three: the Goose, a joiner and a node from the start, which
    // is frozen while the other two are removed.
    let joiner = if goose == 5 { 4 } else { 5 };
    let frozen = (1..=3).find(|id| *id != goose).expect("two of three");
    let kept = {
        let mut kept = vec![goose, joiner, frozen];
        kept.sort_unstable();
        kept
    };
    let removed: Vec<u64> = all
        .iter()
        .copied()
        .filter(|id| !kept.contains(id))
        .collect();
    cluster.node(frozen).sigstop();
    for &id in &removed {
        let (_, code, body) =
            cluster.change_on_goose(&mut observer, "DELETE", &format!("/members/{id}"), None);
        assert_eq!(code, 200, "removing node {id}: {body}");
        let (voters, _) = voters_and_learners(&body);
        assert!(!voters.contains(&id), "{body}");
    }
    let awake: Vec<u64> = kept.iter().copied().filter(|id| *id != frozen).collect();
    cluster.wait_for_membership(&mut observer, &awake, &kept);
    // The removed nodes stay up as Ducks outside the cluster until stopped.
    for &id in &removed {
        cluster.node(id).sigterm();
        let exit = cluster.node(id).wait_exit(PATIENCE);
        assert_eq!(exit.code(), Some(0), "{}", cluster.node(id).log_tail());
    }
    cluster.node(frozen).sigcont();
    cluster.wait_for_membership(&mut observer, &kept, &kept);
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: three voters {kept:?}, node {frozen} caught up, node {goose} the Goose",
        started.elapsed()
    );

    // The Goose removes itself, and the other two elect a new one.
    let (answered, code, body) = cluster.remove_the_goose(&mut observer);
    let rest: Vec<u64> = kept.iter().copied().filter(|id| *id != answered).collect();
    // The Ducks keep the Goose they follow reachable (and its heartbeats
    // accepted) after adopting its removal, so their acks commit it and the
    // Goose answers with the committed membership.
    assert_eq!(code, 200, "removing the Goose: {body}");
    assert_eq!(voters_and_learners(&body), (rest.clone(), Vec::new()));
    cluster.poll_until(
        &mut observer,
        &format!("a Goose other than node {answered}"),
        |answers, _| {
            answers
                .iter()
                .filter_map(|a| a.status.as_ref())
                .find(|s| s.is_goose() && s.id != answered)
                .map(|s| s.id)
        },
    );
    cluster.wait_for_membership(&mut observer, &rest, &rest);
    cluster.node(answered).sigterm();
    let exit = cluster.node(answered).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(0));
    cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: node {answered} removed itself; voters {rest:?}",
        started.elapsed()
    );

    // Restarts with the first command line (a `--join`, or `--peer`s that
    // no longer describe the cluster) come back in the new membership.
    for &id in &rest {
        cluster.node(id).kill9();
        cluster.node(id).spawn();
        cluster.wait_for_membership(&mut observer, &rest, &rest);
        cluster.wait_for_agreement(&mut observer);
        let log = cluster.node(id).log_text();
        assert!(
            log.contains("starting from the membership saved in"),
            "{}",
            cluster.node(id).log_tail()
        );
    }
    // Removed nodes start anyway, whatever their flags, as removed nodes:
    // Ducks outside the membership that never campaign, so the cluster
    // keeps its Goose in the same term.
    let (goose, term) = cluster.wait_for_agreement(&mut observer);
    for id in removed.into_iter().chain([answered]) {
        let deadline = Instant::now() + PATIENCE;
        cluster.node(id).spawn();
        cluster
            .node(id)
            .wait_until_serving(deadline)
            .unwrap_or_else(|port_taken| panic!("{port_taken}"));
        // Several election timeouts (at most 240 ms each).
        let quiet_until = Instant::now() + Duration::from_secs(1);
        cluster.poll_until(&mut observer, "a second of quiet", |answers, _| {
            let status = answers
                .iter()
                .find(|a| a.node == id)
                .and_then(|a| a.status.as_ref())?;
            assert!(!status.is_goose(), "removed node {id} leads: {status:?}");
            let geese: Vec<(u64, u64)> = answers
                .iter()
                .filter_map(|a| a.status.as_ref())
                .filter(|s| s.is_goose())
                .map(|s| (s.id, s.term))
                .collect();
            assert!(
                geese.iter().all(|found| *found == (goose, term)),
                "the Goose changed: {answers:#?}"
            );
            (Instant::now() >= quiet_until && !geese.is_empty()).then_some(())
        });
        let node = cluster.node(id);
        node.assert_alive();
        let status = get_status(node.http_port).expect("the removed node answers");
        assert_eq!(status.role, "Duck", "{status:?}");
        let view = get_cluster(node.http_port).expect("the removed node answers /cluster");
        assert_eq!(view["member"], serde_json::json!(false), "{view}");
        let (voters, learners) = voters_and_learners(&view);
        assert!(!voters.contains(&id) && !learners.contains(&id), "{view}");
        let log = node.log_text();
        assert!(
            log.contains(&format!("node {id} is not in its stored membership"))
                && log.contains("It will not campaign"),
            "{}",
            node.log_tail()
        );
        eprintln!("removed node {id} restarted as a removed node; node {goose} still leads");
        node.kill9();
    }
    assert_eq!(cluster.wait_for_agreement(&mut observer), (goose, term));
    eprintln!("done in {:.1?}", started.elapsed());
}

/// `--leave-on-shutdown`: SIGTERM makes a node ask to be removed, and it
/// exits 0 once the cluster no longer holds it.
#[test]
fn leave_on_shutdown_removes_the_node() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    cluster.spawn_joiner(4, goose, &[FAST, &["--leave-on-shutdown"]].concat());
    cluster.wait_for_membership(&mut observer, &[1, 2, 3, 4], &[1, 2, 3, 4]);
    cluster.node(4).sigterm();
    let exit = cluster.node(4).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(0), "{}", cluster.node(4).log_tail());
    assert!(cluster.node(4).log_text().contains("left the cluster"));
    cluster.wait_for_membership(&mut observer, &[1, 2, 3], &[1, 2, 3]);
    cluster.wait_for_agreement(&mut observer);
}

//! The compose cluster: one Goose among three containers; `docker kill`,
//! `docker stop` and `docker restart` of its containers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::{Ns, ms, now_ns};
use crate::docker::{container_ip, docker_ok, image, state};
use crate::http::request;
use crate::observer::Watch;
use crate::project::{ADMIN_TOKEN, Project};
use crate::{ELECTION_TIMEOUT_MAX, ELECTION_TIMEOUT_MIN, PATIENCE, SETTLE, serial};

/// The node ids of the compose file's services `node1`…`node3`.
pub const NODES: [u64; 3] = [1, 2, 3];

/// Rounds of the kill and stop tests.
const ROUNDS: usize = 3;

/// The three node containers of a compose project, watched. The watch is
/// declared first so that it stops before the project is removed.
pub struct Cluster {
    pub watch: Watch,
    pub containers: BTreeMap<u64, String>,
    pub project: Project,
}

impl Cluster {
    /// `deploy/compose.yaml`'s three nodes (`sidecars` too if asked),
    /// started together and watched.
    pub fn start(what: &str, sidecars: bool) -> Cluster {
        let services: &[&str] = if sidecars {
            &[]
        } else {
            &["node1", "node2", "node3"]
        };
        let project = Project::up(what, services);
        let containers: BTreeMap<u64, String> = NODES
            .iter()
            .map(|&node| (node, project.container(&format!("node{node}"))))
            .collect();
        let nodes: Vec<(u64, String)> = containers.clone().into_iter().collect();
        Cluster {
            watch: Watch::start(&nodes),
            containers,
            project,
        }
    }

    pub fn container(&self, node: u64) -> &str {
        &self.containers[&node]
    }

    /// Waits until the three agree on one Goose in answers to requests sent
    /// after `since`.
    pub fn agreement(&mut self, since: Ns) -> (u64, u64) {
        self.watch.wait_for_agreement(&NODES, since)
    }

    /// Starts `node`'s container again unless its restart policy already
    /// did, waits until the three agree again, and lets the cluster settle
    /// (see [`SETTLE`]).
    pub fn bring_back(&mut self, node: u64) -> (u64, u64) {
        let container = self.container(node).to_owned();
        if state(&container).status != "running" {
            docker_ok(&["start", &container]);
        }
        self.settle()
    }

    /// Waits until the three agree, lets the cluster settle (see
    /// [`SETTLE`]), and returns the Goose and its term then.
    pub fn settle(&mut self) -> (u64, u64) {
        self.agreement(now_ns());
        self.watch.watch_for(SETTLE);
        self.agreement(now_ns())
    }
}

/// `docker-compose up`: the three containers elect one Goose, report
/// healthy, run as uid 65534, and protect the admin routes with the token
/// from the compose file's secret.
#[test]
fn the_compose_cluster_shows_one_goose_among_three_containers() {
    let _serial = serial();
    let mut cluster = Cluster::start("one", false);
    let (goose, term) = cluster.agreement(now_ns());
    eprintln!("node {goose} is the Goose in term {term}");
    // Two seconds of polls: every sweep shows this one Goose.
    let from = now_ns();
    cluster.watch.watch_for(Duration::from_secs(2));
    let seen: Vec<u64> = cluster
        .watch
        .observer
        .goose_answers
        .iter()
        .filter(|answer| answer.sent >= from)
        .map(|answer| answer.node)
        .collect();
    assert!(
        !seen.is_empty() && seen.iter().all(|&node| node == goose),
        "Geese: {seen:?}"
    );

    let image_user = docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", image()]);
    assert_eq!(image_user, "65534:65534", "the image runs as nobody");
    let size: u64 = docker_ok(&["image", "inspect", "--format", "{{.Size}}", image()])
        .parse()
        .expect("a size in bytes");
    eprintln!("image {} is {:.1} MB", image(), size as f64 / 1e6);
    wait_until_healthy(&cluster);

    let ip = container_ip(cluster.container(goose)).expect("the Goose has an address");
    let step_down = |headers: &[&str]| {
        request(ip, "POST", "/step-down", headers, Some("{}")).expect("the Goose answers")
    };
    let (code, body) = step_down(&[]);
    assert_eq!(code, 401, "no token: {body}");
    let (code, body) = step_down(&["Authorization: Bearer not-the-token"]);
    assert_eq!(code, 401, "a wrong token: {body}");
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let (code, body) = request(ip, "POST", "/step-down", &[&bearer], None).expect("an answer");
    assert_eq!(
        code, 415,
        "the token, but not declared JSON (a browser form): {body}"
    );
    assert_eq!(
        cluster.agreement(now_ns()),
        (goose, term),
        "nothing changed"
    );
    let (code, body) = step_down(&[&bearer]);
    assert_eq!(code, 202, "the token: {body}");
    let (new_goose, new_term) = cluster.agreement(now_ns());
    assert!(
        new_goose != goose && new_term > term,
        "after the step-down node {new_goose} leads term {new_term}"
    );
}

/// Every node container turns healthy by the image's HEALTHCHECK (which asks
/// `/health` with the binary itself: the image has no shell or curl).
fn wait_until_healthy(cluster: &Cluster) {
    let deadline = std::time::Instant::now() + PATIENCE;
    for container in cluster.containers.values() {
        loop {
            let health = state(container).health;
            if health == "healthy" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "container {container} is {health:?}, not healthy"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `docker kill` of the Goose's container (SIGKILL: no hand-over): another
/// node is the Goose within twice the maximum election timeout, and the
/// killed one comes back as a Duck.
#[test]
fn docker_kill_of_the_goose_elects_a_new_goose_within_two_election_timeouts() {
    let _serial = serial();
    let mut cluster = Cluster::start("kill", false);
    let (mut goose, mut term) = cluster.agreement(now_ns());
    let mut failovers = Vec::new();
    for round in 1..=ROUNDS {
        let killed = now_ns();
        docker_ok(&["kill", cluster.container(goose)]);
        let (new_goose, new_term, received) = cluster.watch.wait_for(
            &format!("a new Goose after killing node {goose} (round {round})"),
            |observer| {
                let answer = observer.goose_after(term, killed)?;
                let status = answer.status.as_ref()?;
                Some((status.id, status.term, answer.received))
            },
        );
        let failover = ms(killed, received);
        eprintln!(
            "round {round}: docker kill of node {goose} (term {term}) → node {new_goose} \
             Goose of term {new_term} after {failover:.0} ms"
        );
        assert!(
            failover < 2.0 * ELECTION_TIMEOUT_MAX.as_secs_f64() * 1e3,
            "failover took {failover:.0} ms"
        );
        failovers.push(failover);
        (goose, term) = cluster.bring_back(goose);
    }
    failovers.sort_by(f64::total_cmp);
    eprintln!(
        "docker kill → new Goose: min {:.0} ms, median {:.0} ms, max {:.0} ms \
         (bound {} ms); {} answers checked",
        failovers[0],
        failovers[ROUNDS / 2],
        failovers[ROUNDS - 1],
        2 * ELECTION_TIMEOUT_MAX.as_millis(),
        cluster.watch.observer.answers
    );
}

/// `docker stop` of the Goose's container (SIGTERM): it hands over before
/// it exits with status 0, so the cluster is without a Goose for
/// milliseconds, not an election timeout.
#[test]
fn docker_stop_of_the_goose_hands_over_in_milliseconds() {
    let _serial = serial();
    let mut cluster = Cluster::start("stop", false);
    let (mut goose, mut term) = cluster.agreement(now_ns());
    let mut gaps = Vec::new();
    for round in 1..=ROUNDS {
        let stopped = now_ns();
        // Returns once the container has exited.
        docker_ok(&["stop", cluster.container(goose)]);
        let exit = state(cluster.container(goose));
        assert_eq!(
            (exit.status.as_str(), exit.exit_code),
            ("exited", 0),
            "a graceful stop exits 0"
        );
        let (new_goose, new_term, received) = cluster.watch.wait_for(
            &format!("a new Goose after stopping node {goose} (round {round})"),
            |observer| {
                let answer = observer.goose_after(term, stopped)?;
                let status = answer.status.as_ref()?;
                Some((status.id, status.term, answer.received))
            },
        );
        let last_old = cluster
            .watch
            .observer
            .last_goose_of(term)
            .expect("the old Goose answered")
            .sent;
        let gap = ms(last_old, received);
        eprintln!(
            "round {round}: docker stop of node {goose} (term {term}) → node {new_goose} Goose \
             of term {new_term}: at most {gap:.1} ms without a Goose, {:.0} ms after the \
             command",
            ms(stopped, received)
        );
        assert!(
            gap < ELECTION_TIMEOUT_MIN.as_secs_f64() * 1e3,
            "hand-over took {gap:.1} ms, an election timeout is at least {ELECTION_TIMEOUT_MIN:?}"
        );
        gaps.push(gap);
        (goose, term) = cluster.bring_back(goose);
    }
    gaps.sort_by(f64::total_cmp);
    eprintln!(
        "docker stop hand-over: min {:.1} ms, median {:.1} ms, max {:.1} ms without a Goose",
        gaps[0],
        gaps[ROUNDS / 2],
        gaps[ROUNDS - 1]
    );
}

/// `docker restart` of the three containers one by one (a rolling update):
/// the cluster is never without a Goose for longer than the maximum
/// election timeout.
#[test]
fn restarting_the_containers_one_by_one_keeps_a_goose() {
    let _serial = serial();
    let mut cluster = Cluster::start("roll", false);
    cluster.agreement(now_ns());
    let from = now_ns();
    for node in NODES {
        let (goose, term) = cluster.agreement(now_ns());
        let restarted = now_ns();
        docker_ok(&["restart", cluster.container(node)]);
        let (new_goose, new_term) = cluster.agreement(now_ns());
        eprintln!(
            "docker restart of node {node} (Goose: node {goose}, term {term}) took {:.0} ms; \
             then node {new_goose} leads term {new_term}",
            ms(restarted, now_ns())
        );
    }
    let to = now_ns();
    let longest = cluster.watch.observer.longest_without_goose(from, to);
    eprintln!(
        "rolling restart of 3 containers in {:.1} s: at most {longest:?} without a Goose \
         (bound {ELECTION_TIMEOUT_MAX:?}); {} answers checked",
        ms(from, to) / 1e3,
        cluster.watch.observer.answers
    );
    assert!(
        longest <= ELECTION_TIMEOUT_MAX,
        "the cluster was without a Goose for up to {longest:?}"
    );
}

//! A cluster of node processes on 127.0.0.1, polled over HTTP.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http::{
    Answer, Status, admin_token_flag, get_cluster, get_status, http_exchange, voters_and_learners,
};
use crate::observer::Observer;
use crate::process::NodeProcess;
use crate::{PATIENCE, POLL_GAP};

/// Node processes sharing one temporary directory. Dropping it kills every
/// process, on every exit path, a failed assertion included (and prints the
/// logs' tails then).
pub struct Cluster {
    pub nodes: Vec<NodeProcess>,
    pub dir: TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail());
            }
        }
        for node in &mut self.nodes {
            node.kill9();
        }
    }
}

/// A port the OS considers free now. Another process may take it before the
/// node binds it; [`Cluster::start`] retries the whole start if so.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0 works")
        .port()
}

impl Cluster {
    /// Starts `size` nodes with `timing` flags, and waits until every one
    /// answers `/status`.
    pub fn start(size: u64, timing: &[&str]) -> Cluster {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let mut cluster = Cluster::spawn(size, timing);
            match cluster.wait_until_serving() {
                Ok(()) => return cluster,
                Err(port_taken) if attempt < ATTEMPTS => {
                    eprintln!("attempt {attempt}: {port_taken}; retrying with other ports");
                }
                Err(port_taken) => panic!("{port_taken}, {ATTEMPTS} times"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    pub fn spawn(size: u64, timing: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for id in 1..=size {
            let (cluster_port, http_port) = ports[(id - 1) as usize];
            let data_dir = dir.path().join(format!("node-{id}"));
            let mut args = vec![
                "--id".to_owned(),
                id.to_string(),
                "--listen".to_owned(),
                format!("127.0.0.1:{cluster_port}"),
                "--http".to_owned(),
                format!("127.0.0.1:{http_port}"),
                "--data-dir".to_owned(),
                data_dir.display().to_string(),
            ];
            args.extend(admin_token_flag(dir.path()));
            for peer in (1..=size).filter(|peer| *peer != id) {
                args.push("--peer".to_owned());
                args.push(format!("{peer}=127.0.0.1:{}", ports[(peer - 1) as usize].0));
            }
            args.extend(timing.iter().map(|flag| (*flag).to_owned()));
            let mut node = NodeProcess::new(id, (cluster_port, http_port), dir.path(), args);
            node.spawn();
            nodes.push(node);
        }
        Cluster { nodes, dir }
    }

    /// Waits until every node answers; `Err` if one exited because a port
    /// was taken (the caller retries), panics on anything else.
    pub fn wait_until_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        for node in &mut self.nodes {
            node.wait_until_serving(deadline)?;
        }
        Ok(())
    }

    /// Starts node `id` (the next id) with `--join` to `via`'s cluster
    /// address and no `--peer`, plus `extra` flags, and waits until it
    /// serves `/status`, which it does once it has joined.
    pub fn spawn_joiner(&mut self, id: u64, via: u64, extra: &[&str]) {
        assert_eq!(id, self.nodes.len() as u64 + 1, "ids are consecutive");
        let via_port = self.node(via).cluster_port;
        for attempt in 1..=3 {
            let ports = (free_port(), free_port());
            let data_dir = self.dir.path().join(format!("node-{id}"));
            let mut args: Vec<String> = [
                "--id",
                &id.to_string(),
                "--listen",
                &format!("127.0.0.1:{}", ports.0),
                "--http",
                &format!("127.0.0.1:{}", ports.1),
                "--data-dir",
                &data_dir.display().to_string(),
                "--join",
                &format!("127.0.0.1:{via_port}"),
            ]
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect();
            args.extend(admin_token_flag(self.dir.path()));
            args.extend(extra.iter().map(|flag| (*flag).to_owned()));
            let mut node = NodeProcess::new(id, ports, self.dir.path(), args);
            let spawned = Instant::now();
            node.spawn();
            match node.wait_until_serving(Instant::now() + PATIENCE) {
                Ok(()) => {
                    eprintln!(
                        "node {id} joined through node {via} in {:.1?}",
                        spawned.elapsed()
                    );
                    for line in node
                        .log_text()
                        .lines()
                        .filter(|l| l.contains("join attempt"))
                    {
                        eprintln!("  {line}");
                    }
                    self.nodes.push(node);
                    return;
                }
                Err(port_taken) => eprintln!("attempt {attempt}: {port_taken}; retrying"),
            }
        }
        panic!("node {id}: ports taken three times");
    }
    pub fn node(&mut self, id: u64) -> &mut NodeProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Asks every running node for its status, one after the other, and
    /// checks the answers in `observer`. Panics if a node died on its own.
    pub fn sweep(&mut self, observer: &mut Observer) -> Vec<Answer> {
        let mut answers = Vec::new();
        for node in &mut self.nodes {
            if !node.is_answering() {
                continue;
            }
            node.assert_alive();
            let sent = Instant::now();
            let status = get_status(node.http_port).ok();
            let received = Instant::now();
            answers.push(Answer {
                node: node.id,
                status,
                sent,
                received,
            });
        }
        observer.record(&answers);
        answers
    }

    /// Sweeps until `check` accepts a sweep; panics after [`PATIENCE`].
    pub fn poll_until<T>(
        &mut self,
        observer: &mut Observer,
        what: &str,
        mut check: impl FnMut(&[Answer], &Observer) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answers = self.sweep(observer);
            if let Some(found) = check(&answers, observer) {
                return found;
            }
            if Instant::now() > deadline {
                panic!("waited {PATIENCE:?} for {what}; last sweep: {answers:#?}");
            }
            sleep(POLL_GAP);
        }
    }

    /// Waits until every running node answers, exactly one is the Goose,
    /// and every other one is a Duck in its term following it. Returns the
    /// Goose and its term.
    pub fn wait_for_agreement(&mut self, observer: &mut Observer) -> (u64, u64) {
        let running = self.nodes.iter().filter(|node| node.is_answering()).count();
        self.poll_until(
            observer,
            "exactly one Goose, followed by all",
            |answers, _| {
                let statuses: Vec<&Status> =
                    answers.iter().filter_map(|a| a.status.as_ref()).collect();
                if statuses.len() != running {
                    return None;
                }
                let mut geese = statuses.iter().filter(|s| s.is_goose());
                let goose = geese.next()?;
                if geese.next().is_some() {
                    // Mid hand-over; the observer has checked it is a legal one.
                    return None;
                }
                statuses
                    .iter()
                    .all(|s| s.term == goose.term && s.leader == Some(goose.id))
                    .then_some((goose.id, goose.term))
            },
        )
    }
}

impl Cluster {
    /// Sends a membership change to the Goose, found by polling, and asks
    /// again (the Goose found again) while the answer says to: not the
    /// Goose, a change in progress, the Goose lost its lease. Returns the
    /// node that answered, the status code and the body.
    pub fn change_on_goose(
        &mut self,
        observer: &mut Observer,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> (u64, u16, serde_json::Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let goose = self.poll_until(observer, "a Goose", |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| s.id)
            });
            let port = self.node(goose).http_port;
            // The server gives up on a change after 10 s.
            let answer = http_exchange(port, method, path, json, Duration::from_secs(15));
            if let Ok((code, body)) = &answer {
                let body: serde_json::Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"));
                let again = matches!(
                    (code, body["reason"].as_str()),
                    (409, Some("not_goose" | "change_in_progress"))
                        | (503, Some("leadership_lost"))
                );
                if !again {
                    return (goose, *code, body);
                }
            }
            eprintln!("{method} {path} on node {goose}: {answer:?}; trying again");
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer but \"try again\" within {PATIENCE:?}: {answer:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// `DELETE /members/{goose}` on the Goose, found again while the answer
    /// says to try elsewhere or later; returns the Goose that answered, the
    /// status code and the body.
    pub fn remove_the_goose(&mut self, observer: &mut Observer) -> (u64, u16, serde_json::Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let goose = self.poll_until(observer, "a Goose", |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| s.id)
            });
            let port = self.node(goose).http_port;
            let path = format!("/members/{goose}");
            let answer = http_exchange(port, "DELETE", &path, None, Duration::from_secs(15));
            if let Ok((code, body)) = &answer {
                let body: serde_json::Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("DELETE {path}: {e}: {body}"));
                let again = matches!(
                    (code, body["reason"].as_str()),
                    (409, Some("not_goose" | "change_in_progress"))
                );
                if !again {
                    return (goose, *code, body);
                }
            }
            eprintln!("DELETE {path} on node {goose}: {answer:?}; trying again");
            assert!(Instant::now() < deadline, "DELETE {path}: {answer:?}");
            sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/cluster` on each of `on` until every one of them shows
    /// exactly `voters` as voters and no learner; returns the membership
    /// they show.
    pub fn wait_for_membership(
        &mut self,
        observer: &mut Observer,
        on: &[u64],
        voters: &[u64],
    ) -> serde_json::Value {
        let ports: Vec<(u64, u16)> = on.iter().map(|&id| (id, self.node(id).http_port)).collect();
        let mut last = BTreeMap::new();
        let what = format!("nodes {on:?} to show the voters {voters:?}");
        self.poll_until(observer, &what, |_, _| {
            let mut membership = None;
            for &(id, port) in &ports {
                let cluster = get_cluster(port).ok()?;
                let seen = voters_and_learners(&cluster);
                if last.insert(id, seen.clone()).as_ref() != Some(&seen) {
                    eprintln!("node {id}: voters {:?}, learners {:?}", seen.0, seen.1);
                }
                if seen != (voters.to_vec(), Vec::new())
                    || membership
                        .as_ref()
                        .is_some_and(|m| *m != cluster["membership"])
                {
                    return None;
                }
                membership = Some(cluster["membership"].clone());
            }
            membership
        })
    }
}

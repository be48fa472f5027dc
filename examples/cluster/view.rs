//! The `cluster` example's live view: what each sample of the nodes saw,
//! the failovers it timed, and the table (or the lines) it draws.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use duckduckgoose::core::MembershipId;
use duckduckgoose::{NodeId, Term};
use tokio::time::Instant;

use super::{Args, Slot};

/// One node as the last sample saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Down,
    Goose { term: Term, lease: Option<Duration> },
    Duck { term: Term, leader: Option<NodeId> },
}

impl Seen {
    fn of(slot: &Slot) -> Seen {
        let Some(running) = &slot.running else {
            return Seen::Down;
        };
        if let Some(lease) = running.handle.lease() {
            return Seen::Goose {
                term: lease.term,
                lease: lease.remaining,
            };
        }
        let status = running.handle.status();
        if !status.running {
            return Seen::Down;
        }
        Seen::Duck {
            term: status.term,
            leader: status.leader.filter(|leader| *leader != slot.id),
        }
    }

    /// The line worth printing when a node goes from `old` to `self`, in
    /// the line-per-change view. Becoming the Goose has its own line (with
    /// the failover time), and the moments between a Goose's loss and the
    /// next one are noise; what is left is a node going down and whom each
    /// Duck follows.
    fn change_line(self, old: Seen, id: NodeId) -> Option<String> {
        match (old, self) {
            (Seen::Down, Seen::Down) => None,
            (_, Seen::Down) => Some(format!("node {id}: down")),
            (
                Seen::Duck {
                    term: old_term,
                    leader: old_leader,
                },
                Seen::Duck {
                    term,
                    leader: Some(leader),
                },
            ) if old_term == term && old_leader == Some(leader) => None,
            (
                _,
                Seen::Duck {
                    term,
                    leader: Some(leader),
                },
            ) => Some(format!(
                "node {id}: Duck following node {leader} (term {term})"
            )),
            _ => None,
        }
    }
}

/// The live view: tracks the Goose, times failovers, and draws.
pub(super) struct View {
    started: Instant,
    /// Redraw a table in place (a terminal) or print one line per change.
    table: bool,
    color: bool,
    /// Lines of the table currently on screen, to move back over.
    drawn_lines: usize,
    seen: Vec<Seen>,
    /// The Goose now, if any.
    pub(super) goose: Option<(NodeId, Term)>,
    /// The last Goose, and the end of its lease as last seen.
    last_goose: Option<NodeId>,
    last_lease_end: Option<Instant>,
    /// Since when the cluster has had no Goose, if it had one before.
    leaderless_since: Option<Instant>,
    /// Whether any Goose has been seen yet.
    had_goose: bool,
    failovers: Vec<Duration>,
    events: Vec<String>,
}

impl View {
    pub(super) fn new(terminal: bool) -> View {
        View {
            started: Instant::now(),
            table: terminal,
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
            drawn_lines: 0,
            seen: Vec::new(),
            goose: None,
            last_goose: None,
            last_lease_end: None,
            leaderless_since: None,
            had_goose: false,
            failovers: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(super) fn header(&mut self, args: &Args, slots: &[Slot], state_dir: &str) {
        let first = slots.first().map(|slot| slot.http_addr.port()).unwrap_or(0);
        let cluster_ports: Vec<String> = slots
            .iter()
            .map(|slot| slot.cluster_addr.port().to_string())
            .collect();
        println!(
            "DuckDuckGoose: {} nodes on 127.0.0.1 talking over TCP (cluster ports {}), state in {state_dir}",
            slots.len(),
            cluster_ports.join(", ")
        );
        println!(
            "Try the binary's client (cargo install duckduckgoose --features cli, or cargo run --features cli --):\n  \
             duckduckgoose status --node 127.0.0.1:{first}\n  \
             duckduckgoose step-down --node 127.0.0.1:<the Goose's port>\n  \
             duckduckgoose members remove <id> --node 127.0.0.1:<the Goose's port>"
        );
        if args.chaos {
            println!(
                "Chaos: the Goose crashes every {} ms and restarts {} ms later. Ctrl-C stops every node.",
                args.chaos_interval_ms,
                args.chaos_interval_ms / 3
            );
        } else {
            println!("Ctrl-C stops every node gracefully.");
        }
        println!();
    }

    pub(super) fn event(&mut self, text: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.events.push(format!("[{elapsed:7.2}s] {text}"));
    }

    pub(super) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Records that `id`, the Goose of `term`, was crashed at `at`.
    pub(super) fn crashed(&mut self, id: NodeId, term: Term, at: Instant) {
        self.event(&format!(
            "chaos: crashed node {id}, the Goose of term {term}"
        ));
        self.goose = None;
        self.last_goose = Some(id);
        self.leaderless_since = Some(at);
    }

    pub(super) fn sample(&mut self, slots: &[Slot], now: Instant) {
        let seen: Vec<Seen> = slots.iter().map(Seen::of).collect();
        if !self.table {
            let changes: Vec<String> = slots
                .iter()
                .zip(seen.iter().zip(&self.seen))
                .filter_map(|(slot, (new, old))| new.change_line(*old, slot.id))
                .collect();
            for change in changes {
                self.event(&change);
            }
        }
        let geese: Vec<(NodeId, Term, Option<Duration>)> = slots
            .iter()
            .zip(&seen)
            .filter_map(|(slot, seen)| match *seen {
                Seen::Goose { term, lease } => Some((slot.id, term, lease)),
                _ => None,
            })
            .collect();
        if geese.len() > 1 {
            // Lease safety says this cannot happen; say so loudly if it does.
            let list: Vec<String> = geese
                .iter()
                .map(|(id, term, _)| format!("node {id} (term {term})"))
                .collect();
            self.event(&format!("!!! two Geese at once: {}", list.join(", ")));
        }
        match geese.first() {
            Some(&(id, term, lease)) => {
                self.last_lease_end = lease.map(|left| now + left);
                if self.goose != Some((id, term)) {
                    self.new_goose(id, term, now);
                }
            }
            None => {
                if let Some((id, _)) = self.goose.take() {
                    // The lease may have run out before this sample noticed.
                    let since = self.last_lease_end.map_or(now, |end| end.min(now));
                    self.leaderless_since = Some(since);
                    self.last_goose = Some(id);
                    self.event(&format!("node {id} is no longer the Goose"));
                }
            }
        }
        self.seen = seen;
    }

    fn new_goose(&mut self, id: NodeId, term: Term, now: Instant) {
        let took = self.leaderless_since.take().map(|since| now - since);
        self.goose = Some((id, term));
        let text = match (self.had_goose, took) {
            (false, _) => format!(
                "node {id} is the Goose (term {term}), elected {} after start",
                millis(now - self.started)
            ),
            (true, Some(took)) => {
                self.failovers.push(took);
                let from = self
                    .last_goose
                    .map_or(String::new(), |old| format!(" from node {old}"));
                format!(
                    "node {id} is the Goose (term {term}): failover{from} took {}{}",
                    millis(took),
                    self.stats()
                        .map_or(String::new(), |stats| format!("  [{stats}]"))
                )
            }
            // A hand-over completed between two samples.
            (true, None) => format!("node {id} is the Goose (term {term}), handed over"),
        };
        self.had_goose = true;
        self.last_goose = Some(id);
        self.event(&text);
    }

    fn stats(&self) -> Option<String> {
        let mut sorted = self.failovers.clone();
        sorted.sort();
        let (first, last) = (sorted.first()?, sorted.last()?);
        Some(format!(
            "{} failover{}: min {}, median {}, max {}",
            sorted.len(),
            if sorted.len() == 1 { "" } else { "s" },
            millis(*first),
            millis(sorted[sorted.len() / 2]),
            millis(*last)
        ))
    }

    /// Prints pending events and, on a terminal, redraws the table below
    /// them.
    pub(super) fn render(&mut self, slots: &[Slot]) {
        let mut out = String::new();
        if self.drawn_lines > 0 {
            // Back to the table's first line, and clear from there down.
            let _ = write!(out, "\r\x1b[{}A\x1b[J", self.drawn_lines);
        }
        for event in self.events.drain(..) {
            out.push_str(&event);
            out.push('\n');
        }
        if self.table {
            let lines = self.table_lines(slots);
            self.drawn_lines = lines.len();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    fn table_lines(&self, slots: &[Slot]) -> Vec<String> {
        let mut lines = vec![row(
            "node",
            "role",
            "term",
            "leader",
            "lease",
            "member",
            "status page",
        )];
        for (slot, seen) in slots.iter().zip(&self.seen) {
            let id = slot.id.to_string();
            let page = format!("http://{}/status", slot.http_addr);
            let member = Member::of(slot).map_or("-".to_owned(), |member| member.to_string());
            let line = match *seen {
                Seen::Down => self.paint("2", &row(&id, "down", "-", "-", "", "-", &page)),
                Seen::Goose { term, lease } => {
                    let lease = lease.map_or("-".to_owned(), millis);
                    let term = term.to_string();
                    self.paint(
                        "1;33",
                        &row(&id, "Goose", &term, &id, &lease, &member, &page),
                    )
                }
                Seen::Duck { term, leader } => {
                    let leader = leader.map_or("-".to_owned(), |leader| leader.to_string());
                    row(&id, "Duck", &term.to_string(), &leader, "", &member, &page)
                }
            };
            lines.push(line);
        }
        lines.push(match self.stats() {
            Some(stats) => format!("  {stats}"),
            None => "  no failovers yet".to_owned(),
        });
        lines
    }

    /// `text` in the ANSI style `style`, when colors are on.
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Prints the statistics below the last table, which stays on screen.
    pub(super) fn finish(&mut self) {
        let summary = match self.stats() {
            Some(stats) => format!("stopped cleanly. {stats}"),
            None => "stopped cleanly.".to_owned(),
        };
        self.event(&summary);
        for event in self.events.drain(..) {
            println!("{event}");
        }
    }
}

/// One line of the table, columns aligned.
fn row(
    id: &str,
    role: &str,
    term: &str,
    leader: &str,
    lease: &str,
    member: &str,
    page: &str,
) -> String {
    format!("  {id:>4}  {role:<5}  {term:>5}  {leader:>6}  {lease:>8}  {member:<13}  {page}")
}

/// What a node is in the membership it holds, with that membership's id:
/// `DELETE /members/{id}` on the Goose shows here as the node turning
/// `removed` and the others moving to a newer membership.
struct Member {
    kind: &'static str,
    membership: MembershipId,
}

impl Member {
    /// `None` for a node that is down.
    fn of(slot: &Slot) -> Option<Member> {
        let membership = slot.running.as_ref()?.handle.membership();
        let kind = if membership.is_voter(slot.id) {
            "voter"
        } else if membership.is_joining(slot.id) {
            "joining"
        } else if membership.is_learner(slot.id) {
            "learner"
        } else {
            "removed"
        };
        Some(Member {
            kind,
            membership: membership.id(),
        })
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.membership)
    }
}

fn millis(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

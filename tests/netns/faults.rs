//! Network faults as `iptables` rules inside the nodes' namespaces, on the
//! cluster port only (tcp and udp, as source or destination port), never
//! the HTTP port the observer polls.
//!
//! Every drop happens on the receiver's `INPUT`: a packet lost on the wire
//! is one the receiver never sees, while the sender's send succeeds. A drop
//! in `OUTPUT` would instead fail the sender's `send` with `EPERM`, which no
//! real network does.

use crate::net::{CLUSTER_PORT, Network};

/// The protocols a rule covers: the transport may be either.
const PROTOCOLS: [&str; 2] = ["tcp", "udp"];

impl Network {
    /// Packets from `from` to `to` (cluster port only) are dropped: `to`
    /// stops hearing `from`; the other direction is untouched.
    pub fn drop_from(&self, from: u64, to: u64) {
        let source = self.ip(from).to_string();
        let port = CLUSTER_PORT.to_string();
        for protocol in PROTOCOLS {
            // `multiport --ports` matches the source or the destination
            // port: a connection's both directions, a datagram once.
            self.iptables(
                to,
                &[
                    "-A",
                    "INPUT",
                    "-s",
                    &source,
                    "-p",
                    protocol,
                    "-m",
                    "multiport",
                    "--ports",
                    &port,
                    "-j",
                    "DROP",
                ],
            );
        }
    }

    /// No cluster traffic between any node of `a` and any node of `b`, in
    /// either direction.
    pub fn cut(&self, a: &[u64], b: &[u64]) {
        for &x in a {
            for &y in b {
                self.drop_from(x, y);
                self.drop_from(y, x);
            }
        }
    }

    /// Every node drops each cluster packet it receives with probability
    /// `probability`: every link loses that share in each direction.
    /// [`packets_matched`](Self::packets_matched) then gives the packets
    /// received (tcp, udp) and dropped (tcp, udp), in that order.
    pub fn lose(&self, probability: f64) {
        let probability = format!("{probability:.4}");
        let port = CLUSTER_PORT.to_string();
        for node in self.node_ids() {
            // Rules without a target only count: every cluster packet
            // received, so that the share dropped can be reported.
            for protocol in PROTOCOLS {
                self.iptables(
                    node,
                    &[
                        "-A",
                        "INPUT",
                        "-p",
                        protocol,
                        "-m",
                        "multiport",
                        "--ports",
                        &port,
                    ],
                );
            }
            for protocol in PROTOCOLS {
                self.iptables(
                    node,
                    &[
                        "-A",
                        "INPUT",
                        "-p",
                        protocol,
                        "-m",
                        "multiport",
                        "--ports",
                        &port,
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &probability,
                        "-j",
                        "DROP",
                    ],
                );
            }
        }
    }

    /// Every node sends a second copy of each cluster packet with
    /// probability `probability`: the `TEE` target clones the packet and
    /// routes the clone to a gateway, here the destination itself, so the
    /// destination receives it twice. (The clone does not pass through
    /// `TEE` again.)
    pub fn duplicate(&self, probability: f64) {
        let probability = format!("{probability:.4}");
        let port = CLUSTER_PORT.to_string();
        for node in self.node_ids() {
            for peer in self.node_ids().filter(|&peer| peer != node) {
                let destination = self.ip(peer).to_string();
                for protocol in PROTOCOLS {
                    self.iptables(
                        node,
                        &[
                            "-t",
                            "mangle",
                            "-A",
                            "OUTPUT",
                            "-d",
                            &destination,
                            "-p",
                            protocol,
                            "-m",
                            "multiport",
                            "--ports",
                            &port,
                            "-m",
                            "statistic",
                            "--mode",
                            "random",
                            "--probability",
                            &probability,
                            "-j",
                            "TEE",
                            "--gateway",
                            &destination,
                        ],
                    );
                }
            }
        }
    }

    /// Packets each rule of `chain` in `table` matched so far, rule by
    /// rule, summed over every node: proof that a fault hit traffic, and
    /// how much.
    pub fn packets_matched(&self, table: &str, chain: &str) -> Vec<u64> {
        let mut per_rule: Vec<u64> = Vec::new();
        for node in self.node_ids() {
            let listing = self.iptables_output(node, &["-t", table, "-L", chain, "-v", "-x", "-n"]);
            // Two header lines, then one line per rule, packets first.
            let counts = listing
                .lines()
                .skip(2)
                .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok());
            for (rule, count) in counts.enumerate() {
                if per_rule.len() <= rule {
                    per_rule.push(0);
                }
                per_rule[rule] += count;
            }
        }
        per_rule
    }

    /// Removes every fault: the chains the faults use are flushed.
    pub fn heal(&self) {
        for node in self.node_ids() {
            self.iptables(node, &["-F", "INPUT"]);
            self.iptables(node, &["-t", "mangle", "-F", "OUTPUT"]);
        }
    }
}

//! A peer's address as the user gave it, and its resolution at dial time.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::lookup_host;
use tokio::time::timeout;

/// Where a peer listens: an address, or a `"HOST:PORT"` to resolve.
///
/// Names are resolved by the peer's writer task before every dial, never
/// when they are set, so setting them never blocks and a DNS change is
/// picked up at the next reconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerAddr {
    Socket(SocketAddr),
    Host(String),
}

impl PeerAddr {
    /// Reads an address as users write it: an IP address and port first,
    /// anything else as a name to resolve (checked only then, so a typo
    /// shows as a resolution failure, counted and retried).
    pub(crate) fn parse(text: &str) -> Self {
        let text = text.trim();
        match text.parse() {
            Ok(addr) => PeerAddr::Socket(addr),
            Err(_) => PeerAddr::Host(text.to_owned()),
        }
    }

    /// The addresses to dial, in the system resolver's order; waits at
    /// most `patience` for a name to resolve.
    pub(crate) async fn resolve(
        &self,
        patience: Duration,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        self.resolve_with(&Resolver::System, patience).await
    }

    /// The same, asking `resolver`.
    pub(crate) async fn resolve_with(
        &self,
        resolver: &Resolver,
        patience: Duration,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let host = match self {
            PeerAddr::Socket(addr) => return Ok(vec![*addr]),
            PeerAddr::Host(host) => host.as_str(),
        };
        let addrs: Vec<SocketAddr> = match resolver {
            Resolver::System => match timeout(patience, lookup_host(host)).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => return Err(ResolveError::Lookup(e)),
                Err(_) => return Err(ResolveError::Timeout),
            },
            Resolver::Custom(resolve) => resolve(host).map_err(ResolveError::Lookup)?,
        };
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress);
        }
        Ok(addrs)
    }
}

/// What a resolver stand-in does: `"HOST:PORT"` in, addresses out.
pub(crate) type ResolveFn = dyn Fn(&str) -> std::io::Result<Vec<SocketAddr>> + Send + Sync;

/// Who turns a peer's name into addresses: the system, or a stand-in that
/// tests install to make a name resolve only from some moment on.
#[derive(Clone, Default)]
pub(crate) enum Resolver {
    /// The system's resolver (`getaddrinfo`, through tokio).
    #[default]
    System,
    /// A function answering for every name.
    Custom(Arc<ResolveFn>),
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolver::System => f.write_str("System"),
            Resolver::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        PeerAddr::Socket(addr)
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Socket(addr) => addr.fmt(f),
            PeerAddr::Host(host) => f.write_str(host),
        }
    }
}

impl ResolveError {
    /// The same, as an I/O error (for errors that carry one).
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            ResolveError::Lookup(e) => e,
            ResolveError::NoAddress => std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolved to no address",
            ),
            ResolveError::Timeout => {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "resolution timed out")
            }
        }
    }
}

/// Why a peer's name gave no address to dial.
#[derive(Debug, Error)]
pub(crate) enum ResolveError {
    /// Not `HOST:PORT`, or the resolver knows no such host.
    #[error("{0}")]
    Lookup(#[source] std::io::Error),
    #[error("the name resolved to no address")]
    NoAddress,
    #[error("resolution timed out")]
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_anything_else_is_a_name() {
        let v4: SocketAddr = "10.0.0.7:7000".parse().expect("valid");
        let v6: SocketAddr = "[::1]:7000".parse().expect("valid");
        assert_eq!(PeerAddr::parse("10.0.0.7:7000"), PeerAddr::Socket(v4));
        assert_eq!(PeerAddr::parse(" [::1]:7000\n"), PeerAddr::Socket(v6));
        assert_eq!(
            PeerAddr::parse("db-3.internal:7000"),
            PeerAddr::Host("db-3.internal:7000".to_owned())
        );
        assert_eq!(
            PeerAddr::parse("no port"),
            PeerAddr::Host("no port".to_owned())
        );
        assert_eq!(
            PeerAddr::parse("10.0.0.7:7000").to_string(),
            "10.0.0.7:7000"
        );
    }

    #[tokio::test]
    async fn names_without_a_port_or_host_fail_to_resolve() {
        let patience = Duration::from_secs(5);
        for bad in ["no-port", "", ":"] {
            assert!(
                PeerAddr::parse(bad).resolve(patience).await.is_err(),
                "{bad:?} resolved"
            );
        }
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("valid");
        assert_eq!(
            PeerAddr::from(addr)
                .resolve(patience)
                .await
                .expect("no lookup"),
            vec![addr]
        );
    }

    #[tokio::test]
    async fn a_stand_in_resolver_answers_for_names_and_its_errors_are_lookups() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("valid");
        let resolver = Resolver::Custom(Arc::new(move |host: &str| {
            if host == "late.test:7000" {
                Ok(vec![addr])
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such host: {host}"),
                ))
            }
        }));
        let patience = Duration::from_secs(5);
        let found = PeerAddr::parse("late.test:7000")
            .resolve_with(&resolver, patience)
            .await;
        assert_eq!(found.expect("resolved"), vec![addr]);
        let missing = PeerAddr::parse("other.test:7000")
            .resolve_with(&resolver, patience)
            .await;
        assert_eq!(
            missing.expect_err("unknown").to_string(),
            "no such host: other.test:7000"
        );
    }
}

//! The one road from a request to a mail server, for `/ws`, `/api/check`
//! and every connection a hosted audit opens: parse, resolve, check the
//! policy and the owners' opt-out list ([`App::destination`]), then, **for
//! each TCP connection**, check the opt-out list again, charge
//! the destination's rate and hold a place under its concurrency cap while
//! connecting to a checked address, never resolving again ([`App::connect`]).
//!
//! Errors carry their [`ErrorCode`] ([`DestinationError::code`]); their
//! sentences never name an address a name resolved to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use relay_core::wire::sentence;
use relay_core::ErrorCode;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::resolve::ResolveError;
use crate::serve::app::App;
use crate::serve::limits::DestinationPermit;
use crate::serve::policy::PolicyError;
use crate::store::optout::{self, OptOut};

/// Addresses of one name tried for one connection, within one connect
/// deadline: a name with hundreds of A records costs no more than four.
pub const MAX_ADDRESSES_TRIED: usize = 4;

/// A destination that passed the policy.
#[derive(Clone, Debug)]
pub struct Destination {
    /// Every address the name resolved to, in the resolver's order.
    pub resolved: Vec<IpAddr>,
}

/// An open connection to a checked address, with its place under the
/// destination's limits: drop it and the place is given back.
pub struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub connect_ms: f64,
    pub permit: DestinationPermit,
}

/// Why the bridge does not connect.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("give the mail server as a host name or address and a port, such as host=mx.example.org and port=25")]
    BadRequest,
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The owner asked not to be tested (the entry is for the log only).
    #[error("the owner of this server has asked not to be tested from this service")]
    OptedOut(OptOut),
    /// A limit refused the connection: its code says which.
    #[error("{}", .0.default_message())]
    Limited(ErrorCode),
    #[error("could not connect to {host} port {port}: {detail}")]
    ConnectFailed { host: String, port: u16, detail: String },
}

impl DestinationError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DestinationError::BadRequest => ErrorCode::BadRequest,
            DestinationError::Policy(e) => e.code(),
            DestinationError::Resolve(e) => e.error_code(),
            DestinationError::OptedOut(_) => ErrorCode::OptedOut,
            DestinationError::Limited(code) => *code,
            DestinationError::ConnectFailed { .. } => ErrorCode::ConnectFailed,
        }
    }

    /// The sentence the page or the API caller reads.
    pub fn sentence(&self) -> String {
        sentence(&self.to_string())
    }

    /// The sentence for the operator's log (it may name addresses).
    pub fn log_detail(&self) -> String {
        match self {
            DestinationError::Policy(e) => e.log_detail(),
            DestinationError::OptedOut(entry) => format!("{self} (opt-out entry {entry})"),
            other => other.to_string(),
        }
    }
}

/// Reads `host` and `port` as a request gives them: a host (brackets
/// around an IPv6 address allowed) and a port that defaults to 25.
pub fn parse(host: Option<&str>, port: Option<&str>) -> Result<(String, u16), DestinationError> {
    let host = host.unwrap_or_default().trim().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = match port.map(str::trim) {
        None => Some(25),
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0),
    };
    match port {
        Some(port) if !host.is_empty() => Ok((host, port)),
        _ => Err(DestinationError::BadRequest),
    }
}

impl App {
    /// Resolves `host` and checks the port and every address against the
    /// policy. Nothing is connected or charged yet.
    pub async fn destination(&self, host: &str, port: u16) -> Result<Destination, DestinationError> {
        if let Err(e) = self.policy.check_port(port) {
            if !self.policy.is_allow_target(host, port) {
                return Err(e.into());
            }
        }
        let resolved = self.resolver.lookup_ip(host).await?;
        let checked = self.policy.check(host, port, &resolved)?;
        self.check_optout(host, &checked).await?;
        Ok(Destination { resolved: checked })
    }

    /// Refuses `host` at `addresses` when its owner opted out: a domain it
    /// is in, or a block one of its addresses is in, is on the store's list
    /// or in `--optout-file`. The list is read at every call, so an entry
    /// added through any bridge of a fleet holds at once.
    pub async fn check_optout(&self, host: &str, addresses: &[IpAddr]) -> Result<(), DestinationError> {
        match optout::find(&self.optout_list().await, host, addresses) {
            Some(entry) => Err(DestinationError::OptedOut(entry.clone())),
            None => Ok(()),
        }
    }

    /// The opt-out list: the store's, and `--optout-file`'s. A part that
    /// cannot be read is logged and the rest still holds.
    pub async fn optout_list(&self) -> Vec<OptOut> {
        let mut list = self.limits.store.optout_list().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the store's opt-out list cannot be read");
            Vec::new()
        });
        if let Some(path) = &self.optout_file {
            match optout::read_file(path) {
                Ok(entries) => list.extend(entries),
                Err(e) => tracing::warn!(error = %e, "the opt-out file cannot be read"),
            }
        }
        list
    }

    /// Opens one TCP connection to one of `addresses` (which passed
    /// [`App::destination`]), trying at most [`MAX_ADDRESSES_TRIED`] of them
    /// in order within one connect deadline. Each attempt is charged to its
    /// address's rate and holds a place under its concurrency cap; a refusal
    /// by a limit is returned as such when no address could be tried.
    pub async fn connect(&self, host: &str, port: u16, addresses: &[IpAddr]) -> Result<Connection, DestinationError> {
        let started = Instant::now();
        let deadline = started + self.connect_timeout;
        let tried = &addresses[..addresses.len().min(MAX_ADDRESSES_TRIED)];
        let mut failures: Vec<String> = Vec::new();
        let mut limited: Option<ErrorCode> = None;
        self.check_optout(host, addresses).await?;
        for (i, &ip) in tried.iter().enumerate() {
            let permit = match self.limits.admit_destination(ip).await {
                Ok(p) => p,
                Err(code) => {
                    limited.get_or_insert(code);
                    continue;
                }
            };
            // What is left of the deadline, shared by the addresses left.
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / (tried.len() - i) as u32;
            if share < Duration::from_millis(10) {
                failures.push(format!("{ip}: no time left to try"));
                continue;
            }
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(share, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Connection {
                        stream,
                        peer: addr,
                        connect_ms: started.elapsed().as_secs_f64() * 1000.0,
                        permit,
                    });
                }
                Ok(Err(e)) => failures.push(format!("{ip}: {}", crate::audit::connect_error(&e))),
                Err(_) => failures.push(format!("{ip}: no answer within {} ms", share.as_millis())),
            }
        }
        if let (Some(code), true) = (limited, failures.is_empty()) {
            return Err(DestinationError::Limited(code));
        }
        let mut detail = if failures.is_empty() { "no address to try".to_string() } else { failures.join("; ") };
        if addresses.len() > tried.len() {
            detail.push_str(&format!(
                "; {} more addresses not tried (the bridge tries at most {MAX_ADDRESSES_TRIED} per connection)",
                addresses.len() - tried.len()
            ));
        }
        Err(DestinationError::ConnectFailed { host: host.to_string(), port, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_a_host_and_a_port() {
        assert_eq!(parse(Some(" mx.example "), None).unwrap(), ("mx.example".to_string(), 25));
        assert_eq!(parse(Some("[2001:db8::1]"), Some("587")).unwrap(), ("2001:db8::1".to_string(), 587));
        for (host, port) in [(None, None), (Some(""), Some("25")), (Some("mx"), Some("x")), (Some("mx"), Some("0"))] {
            let e = parse(host, port).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadRequest);
            assert!(e.sentence().ends_with('.'), "{}", e.sentence());
        }
    }
}

//! Name resolution for the bridge: the addresses of a host, and the mail
//! servers (MX) of a domain with their addresses.
//!
//! It only asks DNS; it never connects to the addresses it finds, and it does
//! not judge them either: whether an address may be contacted is the bridge
//! policy's decision (docs/architecture.md, "The bridge's policy"), made on every address this
//! module returns.
//!
//! Names are checked before anything is sent: only ASCII letters, digits,
//! hyphens and dots, labels of 1 to 63 characters that neither start nor end
//! with a hyphen, at most 253 characters in all (one trailing dot allowed).
//! Every name is asked as a fully qualified name, so the system's search
//! domains never apply. Internationalized names must come as A-labels
//! (`xn--…`).
//!
//! Every lookup is bounded by the timeout given to [`Resolver::new`], from the
//! call to the answer, whatever the number of queries it takes.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use tokio::time::Instant;

/// The longest name accepted, without its trailing dot (RFC 1035 §2.3.4 in
/// presentation form).
const MAX_NAME_LEN: usize = 253;
/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// How many MX hosts of one domain get their addresses looked up, in order of
/// preference; the others are listed with an error saying so. Bounds the work
/// one request can cause.
pub const MAX_MX_HOSTS: usize = 10;
/// How much of a rejected name an error repeats.
const MAX_NAME_IN_ERROR: usize = 80;

/// A DNS resolver: the system's, or one given name server.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    nameserver: Option<SocketAddr>,
    timeout: Duration,
}

/// One mail server of a domain, as [`Resolver::lookup_mx`] reports it.
pub use relay_core::domain::MxHost;

/// Why a lookup gave no answer. Each message is one sentence a mail
/// administrator can act on; [`ResolveError::code`] is the stable form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The DNS says the name does not exist (NXDOMAIN).
    #[error("the name {name} does not exist in DNS")]
    NotFound { name: String },
    /// The name exists but has no address of the kind asked for (no A or AAAA
    /// records; for a mail domain, no MX records either).
    #[error("the name {name} exists in DNS but has no IP address (no A or AAAA record)")]
    NoRecords { name: String },
    /// The domain publishes a null MX (RFC 7505): it accepts no mail.
    #[error("the domain {domain} accepts no mail: it publishes a null MX record (RFC 7505)")]
    NullMx { domain: String },
    /// No answer came within the timeout.
    #[error("the DNS servers did not answer in time when asked about {name}")]
    Timeout { name: String },
    /// The DNS servers answered with an error, or could not be reached.
    #[error("looking up {name} in DNS failed: {detail}")]
    Failed { name: String, detail: String },
    /// The text is not a host or domain name; nothing was asked.
    #[error("{name:?} is not a valid host or domain name")]
    BadName { name: String },
}

impl ResolveError {
    /// A finer stable code than [`ResolveError::error_code`], for tests.
    #[cfg(test)]
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::NotFound { .. } => "unknown_host",
            ResolveError::NoRecords { .. } => "no_address",
            ResolveError::NullMx { .. } => "null_mx",
            ResolveError::Timeout { .. } => "dns_timeout",
            ResolveError::Failed { .. } => "dns_failed",
            ResolveError::BadName { .. } => "bad_name",
        }
    }

    /// The code the page and API clients see for this failure.
    pub fn error_code(&self) -> relay_core::ErrorCode {
        use relay_core::ErrorCode;
        match self {
            ResolveError::NoRecords { .. } | ResolveError::NullMx { .. } => ErrorCode::NoAddress,
            ResolveError::BadName { .. } => ErrorCode::BadRequest,
            ResolveError::NotFound { .. } | ResolveError::Timeout { .. } | ResolveError::Failed { .. } => {
                ErrorCode::UnknownHost
            }
        }
    }

    fn bad_name(input: &str) -> ResolveError {
        let name = if input.chars().count() > MAX_NAME_IN_ERROR {
            format!("{}…", input.chars().take(MAX_NAME_IN_ERROR).collect::<String>())
        } else {
            input.to_string()
        };
        ResolveError::BadName { name }
    }

    /// How bad an error is for a name when two queries (A and AAAA) disagree:
    /// the more telling one wins.
    fn rank(&self) -> u8 {
        match self {
            ResolveError::NotFound { .. } => 0,
            ResolveError::Timeout { .. } => 1,
            ResolveError::Failed { .. } => 2,
            _ => 3,
        }
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").field("nameserver", &self.nameserver).field("timeout", &self.timeout).finish()
    }
}

impl Resolver {
    /// `nameserver`: `None` uses the system's configuration (`/etc/resolv.conf`
    /// and `/etc/hosts`); `Some(addr)` asks only that server, over UDP and TCP
    /// at its port, and reads no system file — as tests and self-hosters behind
    /// a filtering resolver need. `timeout` bounds each lookup as a whole.
    pub fn new(nameserver: Option<SocketAddr>, timeout: Duration) -> Result<Resolver, ResolveError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match nameserver {
            None => TokioResolver::builder(provider).map_err(|e| ResolveError::Failed {
                name: "any name".to_string(),
                detail: format!("the system's DNS configuration could not be read ({e})"),
            })?,
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                let mut builder =
                    TokioResolver::builder_with_config(ResolverConfig::from_name_servers(vec![server]), provider);
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
        };
        let options = builder.options_mut();
        // One query's own limit; the lookup as a whole is bounded by `timeout` too.
        options.timeout = timeout;
        options.attempts = 1;
        let inner = builder.build().map_err(|e| ResolveError::Failed {
            name: "any name".to_string(),
            detail: format!("the resolver could not be set up ({e})"),
        })?;
        Ok(Resolver { inner, nameserver, timeout })
    }

    /// The addresses of `host`, IPv4 then IPv6. An IP literal (`192.0.2.1`,
    /// `2001:db8::1`, or bracketed as in mail: `[192.0.2.1]`, `[2001:db8::1]`,
    /// `[IPv6:2001:db8::1]`) is returned as it is, without a query.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![ip]);
        }
        let name = check_name(host)?;
        let deadline = Instant::now() + self.timeout;
        addresses(&self.inner, &name, deadline).await
    }

    /// The mail servers of `domain`, by preference then name, each with its
    /// addresses (A and AAAA) or the reason it has none.
    ///
    /// - No MX records: the domain's own addresses stand in as an implicit MX
    ///   of preference 0 (RFC 5321 §5.1); with no addresses either, the error
    ///   is [`ResolveError::NoRecords`].
    /// - A null MX (`MX 0 .`, RFC 7505) alone: [`ResolveError::NullMx`]. Null
    ///   entries beside real ones (which RFC 7505 forbids) are left out.
    /// - Only the first [`MAX_MX_HOSTS`] hosts get their addresses looked up.
    /// - An IP literal is its own implicit MX, without a query.
    pub async fn lookup_mx(&self, domain: &str) -> Result<Vec<MxHost>, ResolveError> {
        if let Some(ip) = ip_literal(domain) {
            return Ok(vec![MxHost {
                preference: 0,
                exchange: ip.to_string(),
                addresses: vec![ip],
                implicit: true,
                error: None,
            }]);
        }
        let name = check_name(domain)?;
        let deadline = Instant::now() + self.timeout;
        let lookup = match within(deadline, &name, self.inner.lookup(fqdn(&name)?, RecordType::MX)).await {
            Ok(lookup) => lookup,
            Err(Found::NoData) => return implicit_mx(&self.inner, &name, deadline).await,
            Err(Found::Error(e)) => return Err(e),
        };
        let records: Vec<(u16, Name)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return implicit_mx(&self.inner, &name, deadline).await;
        }
        let mut hosts: Vec<(u16, String)> = records
            .iter()
            .filter(|(_, exchange)| !exchange.is_root())
            .map(|(preference, exchange)| (*preference, exchange_text(exchange)))
            .collect();
        if hosts.is_empty() {
            return Err(ResolveError::NullMx { domain: name });
        }
        hosts.sort();
        hosts.dedup();

        let mut tasks = tokio::task::JoinSet::new();
        for (index, (_, exchange)) in hosts.iter().enumerate().take(MAX_MX_HOSTS) {
            let (inner, exchange) = (self.inner.clone(), exchange.clone());
            tasks.spawn(async move {
                let result = match check_name(&exchange) {
                    Ok(name) => addresses(&inner, &name, deadline).await,
                    Err(e) => Err(e),
                };
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<Vec<IpAddr>, ResolveError>>> = vec![None; hosts.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {} // cancelled: the runtime is shutting down
            }
        }
        Ok(hosts
            .into_iter()
            .zip(results)
            .enumerate()
            .map(|(index, ((preference, exchange), result))| {
                let (addresses, error) = match result {
                    Some(Ok(addresses)) => (addresses, None),
                    Some(Err(e)) => (Vec::new(), Some(e.to_string())),
                    None if index < MAX_MX_HOSTS => (Vec::new(), Some("the lookup was cancelled".to_string())),
                    None => (
                        Vec::new(),
                        Some(format!("not looked up: only the first {MAX_MX_HOSTS} mail servers of a domain are")),
                    ),
                };
                MxHost { preference, exchange, addresses, implicit: false, error }
            })
            .collect())
    }
}

/// The domain's own addresses as its implicit MX.
async fn implicit_mx(inner: &TokioResolver, name: &str, deadline: Instant) -> Result<Vec<MxHost>, ResolveError> {
    let addresses = addresses(inner, name, deadline).await?;
    Ok(vec![MxHost { preference: 0, exchange: name.to_ascii_lowercase(), addresses, implicit: true, error: None }])
}

/// A and AAAA of an already checked name, asked together.
async fn addresses(inner: &TokioResolver, name: &str, deadline: Instant) -> Result<Vec<IpAddr>, ResolveError> {
    let query = fqdn(name)?;
    let (v4, v6) = tokio::join!(
        within(deadline, name, inner.lookup(query.clone(), RecordType::A)),
        within(deadline, name, inner.lookup(query, RecordType::AAAA)),
    );
    let mut found = Vec::new();
    let mut worst: Option<ResolveError> = None;
    for result in [v4, v6] {
        match result {
            Ok(lookup) => found.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })),
            Err(Found::NoData) => {}
            Err(Found::Error(e)) => {
                if worst.as_ref().is_none_or(|w| e.rank() < w.rank()) {
                    worst = Some(e);
                }
            }
        }
    }
    if !found.is_empty() {
        // One family answered; the other's failure does not hide these.
        return Ok(found);
    }
    Err(worst.unwrap_or_else(|| ResolveError::NoRecords { name: name.to_string() }))
}

/// What a single query came to, short of records.
enum Found {
    /// The name exists but has no records of that type.
    NoData,
    Error(ResolveError),
}

/// Runs one query against the lookup's deadline and sorts its failure.
async fn within<T>(
    deadline: Instant,
    name: &str,
    query: impl std::future::Future<Output = Result<T, NetError>>,
) -> Result<T, Found> {
    match tokio::time::timeout_at(deadline, query).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(classify(name, e)),
        Err(_) => Err(Found::Error(ResolveError::Timeout { name: name.to_string() })),
    }
}

fn classify(name: &str, error: NetError) -> Found {
    let name = name.to_string();
    let failed = |detail: String| Found::Error(ResolveError::Failed { name: name.clone(), detail });
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code: ResponseCode::NXDomain, .. })) => {
            Found::Error(ResolveError::NotFound { name })
        }
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code: ResponseCode::NoError, .. })) => {
            Found::NoData
        }
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. }))
        | NetError::Dns(DnsError::ResponseCode(response_code)) => failed(response_code_detail(response_code)),
        NetError::Timeout => Found::Error(ResolveError::Timeout { name }),
        NetError::Io(e) => failed(format!("the DNS server could not be reached ({e})")),
        NetError::NoConnections => failed("no DNS server could be reached".to_string()),
        other => failed(format!("the answer could not be used ({other})")),
    }
}

fn response_code_detail(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "the DNS server reported a failure (SERVFAIL)".to_string(),
        ResponseCode::Refused => "the DNS server refused to answer (REFUSED)".to_string(),
        ResponseCode::FormErr => "the DNS server could not read the question (FORMERR)".to_string(),
        ResponseCode::NotImp => "the DNS server does not support the question (NOTIMP)".to_string(),
        other => format!("the DNS server answered with an error ({other})"),
    }
}

/// An IP address, bare or in brackets as mail writes them.
fn ip_literal(text: &str) -> Option<IpAddr> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return match inner.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => inner[5..].parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            _ => inner.parse().ok(),
        };
    }
    text.parse().ok()
}

/// Checks host or domain name syntax; returns it without a trailing dot.
fn check_name(input: &str) -> Result<String, ResolveError> {
    let name = input.strip_suffix('.').unwrap_or(input);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.split('.').all(label_ok) {
        return Err(ResolveError::bad_name(input));
    }
    Ok(name.to_string())
}

/// The fully qualified form of a checked name.
fn fqdn(name: &str) -> Result<Name, ResolveError> {
    let mut query = Name::from_ascii(name).map_err(|_| ResolveError::bad_name(name))?;
    query.set_fqdn(true);
    Ok(query)
}

fn exchange_text(exchange: &Name) -> String {
    let text = exchange.to_lowercase().to_ascii();
    text.strip_suffix('.').map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaycheck_tests::dns::{example_zone, DnsServer};
    use std::net::{Ipv4Addr, UdpSocket};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn resolver(server: &DnsServer) -> Resolver {
        Resolver::new(Some(server.addr), TIMEOUT).expect("resolver")
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("an IP address")).collect()
    }

    #[tokio::test]
    async fn lookup_ip_returns_ipv4_then_ipv6() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        assert_eq!(resolver.lookup_ip("both.test").await, Ok(ips(&["192.0.2.20", "2001:db8::20"])));
        assert_eq!(resolver.lookup_ip("mx1.relay.test.").await, Ok(ips(&["192.0.2.10"])));
        assert_eq!(resolver.lookup_ip("MX2.Relay.Test").await, Ok(ips(&["2001:db8::25"])));
        let mut asked = server.queries();
        asked.sort();
        assert_eq!(
            asked,
            [
                "both.test. A",
                "both.test. AAAA",
                "mx1.relay.test. A",
                "mx1.relay.test. AAAA",
                "mx2.relay.test. A",
                "mx2.relay.test. AAAA",
            ],
            "each name is asked once per family, fully qualified, of the given server only"
        );
    }

    #[tokio::test]
    async fn lookup_ip_does_not_judge_addresses() {
        // Loopback and private answers come back as they are: the bridge policy
        // decides what may be contacted, on every address.
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        assert_eq!(resolver.lookup_ip("loop.test").await, Ok(ips(&["127.0.0.1"])));
        assert_eq!(resolver.lookup_ip("private.test").await, Ok(ips(&["10.0.0.5"])));
    }

    #[tokio::test]
    async fn ip_literals_are_returned_without_a_query() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        for (literal, ip) in [
            ("192.0.2.1", "192.0.2.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[192.0.2.1]", "192.0.2.1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[IPv6:2001:db8::1]", "2001:db8::1"),
            ("[ipv6:2001:db8::1]", "2001:db8::1"),
        ] {
            assert_eq!(resolver.lookup_ip(literal).await, Ok(ips(&[ip])), "{literal}");
        }
        let mx = resolver.lookup_mx("[192.0.2.1]").await.expect("an address literal is its own MX");
        assert_eq!(
            mx,
            [MxHost {
                preference: 0,
                exchange: "192.0.2.1".into(),
                addresses: ips(&["192.0.2.1"]),
                implicit: true,
                error: None
            }]
        );
        assert_eq!(server.queries(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn unknown_names_are_not_found() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        let e = resolver.lookup_ip("nowhere.test").await.expect_err("NXDOMAIN");
        assert_eq!(e, ResolveError::NotFound { name: "nowhere.test".into() });
        assert_eq!(e.code(), "unknown_host");
        assert_eq!(e.to_string(), "the name nowhere.test does not exist in DNS");
        let e = resolver.lookup_mx("nowhere.test").await.expect_err("NXDOMAIN");
        assert_eq!(e, ResolveError::NotFound { name: "nowhere.test".into() });
    }

    #[tokio::test]
    async fn a_name_without_addresses_has_no_records() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        // a.test exists (it has MX records) but no A or AAAA.
        let e = resolver.lookup_ip("a.test").await.expect_err("no A or AAAA");
        assert_eq!(e, ResolveError::NoRecords { name: "a.test".into() });
        assert_eq!(e.code(), "no_address");
        // nullmx.test has neither addresses nor a usable MX.
        assert_eq!(resolver.lookup_ip("nullmx.test").await.map_err(|e| e.code()), Err("no_address"));
    }

    #[tokio::test]
    async fn bad_names_are_refused_without_a_query() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        let long_label = format!("{}.test", "a".repeat(64));
        let long_name = format!("{}test", "abcdefghi.".repeat(25)); // 254 characters
        for bad in [
            "",
            ".",
            " ",
            "exa mple.test",
            "a..test",
            ".a.test",
            "a.test..",
            "-lead.test",
            "trail-.test",
            "under_score.test",
            "münchen.test",
            "a.test/path",
            "user@a.test",
            "a.test\r\nRCPT TO:<x@y>",
            "[not-an-ip]",
            "[IPv6:192.0.2.1]",
            "192.0.2.1:25",
            " 192.0.2.1",
            "a.test ",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            let e = resolver.lookup_ip(bad).await.expect_err(bad);
            assert_eq!(e.code(), "bad_name", "{bad:?}: {e}");
            assert!(matches!(e, ResolveError::BadName { .. }), "{bad:?}");
            assert_eq!(resolver.lookup_mx(bad).await.map_err(|e| e.code()), Err("bad_name"), "{bad:?}");
        }
        assert_eq!(server.queries(), Vec::<String>::new(), "nothing may be asked about a bad name");

        // 253 characters with 63-character labels are fine.
        let longest = format!("{0}.{0}.{0}.{1}.test", "b".repeat(63), "c".repeat(56));
        assert_eq!(longest.len(), 253);
        assert_eq!(resolver.lookup_ip(&longest).await.map_err(|e| e.code()), Err("unknown_host"));

        let e = resolver.lookup_ip(&"x".repeat(10_000)).await.expect_err("too long");
        assert!(e.to_string().len() < 200, "the message repeats only the start of a long name: {e}");
        assert_eq!(
            ResolveError::bad_name("exa mple.test").to_string(),
            "\"exa mple.test\" is not a valid host or domain name"
        );
    }

    #[tokio::test]
    async fn lookup_mx_sorts_by_preference_and_resolves_each_exchange() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        let hosts = resolver.lookup_mx("a.test").await.expect("MX of a.test");
        assert_eq!(
            hosts,
            [
                MxHost {
                    preference: 10,
                    exchange: "mx1.relay.test".into(),
                    addresses: ips(&["192.0.2.10"]),
                    implicit: false,
                    error: None
                },
                MxHost {
                    preference: 20,
                    exchange: "mx2.relay.test".into(),
                    addresses: ips(&["2001:db8::25"]),
                    implicit: false,
                    error: None
                },
            ]
        );
        let json = serde_json::to_value(&hosts[0]).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({
                "preference": 10, "exchange": "mx1.relay.test", "addresses": ["192.0.2.10"],
                "implicit": false, "error": null
            })
        );
    }

    #[tokio::test]
    async fn lookup_mx_orders_equal_preferences_by_name_and_reports_broken_exchanges() {
        let mut zone = example_zone();
        zone.extend([
            relaycheck_tests::dns::DnsRecord::mx("many.test", 5, "zz.relay.test"),
            relaycheck_tests::dns::DnsRecord::mx("many.test", 5, "mx2.relay.test"),
            relaycheck_tests::dns::DnsRecord::mx("many.test", 1, "gone.test"),
            relaycheck_tests::dns::DnsRecord::mx("many.test", 30, "mx1.relay.test"),
        ]);
        let server = DnsServer::start(zone);
        let resolver = resolver(&server);
        let hosts = resolver.lookup_mx("many.test").await.expect("MX of many.test");
        let order: Vec<(u16, &str)> = hosts.iter().map(|h| (h.preference, h.exchange.as_str())).collect();
        assert_eq!(order, [(1, "gone.test"), (5, "mx2.relay.test"), (5, "zz.relay.test"), (30, "mx1.relay.test")]);
        assert!(hosts[0].addresses.is_empty());
        assert_eq!(hosts[0].error.as_deref(), Some("the name gone.test does not exist in DNS"));
        assert_eq!(hosts[1].addresses, ips(&["2001:db8::25"]));
        assert_eq!(hosts[2].error.as_deref(), Some("the name zz.relay.test does not exist in DNS"));
        assert_eq!(hosts[3].addresses, ips(&["192.0.2.10"]));
        assert!(hosts.iter().all(|h| !h.implicit));
    }

    #[tokio::test]
    async fn a_domain_without_mx_is_its_own_implicit_mx() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        assert_eq!(
            resolver.lookup_mx("nomx.test").await,
            Ok(vec![MxHost {
                preference: 0,
                exchange: "nomx.test".into(),
                addresses: ips(&["198.51.100.7"]),
                implicit: true,
                error: None
            }])
        );
        // An IPv6-only name is an implicit MX too.
        let hosts = resolver.lookup_mx("mx2.relay.test").await.expect("implicit MX");
        assert_eq!(hosts.len(), 1);
        assert!(hosts[0].implicit);
        assert_eq!(hosts[0].addresses, ips(&["2001:db8::25"]));
        // Neither MX nor address (relay.test exists only as the parent of
        // mx1.relay.test): nothing to deliver to.
        let e = resolver.lookup_mx("relay.test").await.expect_err("no MX, no address");
        assert_eq!(e, ResolveError::NoRecords { name: "relay.test".into() });
    }

    #[tokio::test]
    async fn a_null_mx_means_no_mail() {
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        let e = resolver.lookup_mx("nullmx.test").await.expect_err("null MX");
        assert_eq!(e, ResolveError::NullMx { domain: "nullmx.test".into() });
        assert_eq!(e.code(), "null_mx");
        assert_eq!(e.to_string(), "the domain nullmx.test accepts no mail: it publishes a null MX record (RFC 7505)");
        assert!(!server.queries().iter().any(|q| q.starts_with(". ")), "the null MX's \".\" is never looked up");
    }

    #[tokio::test]
    async fn only_the_first_mx_hosts_are_resolved() {
        let names: Vec<String> = (0..MAX_MX_HOSTS + 2).map(|i| format!("mx{i:02}.big.test")).collect();
        let mut zone: Vec<_> = names.iter().map(|n| relaycheck_tests::dns::DnsRecord::mx("big.test", 10, n)).collect();
        zone.extend(names.iter().map(|n| relaycheck_tests::dns::DnsRecord::a(n, "192.0.2.99")));
        let server = DnsServer::start(zone);
        let resolver = resolver(&server);
        let hosts = resolver.lookup_mx("big.test").await.expect("MX of big.test");
        assert_eq!(hosts.len(), MAX_MX_HOSTS + 2);
        assert!(hosts[..MAX_MX_HOSTS].iter().all(|h| h.addresses == ips(&["192.0.2.99"])));
        assert!(hosts[MAX_MX_HOSTS..].iter().all(|h| h.addresses.is_empty() && h.error.is_some()));
        assert!(!server.queries().iter().any(|q| q.starts_with(&names[MAX_MX_HOSTS])));
    }

    #[tokio::test]
    async fn a_silent_nameserver_times_out_within_the_timeout() {
        // Receives queries and never answers; TCP on its port is refused.
        let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let timeout = Duration::from_secs(1);
        let resolver = Resolver::new(Some(silent.local_addr().expect("addr")), timeout).expect("resolver");

        let started = std::time::Instant::now();
        let e = resolver.lookup_ip("slow.test").await.expect_err("no answer");
        let took = started.elapsed();
        assert_eq!(e, ResolveError::Timeout { name: "slow.test".into() });
        assert_eq!(e.code(), "dns_timeout");
        assert_eq!(e.to_string(), "the DNS servers did not answer in time when asked about slow.test");
        // Not given up early, and not retried past the timeout (a retry would take twice as long).
        assert!(took >= timeout * 9 / 10 && took < timeout + Duration::from_millis(500), "took {took:?}");

        let started = std::time::Instant::now();
        let e = resolver.lookup_mx("slow.test").await.expect_err("no answer");
        assert_eq!(e.code(), "dns_timeout");
        assert!(started.elapsed() < timeout + Duration::from_millis(500), "took {:?}", started.elapsed());

        // The queries did go to that server, and only there.
        silent.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 512];
        assert!(silent.recv_from(&mut buf).is_ok(), "the resolver asked the configured server");
    }

    #[test]
    fn the_system_configuration_is_read_only_when_no_server_is_given() {
        // Builds from /etc/resolv.conf; nothing is asked. Where that file is
        // missing the error says so instead of panicking.
        match Resolver::new(None, TIMEOUT) {
            Ok(resolver) => assert_eq!(resolver.nameserver, None),
            Err(e) => assert_eq!(e.code(), "dns_failed", "{e}"),
        }
    }

    #[test]
    fn codes_are_stable() {
        let name = || "n.test".to_string();
        let all = [
            (ResolveError::NotFound { name: name() }, "unknown_host"),
            (ResolveError::NoRecords { name: name() }, "no_address"),
            (ResolveError::NullMx { domain: name() }, "null_mx"),
            (ResolveError::Timeout { name: name() }, "dns_timeout"),
            (
                ResolveError::Failed { name: name(), detail: "the DNS server refused to answer (REFUSED)".into() },
                "dns_failed",
            ),
            (ResolveError::BadName { name: name() }, "bad_name"),
        ];
        for (error, code) in all {
            assert_eq!(error.code(), code);
            let text = error.to_string();
            assert!(text.contains("n.test") && !text.ends_with('.') && !text.contains('\n'), "{text}");
        }
    }

    #[tokio::test]
    async fn names_outside_the_served_zones_fail_with_the_servers_answer() {
        // The fixture is authoritative for test. only, and refuses other names.
        let server = DnsServer::start(example_zone());
        let resolver = resolver(&server);
        let e = resolver.lookup_ip("mail.example").await.expect_err("refused");
        assert_eq!(e.code(), "dns_failed", "{e}");
        assert!(e.to_string().starts_with("looking up mail.example in DNS failed: "), "{e}");
    }
}

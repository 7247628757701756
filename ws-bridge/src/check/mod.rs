//! `ws-bridge check`: resolve (a domain's MX hosts, or one host), audit
//! every address over TCP, print.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use relay_core::domain::{self, Item, MailServers, Planned};
use relay_core::tls::TlsMode;
use relay_core::{Config, DomainReport, Event, Target, Verdict};

use crate::audit;
use crate::domain::run_all;
use crate::exit::ExitCode;
use crate::resolve::{ResolveError, Resolver};
use render::Style;

pub mod render;

#[derive(Args, Debug)]
#[command(after_help = "What is audited: a domain with MX records is audited as a whole: every MX host (in \
order of preference, at most 10) at every address it resolves to, A and AAAA (at most 4 each), all at \
once. Its verdict is the worst of them (open > inconclusive > blocked > closed), and its reason names \
the host and address that decided it. A host name without MX records (its implicit MX, RFC 5321 5.1), \
an address, or any name with --host is audited alone, at every address. A null MX (RFC 7505) is said \
in words and audited nothing.

TLS: with --tls auto (the default) the relay test runs in plain text, as the manual test does, \
and moves into TLS with STARTTLS when the server demands it (530 Must issue a STARTTLS command \
first), so a relay that only opens inside TLS is still found; when the server offers STARTTLS, \
its TLS facts (protocol, cipher, certificate chain, names, dates, whether Mozilla's roots trust \
it) are read on a connection of their own. --tls always runs every probe inside TLS when offered; \
--tls never never starts TLS (a server that demands it is then blocked). Port 465 speaks TLS \
from the first byte (RFC 8314): --implicit-tls is on by default there and off elsewhere; \
--implicit-tls / --no-implicit-tls say otherwise. Certificates are checked against Mozilla's \
roots (not this machine's store), but a bad certificate never stops the relay test.

Exit codes: 0 closed (or a null MX), 1 open relay, 2 inconclusive or blocked, 3 bad arguments, \
4 unknown host, 5 could not connect. For a domain, the domain's verdict decides.")]
pub struct CheckArgs {
    /// A mail domain (example.org: every MX host at every address), a mail
    /// server's name (mx.example.org) or an address.
    pub host: String,
    /// Audit HOST as one mail server (at every address) even if it has MX records.
    #[arg(long = "host")]
    pub force_host: bool,
    /// The DNS server to ask (IP:PORT) instead of the system's resolver.
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// The SMTP port: 25 for MX servers, 587 for submission.
    #[arg(long, short, default_value_t = 25)]
    pub port: u16,
    /// The outside sender's domain.
    #[arg(long, default_value_t = Config::default().from_domain)]
    pub from_domain: String,
    /// The outside recipient's domain.
    #[arg(long, default_value_t = Config::default().to_domain)]
    pub to_domain: String,
    /// Another outside recipient domain, one with a working MX (one of
    /// yours): a probe is asked again there when the server refuses the
    /// first one's domain before it judges relaying (the reserved example
    /// domains publish a null MX).
    #[arg(long, value_name = "DOMAIN")]
    pub fallback_to_domain: Option<String>,
    /// The name to greet the server with (EHLO/HELO).
    #[arg(long, default_value_t = Config::default().helo_name)]
    pub helo: String,
    /// When to move into TLS: never; auto (when the server demands it, and
    /// read its TLS facts when it offers STARTTLS); always (every probe
    /// inside TLS when offered).
    #[arg(long, value_name = "never|auto|always", default_value = "auto")]
    pub tls: TlsMode,
    /// TLS from the first byte (implicit TLS, RFC 8314); the default on port 465.
    #[arg(long, overrides_with = "no_implicit_tls")]
    pub implicit_tls: bool,
    /// Plain text from the first byte even on port 465.
    #[arg(long, overrides_with = "implicit_tls")]
    pub no_implicit_tls: bool,
    /// Seconds to wait for a connection, the banner, any reply or a TLS handshake.
    #[arg(long, default_value_t = Config::default().reply_timeout.as_secs())]
    pub timeout: u64,
    /// Print the JSON report instead of the transcript and table.
    #[arg(long)]
    pub json: bool,
    /// Leave out the transcript; print the probe table and the verdict.
    #[arg(long, short, conflicts_with = "json")]
    pub quiet: bool,
}

pub async fn run(args: CheckArgs) -> ExitCode {
    let config = Config {
        from_domain: args.from_domain.clone(),
        to_domain: args.to_domain.clone(),
        fallback_to_domain: args.fallback_to_domain.clone(),
        helo_name: args.helo.clone(),
        reply_timeout: Duration::from_secs(args.timeout),
        tls: args.tls,
        implicit_tls: implicit_tls(&args),
        ..Config::default()
    };
    if let Err(e) = config.validate() {
        eprintln!("relaycheck: {e}.");
        return ExitCode::Usage;
    }
    if args.port == 0 {
        eprintln!("relaycheck: the port must be between 1 and 65535.");
        return ExitCode::Usage;
    }
    let host = args.host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_string();
    let (servers, domain_audit) = match what_to_audit(&args, &host).await {
        Ok(found) => found,
        Err(message) => {
            eprintln!("relaycheck: {message}");
            return ExitCode::UnknownHost;
        }
    };
    // A domain's own senders are forged too: its provider's MX may trust them.
    let config = if domain_audit && relay_core::config::is_domain(&host) {
        Config { audited_domain: Some(host.clone()), ..config }
    } else {
        config
    };
    let style = Style::for_stdout(std::io::stdout().is_terminal());
    let hosts: Vec<domain::MxHost> = match &servers {
        MailServers::Hosts(hosts) => hosts.clone(),
        MailServers::Host(host) => vec![host.clone()],
        MailServers::NullMx => Vec::new(),
    };
    let items = domain::plan(&hosts);
    let audits = items.iter().filter(|i| matches!(i, Item::Audit(_))).count();
    if !domain_audit && audits == 1 && items.len() == 1 {
        let Some(Item::Audit(planned)) = items.into_iter().next() else { unreachable!("one audit") };
        return single(args, config, planned, style).await;
    }

    // A domain, or a host with several addresses: every address at once.
    let live = !args.json && !args.quiet;
    if live {
        let mut out = std::io::stdout().lock();
        let what = if domain_audit { "the domain" } else { "the mail server" };
        let _ = writeln!(
            out,
            "=== relaycheck: auditing {what} {host} port {}: {audits} address(es) of {} mail server(s), at once",
            args.port,
            hosts.len().min(domain::MAX_HOSTS)
        );
        let _ = out.flush();
    }
    let targets = run_all(
        &config,
        args.port,
        items,
        |_| Arc::new(audit::Direct::new(&config, 1)),
        |_, t| {
            if live {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", render::progress_line(t)).and_then(|_| out.flush());
            }
        },
    )
    .await;
    let report = DomainReport::new(&host, &servers, targets);
    let mut out = std::io::stdout().lock();
    let _ = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report).expect("reports serialise"))
    } else {
        write!(out, "{}", render::domain_summary(&report, domain_audit, style))
    };
    drop(out);
    domain_exit(&report, &servers)
}

/// TLS from the first byte: as asked, else on port 465 (submissions, RFC 8314).
fn implicit_tls(args: &CheckArgs) -> bool {
    if args.implicit_tls {
        true
    } else if args.no_implicit_tls {
        false
    } else {
        args.port == 465
    }
}

/// The exit code of a domain audit: its verdict, unless nothing could be
/// audited (4) or nothing answered (5).
fn domain_exit(report: &DomainReport, servers: &MailServers) -> ExitCode {
    if matches!(servers, MailServers::NullMx) {
        return ExitCode::Closed;
    }
    if report.targets.iter().all(|t| t.report.is_none()) {
        return ExitCode::UnknownHost;
    }
    if !report.targets.iter().any(Target::connected) {
        return ExitCode::Unreachable;
    }
    verdict_exit(report.verdict)
}

fn verdict_exit(verdict: Verdict) -> ExitCode {
    match verdict {
        Verdict::Closed => ExitCode::Closed,
        Verdict::Open => ExitCode::Open,
        Verdict::Inconclusive | Verdict::Blocked => ExitCode::Inconclusive,
    }
}

/// One address: the transcript as it happens, the probe table, and the
/// single-server report for `--json`, as `check` always printed them.
async fn single(args: CheckArgs, config: Config, planned: Planned, style: Style) -> ExitCode {
    let live = !args.json && !args.quiet;
    let addresses = vec![SocketAddr::new(planned.address, args.port)];
    if live {
        let _ = writeln!(
            std::io::stdout(),
            "=== relaycheck: auditing {} port {} ({})",
            planned.mx_host,
            args.port,
            planned.address
        );
    }
    // Write errors (a closed pipe, as with `| head`) must not stop the audit.
    let dial = Arc::new(audit::Direct::new(&config, addresses.len()));
    let report = audit::run(config, &planned.mx_host, args.port, addresses, dial, |event| {
        if let (true, Event::Transcript(line)) = (live, event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
    })
    .await;

    let connected = report.server.address.is_some();
    let mut out = std::io::stdout().lock();
    let _ = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report).expect("reports serialise"))
    } else if connected {
        write!(out, "{}", render::summary(&report, style))
    } else {
        Ok(())
    };
    drop(out);
    if !connected {
        if !args.json {
            eprintln!("relaycheck: {}", report.reason);
        }
        return ExitCode::Unreachable;
    }
    verdict_exit(report.verdict)
}

/// What HOST names: its mail servers, and whether it is audited as a
/// domain (it has MX records) or as one host (an address, `--host`, a
/// single label such as `localhost`, or a name without MX records).
async fn what_to_audit(args: &CheckArgs, host: &str) -> Result<(MailServers, bool), String> {
    if host.is_empty() {
        return Err("give the mail domain, or the mail server's name or address, such as example.org.".into());
    }
    let literal = host.strip_prefix("IPv6:").unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok((MailServers::Host(one_host(ip.to_string(), vec![ip])), false));
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let resolver = Resolver::new(args.resolver, timeout).map_err(|e| format!("cannot set up DNS: {e}."))?;
    let not_found = |e: ResolveError| {
        format!("could not find the server \"{host}\": {e}. Check the spelling, or give the server's address.")
    };
    if args.force_host || !host.contains('.') {
        let addresses = resolver.lookup_ip(host).await.map_err(not_found)?;
        return Ok((MailServers::Host(one_host(host.to_ascii_lowercase(), addresses)), false));
    }
    match resolver.lookup_mx(host).await {
        Ok(hosts) if hosts.first().is_some_and(|h| h.implicit) => {
            let mut implicit = hosts[0].clone();
            implicit.implicit = true;
            Ok((MailServers::Host(implicit), false))
        }
        Ok(hosts) => Ok((MailServers::Hosts(hosts), true)),
        Err(ResolveError::NullMx { .. }) => Ok((MailServers::NullMx, true)),
        Err(e) => Err(not_found(e)),
    }
}

fn one_host(name: String, addresses: Vec<IpAddr>) -> domain::MxHost {
    domain::MxHost { preference: 0, exchange: name, addresses, implicit: false, error: None }
}

//! `ws-bridge check`: resolve, audit over TCP, print.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use relay_core::{Config, Event, Verdict};

use crate::audit;
use crate::exit::ExitCode;
use render::Style;

pub mod render;

#[derive(Args, Debug)]
#[command(after_help = "Exit codes: 0 closed, 1 open relay, 2 inconclusive or blocked, \
3 bad arguments, 4 unknown host, 5 could not connect.")]
pub struct CheckArgs {
    /// The mail server: a host name (mx.example.org) or an address.
    pub host: String,
    /// The SMTP port: 25 for MX servers, 587 for submission.
    #[arg(long, short, default_value_t = 25)]
    pub port: u16,
    /// The outside sender's domain.
    #[arg(long, default_value_t = Config::default().from_domain)]
    pub from_domain: String,
    /// The outside recipient's domain.
    #[arg(long, default_value_t = Config::default().to_domain)]
    pub to_domain: String,
    /// The name to greet the server with (EHLO/HELO).
    #[arg(long, default_value_t = Config::default().helo_name)]
    pub helo: String,
    /// Seconds to wait for a connection, the banner, or any reply.
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
        helo_name: args.helo.clone(),
        reply_timeout: Duration::from_secs(args.timeout),
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
    let host = args.host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addresses = match resolve(&host, args.port).await {
        Ok(a) => a,
        Err(message) => {
            eprintln!("relaycheck: {message}");
            return ExitCode::UnknownHost;
        }
    };

    let style = Style::for_stdout(std::io::stdout().is_terminal());
    let live = !args.json && !args.quiet;
    if live {
        let list: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
        let _ = writeln!(std::io::stdout(), "=== relaycheck: auditing {host} port {} ({})", args.port, list.join(", "));
    }
    // Write errors (a closed pipe, as with `| head`) must not stop the audit.
    let dial = std::sync::Arc::new(audit::Direct::new(&config, addresses.len()));
    let report = audit::run(config, &host, args.port, addresses, dial, |event| {
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
    match report.verdict {
        Verdict::Closed => ExitCode::Closed,
        Verdict::Open => ExitCode::Open,
        Verdict::Inconclusive | Verdict::Blocked => ExitCode::Inconclusive,
    }
}

/// Every address of `host`, in the resolver's order.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if host.is_empty() {
        return Err("give the mail server's name or address, such as mx.example.org.".into());
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let mut list: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !list.contains(&a) {
                    list.push(a);
                }
            }
            if list.is_empty() {
                Err(format!("the name \"{host}\" has no addresses in DNS."))
            } else {
                Ok(list)
            }
        }
        Err(e) => Err(format!(
            "could not find the server \"{host}\": the name does not resolve ({e}). Check the spelling, or give the server's address."
        )),
    }
}

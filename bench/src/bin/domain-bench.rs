//! The domain audit's wall time beside one single-server audit, in the same
//! run: a domain of 3 MX hosts × 2 addresses each (six closed Postfix
//! listeners on 127.0.0.41–46, one port, named by the tests' DNS fixture on
//! loopback), audited whole by `ws-bridge check DOMAIN --resolver …`, against
//! `ws-bridge check 127.0.0.41` alone. The audits of a domain run side by
//! side, so the whole should cost little more than its slowest part.
//!
//!     domain-bench --ws-bridge target/release/ws-bridge --runs 10 \
//!         --delay-proxy target/release/delay-proxy --delay-ms 25
//!
//! With `--delay-proxy`, the same is measured a second time through one
//! delay proxy per address (127.0.0.51–56, each holding every chunk
//! `--delay-ms` each way), as over the internet, where an audit waits on
//! round trips rather than on the machine's two cores.
//!
//! Prints the figures and a RESULT line for bench-report. Loopback only.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Parser;
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::net::free_port;
use relaycheck_tests::postfix::{Policy, Postfix};

#[derive(Parser, Debug)]
#[command(about = "A domain of 3 hosts × 2 addresses beside one single-server audit")]
struct Args {
    #[arg(long)]
    ws_bridge: PathBuf,
    /// Audits of each kind; the median is reported.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// bench's delay-proxy, for the figure with latency.
    #[arg(long)]
    delay_proxy: Option<PathBuf>,
    #[arg(long, default_value_t = 25)]
    delay_ms: u64,
}

const DOMAIN: &str = "bench.relaycheck.test";

fn main() -> ExitCode {
    let args = Args::parse();
    let port = free_port();
    let listeners: Vec<(Policy, SocketAddr)> =
        (41..=46).map(|last| (Policy::Closed, SocketAddr::from(([127, 0, 0, last], port)))).collect();
    let postfix = Postfix::start_on(&listeners, &[]);
    let straight: Vec<SocketAddr> = listeners.iter().map(|(_, a)| *a).collect();
    measure(&args, "domain", port, &straight);
    if let Some(proxy) = &args.delay_proxy {
        let mut children = Vec::new();
        let mut delayed = Vec::new();
        for (k, target) in straight.iter().enumerate() {
            let listen = SocketAddr::from(([127, 0, 0, 51 + k as u8], port));
            let mut child = Command::new(proxy)
                .args(["--listen", &listen.to_string(), "--target", &target.to_string()])
                .args(["--delay-ms", &args.delay_ms.to_string(), "--lifetime", "600"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the delay proxy");
            // It says "delay-proxy …" once it listens.
            let mut line = String::new();
            let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
            children.push(child);
            delayed.push(listen);
        }
        measure(&args, "domain_delayed", port, &delayed);
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    drop(postfix);
    ExitCode::SUCCESS
}

/// Audits the domain, named by a DNS server whose MX hosts point at
/// `addrs` (two each), and the first address alone; prints the medians and
/// a RESULT line under `label`.
fn measure(args: &Args, label: &str, port: u16, addrs: &[SocketAddr]) {
    let mut records = Vec::new();
    for (i, host) in ["mx1", "mx2", "mx3"].iter().enumerate() {
        let name = format!("{host}.{DOMAIN}");
        records.push(DnsRecord::mx(DOMAIN, 10 * (i as u16 + 1), &name));
        for addr in &addrs[2 * i..2 * i + 2] {
            records.push(DnsRecord::a(&name, &addr.ip().to_string()));
        }
    }
    let dns = DnsServer::start(records);
    let first = addrs[0].ip().to_string();
    let audit = |target: &str| -> (f64, String) {
        let started = Instant::now();
        let out = Command::new(&args.ws_bridge)
            .args(["check", target, "--port", &port.to_string(), "--resolver", &dns.addr.to_string(), "--json"])
            .output()
            .expect("run ws-bridge check");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let targets = json["targets"].as_array().map_or(1, Vec::len);
        // The slowest audit inside the run, as the engine timed it: the rest
        // of the wall time is start-up, DNS and waiting for a core.
        let slowest = json["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["elapsed_ms"].as_f64())
            .fold(json["elapsed_ms"].as_f64().unwrap_or(0.0), f64::max);
        (ms, format!("{} {targets} {slowest:.1}", json["verdict"].as_str().unwrap_or("none")))
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let (mut single, mut whole) = (Vec::new(), Vec::new());
    let (mut single_seen, mut whole_seen) = (String::new(), String::new());
    for _ in 0..args.runs.max(1) {
        let (ms, seen) = audit(&first);
        single.push(ms);
        single_seen = seen;
        let (ms, seen) = audit(DOMAIN);
        whole.push(ms);
        whole_seen = seen;
    }
    let (single_ms, whole_ms) = (median(single), median(whole));
    let field = |seen: &str, i: usize| seen.split(' ').nth(i).unwrap_or("n/a").to_string();
    let (single_verdict, whole_verdict, targets) =
        (field(&single_seen, 0), field(&whole_seen, 0), field(&whole_seen, 1));
    println!(
        "{label}: 3 hosts × 2 addresses {whole_ms:.1} ms ({targets} targets, {whole_verdict}; its slowest audit, as the engine timed it, {} ms in the last run)",
        field(&whole_seen, 2)
    );
    println!(
        "{label}: one server {single_ms:.1} ms ({single_verdict}; {} ms as the engine timed it)",
        field(&single_seen, 2)
    );
    println!(
        "RESULT label={label} ms={whole_ms:.1} targets={targets} verdict={whole_verdict} single_ms={single_ms:.1} single_verdict={single_verdict} runs={}",
        args.runs
    );
}

//! `ws-bridge check` against servers that misbehave on purpose (see
//! `relaycheck_tests::hostile`): the real CLI, relay-core's session through
//! the tokio driver and real TCP, on loopback only.
//!
//! Every case asserts the verdict, words of the reason, the exit code, and two
//! bounds on the run itself:
//! - liveness: the run ends within a wall-time bound stated in the test (a
//!   bound on hanging, not a performance figure; a run that outlives it by
//!   30 s more is killed and the test fails);
//! - memory: the child's peak resident set ([`RSS_BOUND_KIB`], as GNU time
//!   measures it) stays below 64 MiB, floods included.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use relaycheck_tests::hostile::{local_part, run_measured, Answer, HostileServer, Script, SERVER_NAME};
use serde_json::Value;

/// The peak resident memory every run must stay below, whatever the server sends.
const RSS_BOUND_KIB: u64 = 64 * 1024;
/// Slack on top of what a case should take at most, for a busy 2-core machine.
const SLACK: Duration = Duration::from_secs(5);
/// The probes of an audit (relay-core's plan): 22 address and sender forms
/// and 3 forged greetings.
const PROBES: usize = 25;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct Check {
    code: Option<i32>,
    report: Value,
}

impl Check {
    fn verdict(&self) -> &str {
        self.report["verdict"].as_str().unwrap_or_default()
    }

    fn reason(&self) -> &str {
        self.report["reason"].as_str().unwrap_or_default()
    }

    fn assert_outcome(&self, verdict: &str, code: i32, words: &[&str]) {
        assert_eq!(self.verdict(), verdict, "{:#}", self.report);
        assert_eq!(self.code, Some(code), "exit code; reason: {}", self.reason());
        let reason = self.reason().to_lowercase();
        for w in words {
            assert!(reason.contains(&w.to_lowercase()), "the reason lacks {w:?}: {}", self.reason());
        }
    }

    /// Probe id → probe verdict.
    fn probes(&self) -> BTreeMap<String, String> {
        let probes = self.report["probes"].as_array().expect("probes");
        // Without a name in its banner, the server cannot be greeted as itself.
        let nameless = self.report["server"]["name"].is_null();
        assert_eq!(probes.len(), PROBES - usize::from(nameless), "{:#}", self.report);
        probes
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_string(), p["verdict"].as_str().unwrap().to_string()))
            .collect()
    }

    fn assert_every_probe(&self, verdict: &str) {
        for (id, v) in self.probes() {
            assert_eq!(v, verdict, "probe {id}: {:#}", self.report["probes"]);
        }
    }

    /// The ids of the accepted probes; every other probe must be denied.
    fn accepted_others_denied(&self) -> Vec<String> {
        let mut accepted = Vec::new();
        for (id, v) in self.probes() {
            match v.as_str() {
                "accepted" => accepted.push(id),
                "denied" => {}
                other => panic!("probe {id} is {other}, not accepted or denied: {:#}", self.report["probes"]),
            }
        }
        accepted.sort();
        accepted
    }

    fn step(&self, kind: &str) -> &Value {
        let steps = self.report["steps"].as_array().expect("steps");
        steps.iter().find(|s| s["kind"] == kind).unwrap_or_else(|| panic!("no {kind} step: {steps:#?}"))
    }
}

/// Runs `ws-bridge check 127.0.0.1 --port P --json --timeout T` against
/// `server`, and asserts the liveness bound `within` and the memory bound.
fn check(name: &str, server: &HostileServer, timeout: u64, within: Duration) -> Check {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ws-bridge"));
    command.args(["check", "127.0.0.1", "--port", &server.port().to_string(), "--json"]);
    command.args(["--timeout", &timeout.to_string()]);
    let run = run_measured(command, within + secs(30));
    eprintln!(
        "{name}: exit {:?} after {:.2} s (bound {} s), peak RSS {} KiB (bound {RSS_BOUND_KIB} KiB), {} connection(s)",
        run.code,
        run.wall.as_secs_f64(),
        within.as_secs(),
        run.peak_rss_kib,
        server.connections().len()
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.killed, "{name}: the check hung and was killed after {:?}; stderr: {stderr}", run.wall);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!("{name}: not JSON ({e}): {}\nstderr: {stderr}", String::from_utf8_lossy(&run.stdout))
    });
    assert!(run.wall < within, "{name}: liveness: took {:?}, more than the bound {within:?}", run.wall);
    assert!(
        run.peak_rss_kib < RSS_BOUND_KIB,
        "{name}: memory: peak RSS {} KiB, more than the bound {RSS_BOUND_KIB} KiB",
        run.peak_rss_kib
    );
    Check { code: run.code, report }
}

// ----- slow, busy, chatty ------------------------------------------------

#[test]
fn tarpit_of_3_s_before_the_banner_still_works() {
    let delay = secs(3);
    let server = HostileServer::start(move |_| Script::closed_relay().banner_after(delay));
    // Every connection waits out the tarpit: the first alone, then the
    // others side by side.
    let run = check("tarpit 3 s", &server, 10, 2 * delay + SLACK);
    run.assert_outcome("closed", 0, &["prohibited"]);
    run.assert_every_probe("denied");
    let banner_ms = run.report["timings"]["banner_ms"].as_f64().unwrap();
    assert!(banner_ms >= 3000.0, "banner_ms {banner_ms}");
    // Below the engine's SLOW_BANNER (5 s): no warning yet.
    assert_eq!(run.step("banner")["tone"], "good", "{:#}", run.step("banner"));
}

#[test]
fn tarpit_of_6_s_is_a_warning_but_still_works() {
    let delay = secs(6);
    let server = HostileServer::start(move |_| Script::closed_relay().banner_after(delay));
    let run = check("tarpit 6 s", &server, 10, 2 * delay + SLACK);
    run.assert_outcome("closed", 0, &["prohibited"]);
    run.assert_every_probe("denied");
    let banner_ms = run.report["timings"]["banner_ms"].as_f64().unwrap();
    assert!(banner_ms >= 6000.0, "banner_ms {banner_ms}");
    let banner = run.step("banner");
    assert_eq!(banner["tone"], "warning", "{banner:#}");
    assert!(banner["meaning"].as_str().unwrap().contains("tarpit"), "{banner:#}");
}

#[test]
fn busy_421_at_connect_is_inconclusive() {
    let server = HostileServer::start(|_| {
        Script::closed_relay().banner("421 4.3.2 Service not available, closing transmission channel")
    });
    let run = check("421 at connect", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["not now", "not available"]);
    run.assert_every_probe("inconclusive");
    for (i, c) in server.connections().iter().enumerate() {
        assert!(c.commands.is_empty(), "connection {i}: the client spoke after the 421: {:?}", c.commands);
    }
}

#[test]
fn multi_line_banner_and_replies_everywhere_are_read_whole() {
    let server = HostileServer::start(|_| {
        Script::closed_relay()
            .banner(&format!("220-{SERVER_NAME} ESMTP Postfix\n220-Welcome, be nice.\n220 Ready"))
            .on("RSET", "250-2.0.0 Flushed\n250 2.0.0 Ok")
            .on("MAIL", "250-2.1.0 Sender looks fine\n250-2.1.0 so far\n250 2.1.0 Ok")
            .on("RCPT", "554-5.7.1 Relay access denied\n554-5.7.1 This server does not relay\n554 5.7.1 for strangers")
            .on("QUIT", "221-2.0.0 Bye\n221 2.0.0 Closing")
    });
    let run = check("multi-line", &server, 10, secs(10) + SLACK);
    run.assert_outcome("closed", 0, &["prohibited", "554 5.7.1"]);
    run.assert_every_probe("denied");
    let banner = run.report["server"]["banner"].as_str().unwrap();
    assert!(banner.contains("Welcome, be nice.") && banner.ends_with("220 Ready"), "{banner}");
    assert_eq!(run.report["server"]["name"], SERVER_NAME);
    let first = &run.report["probes"][0];
    assert!(first["reply"].as_str().unwrap().contains("for strangers"), "{first:#}");
}

#[test]
fn greylisting_451_on_rcpt_is_inconclusive() {
    let server = HostileServer::start(|_| {
        Script::closed_relay().on("RCPT", "451 4.7.1 Greylisted, please try again in 300 seconds")
    });
    let run = check("greylisting", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["not now", "greylisting"]);
    run.assert_every_probe("inconclusive");
}

#[test]
fn starttls_required_on_mail_is_blocked() {
    let server =
        HostileServer::start(|_| Script::closed_relay().on("MAIL", "530 5.7.0 Must issue a STARTTLS command first"));
    let run = check("STARTTLS required", &server, 10, secs(10) + SLACK);
    run.assert_outcome("blocked", 2, &["STARTTLS"]);
    run.assert_every_probe("blocked");
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let server = HostileServer::start(|_| Script::closed_relay().on("EHLO", "502 5.5.2 Error: command not recognized"));
    let run = check("EHLO refused", &server, 10, secs(10) + SLACK);
    run.assert_outcome("closed", 0, &["prohibited"]);
    run.assert_every_probe("denied");
    assert_eq!(run.report["server"]["helo_fallback"], true);
    let conns = server.connections();
    assert!(conns[0].commands.iter().any(|c| c.starts_with("HELO ")), "{:?}", conns[0].commands);
}

#[test]
fn server_that_punishes_early_talkers_is_not_provoked() {
    let delay = secs(1);
    let server = HostileServer::start(move |_| Script::closed_relay().banner_after(delay).punish_early_talkers());
    let run = check("early-talker trap", &server, 10, 2 * delay + SLACK);
    run.assert_outcome("closed", 0, &["prohibited"]);
    run.assert_every_probe("denied");
    let conns = server.connections();
    assert!(conns.len() >= 2);
    for (i, c) in conns.iter().enumerate() {
        assert!(!c.spoke_early, "connection {i}: the client spoke before the banner");
    }
}

// ----- not SMTP ----------------------------------------------------------

#[test]
fn http_instead_of_a_banner_is_not_smtp_and_fails_fast() {
    let http = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    let server = HostileServer::start(move |_| Script::closed_relay().opening(Answer::Raw(http.clone())));
    // Well under the 10 s timeout: garbage is recognised, not waited out.
    let run = check("HTTP banner", &server, 10, secs(3));
    run.assert_outcome("inconclusive", 2, &["not an SMTP reply", "HTTP/1.1 400 Bad Request"]);
    run.assert_every_probe("inconclusive");
}

#[test]
fn binary_garbage_instead_of_a_banner_is_not_smtp_and_fails_fast() {
    // 2 KiB of xorshift noise, deterministic, with a line end in it.
    let mut x: u32 = 0x2545_f491;
    let mut noise: Vec<u8> = (0..2048)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    noise[0] = 0x16; // as a TLS record would start
    noise[300] = b'\n';
    let server = HostileServer::start(move |_| Script::closed_relay().opening(Answer::Raw(noise.clone())));
    let run = check("binary banner", &server, 10, secs(3));
    run.assert_outcome("inconclusive", 2, &["not an SMTP reply"]);
    run.assert_every_probe("inconclusive");
}

// ----- floods ------------------------------------------------------------

#[test]
fn reply_line_that_never_ends_is_cut_off_with_bounded_memory() {
    let server = HostileServer::start(|_| Script::closed_relay().answer("EHLO", Answer::Flood(b"A".to_vec())));
    let run = check("endless line", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["line longer than 4096 bytes"]);
    run.assert_every_probe("inconclusive");
}

#[test]
fn multi_line_reply_that_never_ends_is_cut_off_with_bounded_memory() {
    let server = HostileServer::start(|_| Script::closed_relay().answer("EHLO", Answer::Flood(b"250-x\r\n".to_vec())));
    let run = check("endless reply", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["more than 256 lines"]);
    run.assert_every_probe("inconclusive");
}

#[test]
fn a_flood_of_whole_replies_is_garbled_never_an_acceptance() {
    // Endless "250 x" after the greeting: replies nobody asked for cannot
    // be matched to questions, so they answer none (they made 9 of 22
    // probes "accepted" and the verdict "open relay").
    let server = HostileServer::start(|_| Script::closed_relay().answer("EHLO", Answer::Flood(b"250 x\r\n".to_vec())));
    let run = check("flood of replies", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["nobody asked"]);
    run.assert_every_probe("inconclusive");
}

#[test]
fn banner_that_never_ends_is_cut_off_with_bounded_memory() {
    let server =
        HostileServer::start(|_| Script::closed_relay().opening(Answer::Flood(b"220-still greeting\r\n".to_vec())));
    let run = check("endless banner", &server, 10, secs(10) + SLACK);
    run.assert_outcome("inconclusive", 2, &["more than 256 lines"]);
    run.assert_every_probe("inconclusive");
}

// ----- drops and error limits ---------------------------------------------

#[test]
fn connection_dropped_mid_audit_is_reopened_and_the_audit_ends_closed() {
    // The first connection closes after answering EHLO, the first probe's
    // RSET/MAIL/RCPT and the second probe's RSET and MAIL.
    let server =
        HostileServer::start(|i| if i == 0 { Script::closed_relay().close_after(6) } else { Script::closed_relay() });
    let run = check("dropped connection", &server, 10, secs(10) + SLACK);
    run.assert_outcome("closed", 0, &["prohibited", "all 25"]);
    run.assert_every_probe("denied");
    let conns = server.connections();
    assert!(conns[0].closed_by_server && conns[0].commands.len() >= 6, "{:?}", conns[0]);
    let probes = run.report["probes"].as_array().unwrap();
    assert_eq!(probes[0]["connection"], 1, "the first probe was answered before the drop");
    for p in &probes[1..4] {
        assert_ne!(p["connection"], 1, "probe {} was retried on a new connection", p["id"]);
    }
}

/// Each connection carries 4 probes, so each full group loses its 4th probe
/// to the 421. The session learns that this server takes 3 and regroups the
/// retries 3 to a connection, so they fit in its budget (6 groups + 4 spares).
#[test]
fn disconnect_after_three_errors_is_retried_and_ends_closed() {
    let server = HostileServer::start(|_| Script::closed_relay().error_limit(3));
    let run = check("error limit", &server, 10, secs(10) + SLACK);
    run.assert_outcome("closed", 0, &["prohibited", "all 25"]);
    run.assert_every_probe("denied");
    let conns = server.connections();
    assert!(conns.iter().any(|c| c.closed_by_server && c.commands.len() > 1), "no connection hit the limit");
}

// ----- relays for one trick only -------------------------------------------

fn assert_open_for(name: &str, accepts: fn(&str) -> bool, expected: &[&str]) {
    let server = HostileServer::start(move |_| Script::closed_relay().relays_for(accepts));
    let run = check(name, &server, 10, secs(10) + SLACK);
    run.assert_outcome("open", 1, &["accepted"]);
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(run.accepted_others_denied(), expected);
}

#[test]
fn relay_only_for_the_percent_hack_is_open() {
    assert_open_for(
        "percent hack",
        |path| !path.starts_with('"') && local_part(path).contains('%'),
        &["percent-ip", "percent-server", "percent-localhost", "ipv6-literal"],
    );
}

#[test]
fn relay_only_for_bang_paths_is_open() {
    assert_open_for("bang paths", |path| path.contains('!'), &["bang", "bang-ip", "bang-server"]);
}

#[test]
fn relay_only_for_quoted_local_parts_is_open() {
    assert_open_for("quoted local part", |path| path.starts_with('"'), &["quoted", "quoted-percent", "quoted-at-ip"]);
}

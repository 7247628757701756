//! `ws-bridge check` against servers that agree to STARTTLS and then do not
//! speak TLS: plain text instead of a handshake, a close, silence, a flood.
//! Each must end in a sentence that names what happened, never hang (the
//! run is killed, and the test fails, if it outlives a generous limit), and
//! stay within bounded memory (its peak measured by GNU time).

use std::process::Command;
use std::time::Duration;

use relaycheck_tests::hostile::run_measured;
use relaycheck_tests::starttls::{AfterStartTls, RogueTls};
use serde_json::Value;

/// The peak resident memory every run must stay below, whatever the server sends.
const RSS_BOUND_KIB: u64 = 64 * 1024;
/// Far longer than any of these audits needs: outliving it is a hang.
const KILL_AFTER: Duration = Duration::from_secs(120);

/// Runs `check --json --timeout 2` against the server; the report.
fn check(name: &str, server: &RogueTls) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ws-bridge"));
    command.args(["check", "127.0.0.1", "--port", &server.addr().port().to_string(), "--json", "--timeout", "2"]);
    let run = run_measured(command, KILL_AFTER);
    eprintln!(
        "{name}: exit {:?} after {:.2} s, peak RSS {} KiB, {} handshake(s) tried",
        run.code,
        run.wall.as_secs_f64(),
        run.peak_rss_kib,
        server.handshakes()
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.killed, "{name}: the check hung and was killed after {:?}; stderr: {stderr}", run.wall);
    assert!(run.peak_rss_kib < RSS_BOUND_KIB, "{name}: peak RSS {} KiB", run.peak_rss_kib);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!("{name}: not JSON ({e}): {}\nstderr: {stderr}", String::from_utf8_lossy(&run.stdout))
    });
    assert_eq!(run.code, Some(2), "{name}: {:#}", report["reason"]);
    assert!(server.handshakes() > 0, "{name}: no handshake was tried");
    report
}

/// The report's verdict is blocked (TLS was demanded and could not be had),
/// and its TLS failure and reason carry `words`.
fn assert_failed(name: &str, report: &Value, words: &str) {
    assert_eq!(report["verdict"], "blocked", "{name}: {:#}", report["reason"]);
    let failure = report["tls"]["failure"].as_str().unwrap_or_else(|| panic!("{name}: {:#}", report["tls"]));
    eprintln!("{name}: {failure}");
    assert!(failure.contains(words), "{name}: {failure}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains(words), "{name}: the reason does not say it: {reason}");
}

#[test]
fn plain_text_after_starttls_is_quoted() {
    let server = RogueTls::start(AfterStartTls::Say(b"454 4.7.0 TLS not available due to local problem\r\n"));
    let report = check("plain text", &server);
    assert_failed(
        "plain text",
        &report,
        "the server answered with something that is not TLS: \"454 4.7.0 TLS not available due to local problem\\r\\n\"",
    );
}

#[test]
fn a_close_after_starttls_is_said() {
    let server = RogueTls::start(AfterStartTls::Close);
    let report = check("close", &server);
    assert_failed("close", &report, "closed the connection during the TLS handshake");
}

#[test]
fn a_stalled_handshake_is_timed_out() {
    let server = RogueTls::start(AfterStartTls::Stall);
    let report = check("stall", &server);
    // The driver's time limit and the engine's are the same reply timeout;
    // either may speak first.
    assert_failed("stall", &report, "TLS handshake");
    assert!(report["tls"]["failure"].as_str().unwrap().contains("within 2 s"), "{:#}", report["tls"]);
}

#[test]
fn a_flood_of_records_is_refused_with_bounded_memory() {
    // Handshake records, each announcing the largest message TLS allows,
    // again and again: nothing to buffer until it ends.
    let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0xff, 0xff, 0xff];
    record.resize(5 + 0x4000, 0x41);
    let server = RogueTls::start(AfterStartTls::Flood(record));
    let report = check("flood", &server);
    assert_failed("flood", &report, "the server's TLS handshake is malformed");
}

//! `ws-bridge check … --json` as a terminal user runs it, a process of its
//! own: its exit code and its report, and what the refusal suites
//! (check_refusals.rs against Postfix, check_refusals_exim.rs against Exim)
//! hold them to. The binary is the caller's (`env!("CARGO_BIN_EXE_ws-bridge")`
//! is known only to ws-bridge's own tests).

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;

use crate::refusals::{self, probes, str_of, summary, Logged};

/// What a check said: its exit code and its JSON report.
pub struct Checked {
    pub code: Option<i32>,
    pub report: Value,
}

/// `bin check HOST --port P --json --timeout 10 EXTRA…`.
pub fn check(bin: &str, host: &str, port: u16, extra: &[&str]) -> Checked {
    let out = Command::new(bin)
        .arg("check")
        .arg(host)
        .args(["--port", &port.to_string(), "--json", "--timeout", "10"])
        .args(extra)
        .output()
        .expect("run ws-bridge");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    Checked { code: out.status.code(), report }
}

/// [`check`] of an address.
pub fn check_addr(bin: &str, addr: SocketAddr, extra: &[&str]) -> Checked {
    check(bin, &addr.ip().to_string(), addr.port(), extra)
}

/// The transcript's notes (`===` lines: connections, their ends, retries).
pub fn notes(report: &Value) -> String {
    let lines = report["transcript"].as_array().into_iter().flatten();
    let notes = lines.filter(|l| l["direction"] == "note");
    notes.map(|l| format!("  [c{}] {}\n", l["connection"], str_of(l, "text"))).collect()
}

/// The exit code of an open relay (1) or an inconclusive audit (2).
pub fn assert_exit(checked: &Checked, code: i32) {
    assert_eq!(checked.code, Some(code), "the exit code of this verdict:\n{}", summary(&checked.report));
}

/// An inconclusive verdict whose reason contains every one of `words`.
pub fn assert_inconclusive(checked: &Checked, words: &[&str]) {
    refusals::assert_inconclusive(&checked.report, words);
    assert_exit(checked, 2);
}

/// An open verdict whose accepted probes are exactly `accepted` (all of
/// them, when `accepted` is empty).
pub fn assert_open(checked: &Checked, accepted: &[&str]) {
    refusals::assert_open(&checked.report, accepted);
    assert_exit(checked, 1);
}

/// Never open; closed only with every relay probe denied; otherwise
/// inconclusive, naming a probe it could not finish.
pub fn assert_closed_or_says_what_was_not_asked(checked: &Checked, server: &impl Logged) {
    let report = &checked.report;
    let context = format!("{}notes:\n{}log:\n{}", summary(report), notes(report), server.log());
    let unanswered: Vec<&Value> = probes(report).iter().filter(|p| p["verdict"] != "denied").collect();
    assert!(probes(report).len() >= 20, "{context}");
    match str_of(report, "verdict") {
        "closed" => {
            assert!(unanswered.is_empty(), "closed, but not every probe was denied:\n{context}");
            assert_eq!(checked.code, Some(0), "{context}");
        }
        "inconclusive" => {
            assert!(!unanswered.is_empty(), "inconclusive, but every probe was denied:\n{context}");
            assert!(unanswered.iter().all(|p| p["verdict"] != "accepted"), "{context}");
            let reason = str_of(report, "reason");
            let named = unanswered.iter().any(|p| reason.contains(&format!("\"{}\"", str_of(p, "name"))));
            assert!(named, "the reason names none of the probes that were not answered:\n{context}");
        }
        other => panic!("a closed relay behind a connection limit came out {other:?}:\n{context}"),
    }
}

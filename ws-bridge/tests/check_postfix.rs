//! `ws-bridge check` against a real Postfix on loopback, as a user runs it.

use std::process::{Command, Output};

use relaycheck_tests::postfix::{Policy, Postfix, HOSTNAME};
use serde_json::Value;

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ws-bridge")).arg("check").args(args).output().expect("run ws-bridge")
}

fn check_json(addr: std::net::SocketAddr) -> (Option<i32>, Value) {
    let out = check(&["127.0.0.1", "--port", &addr.port().to_string(), "--json", "--timeout", "10"]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), json)
}

fn probes(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().expect("probes is an array")
}

#[test]
fn closed_postfix_is_closed_with_every_probe_denied() {
    let postfix = Postfix::start(&[Policy::Closed]);
    let (code, report) = check_json(postfix.addr(Policy::Closed));
    assert_eq!(report["verdict"], "closed", "{report:#}");
    assert_eq!(code, Some(0));
    let probes = probes(&report);
    assert!(probes.len() >= 20, "only {} probes", probes.len());
    assert_eq!(probes[0]["id"], "manual");
    for p in probes {
        assert_eq!(p["verdict"], "denied", "probe {} was not denied: {p:#}", p["id"]);
        assert_eq!(p["code"], 554, "{p:#}");
        assert!(p["reply"].as_str().unwrap().contains("Relay access denied"), "{p:#}");
    }
    assert_eq!(report["server"]["address"], "127.0.0.1");
    assert!(report["server"]["banner"].as_str().unwrap().contains(HOSTNAME));
    // Probes use the banner's server name and the connected address.
    let rcpts: Vec<&str> = probes.iter().map(|p| p["rcpt_to"].as_str().unwrap()).collect();
    assert!(rcpts.iter().any(|r| r.ends_with(&format!("@{HOSTNAME}"))), "{rcpts:?}");
    assert!(rcpts.iter().any(|r| r.contains("@[127.0.0.1]")), "{rcpts:?}");
    // Spread over connections, Postfix never reached its error slow-down.
    assert!(!postfix.log().contains("too many errors"), "{}", postfix.log());
    assert!(report["transcript"].as_array().unwrap().len() > 20);
    assert!(report["elapsed_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn open_postfix_is_open_and_no_message_is_sent() {
    let postfix = Postfix::start(&[Policy::Open]);
    let (code, report) = check_json(postfix.addr(Policy::Open));
    assert_eq!(report["verdict"], "open", "{report:#}");
    assert_eq!(code, Some(1));
    assert_eq!(probes(&report)[0]["verdict"], "accepted");
    let sent: Vec<&str> = report["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["direction"] == "sent")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(sent.iter().all(|l| !l.eq_ignore_ascii_case("DATA")), "DATA was sent: {sent:?}");
    // Postfix never queued a message: no queue id with a message-id line.
    assert!(!postfix.log().contains("message-id="), "{}", postfix.log());
}

#[test]
fn debian_default_postfix_defers_and_is_closed_with_advice() {
    // defer_unauth_destination: "454 4.7.1 Relay access denied" on every
    // retry is a refusal by policy, with a temporary code.
    let postfix = Postfix::start(&[Policy::Deferring]);
    let addr = postfix.addr(Policy::Deferring);
    let (code, report) = check_json(addr);
    assert_eq!(report["verdict"], "closed", "{report:#}");
    assert_eq!(code, Some(0));
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("temporary code") && reason.contains("reject_unauth_destination"), "{reason}");
    for p in probes(&report) {
        assert_eq!(p["code"], 454, "{p:#}");
        assert_eq!(p["verdict"], "denied", "{p:#}");
        assert_eq!(p["outcome"]["kind"], "relay_deferred", "{p:#}");
    }
}

#[test]
fn human_output_shows_the_manual_test_table_and_verdict() {
    let postfix = Postfix::start(&[Policy::Closed]);
    let port = postfix.addr(Policy::Closed).port().to_string();
    let out = check(&["127.0.0.1", "--port", &port]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        "<-  220 mx.relaycheck.test ESMTP Postfix",
        " -> EHLO relaycheck.invalid",
        " -> MAIL FROM:<relaycheck@example.com>",
        " -> RCPT TO:<relaycheck@example.net>",
        "Relay access denied",
        "Verdict: CLOSED",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

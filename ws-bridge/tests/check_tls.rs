//! `ws-bridge check` against a real Postfix that speaks TLS on loopback:
//! STARTTLS offered, STARTTLS required (closed, and an open relay reachable
//! only inside TLS), TLS from the first byte (`smtpd_tls_wrappermode`), and
//! certificates made by the test: signed by a private CA for the right
//! name, expired, for another name, self-signed. The test CA is no Mozilla
//! root, so every certificate is untrusted; what is tested is that the
//! report says why.

use std::net::SocketAddr;
use std::process::{Command, Output};

use relaycheck_tests::certs::{self, Cert, TestCa, Validity, CA_NAME};
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::postfix::{Policy, Postfix, Tls, TlsListener, HOSTNAME};
use serde_json::Value;

fn check(addr: SocketAddr, more: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ws-bridge"));
    command.args(["check", "127.0.0.1", "--port", &addr.port().to_string()]).args(more);
    if !more.contains(&"--timeout") {
        command.args(["--timeout", "10"]);
    }
    command.output().expect("run ws-bridge")
}

fn check_json(addr: SocketAddr, more: &[&str]) -> (Option<i32>, Value) {
    let out = check(addr, &[&["--json"], more].concat());
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), json)
}

/// The certificate a well-run server has, but for its CA: for the banner
/// name and for the address the tests connect to (the name checked when the
/// user gives an address).
fn good(ca: &TestCa) -> Cert {
    ca.leaf(&[HOSTNAME, "127.0.0.1"], Validity::Current)
}

fn one(policy: Policy, tls: Tls, cert: &Cert) -> Postfix {
    Postfix::start_tls(&[TlsListener { policy, tls, cert }])
}

fn sent(report: &Value) -> Vec<String> {
    report["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["direction"] == "sent")
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

fn probes(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().expect("probes")
}

/// The facts of the report's TLS, which must be there.
fn facts(report: &Value) -> &Value {
    let facts = &report["tls"]["facts"];
    assert!(facts.is_object(), "no TLS facts: {:#}", report["tls"]);
    facts
}

#[test]
fn an_open_relay_behind_required_starttls_is_open_not_blocked() {
    let ca = TestCa::new();
    let postfix = one(Policy::Open, Tls::Required, &good(&ca));
    let (code, report) = check_json(postfix.listener(0), &[]);
    assert_eq!(report["verdict"], "open", "{:#}", report["reason"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["tls"]["required"], true, "{:#}", report["tls"]);
    assert_eq!(probes(&report)[0]["verdict"], "accepted", "{:#}", probes(&report)[0]);
    let sent = sent(&report);
    assert!(sent.iter().any(|l| l == "STARTTLS"), "{sent:?}");
    assert!(sent.iter().all(|l| !l.eq_ignore_ascii_case("DATA")), "DATA was sent: {sent:?}");
    // Postfix saw TLS, and never queued a message.
    let log = postfix.log();
    assert!(log.contains("TLS connection established"), "{log}");
    assert!(!log.contains("message-id="), "{log}");
}

#[test]
fn tls_never_leaves_a_tls_only_relay_blocked() {
    let ca = TestCa::new();
    let postfix = one(Policy::Open, Tls::Required, &good(&ca));
    let (code, report) = check_json(postfix.listener(0), &["--tls", "never"]);
    assert_eq!(report["verdict"], "blocked", "{:#}", report["reason"]);
    assert_eq!(code, Some(2));
    assert!(sent(&report).iter().all(|l| l != "STARTTLS"));
}

#[test]
fn a_closed_server_that_requires_starttls_is_closed_inside_tls() {
    let ca = TestCa::new();
    let postfix = one(Policy::Closed, Tls::Required, &good(&ca));
    let (code, report) = check_json(postfix.listener(0), &[]);
    assert_eq!(report["verdict"], "closed", "{:#}", report["reason"]);
    assert_eq!(code, Some(0));
    for p in probes(&report) {
        assert_eq!(p["verdict"], "denied", "probe {} was not denied: {p:#}", p["id"]);
        assert!(p["reply"].as_str().unwrap_or("").contains("Relay access denied"), "{p:#}");
    }
    assert_eq!(facts(&report)["name_matches"], true);
}

#[test]
fn starttls_offered_is_closed_and_its_facts_are_reported() {
    let ca = TestCa::new();
    let postfix = one(Policy::Closed, Tls::Offered, &good(&ca));
    let (code, report) = check_json(postfix.listener(0), &[]);
    assert_eq!(report["verdict"], "closed", "{:#}", report["reason"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["tls"]["required"], false);
    assert_eq!(report["tls"]["how"], "starttls");
    let facts = facts(&report);
    assert!(facts["version"] == "TLSv1.3" || facts["version"] == "TLSv1.2", "{facts:#}");
    assert!(facts["cipher"].as_str().unwrap().starts_with("TLS_"), "{facts:#}");
    assert_eq!(facts["checked_name"], "127.0.0.1");
    assert_eq!(facts["name_matches"], true);
    // Trust is Mozilla's, which knows nothing of the test CA.
    assert_eq!(facts["trusted"], false);
    let problem = facts["trust_problem"].as_str().unwrap();
    assert!(problem.contains("unknown issuer") && problem.contains(CA_NAME), "{problem}");
    let chain = facts["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "{facts:#}");
    assert_eq!(chain[0]["subject"], format!("CN={HOSTNAME}"));
    assert_eq!(chain[0]["names"], serde_json::json!([HOSTNAME, "127.0.0.1"]));
    assert_eq!(chain[0]["not_after"], "2036-01-01");
    assert_eq!(chain[0]["self_signed"], false);
    assert!(chain[0]["days_left"].as_i64().unwrap() > 3000);
    // Postfix saw the same protocol and cipher from its side.
    let established =
        format!("{} with cipher {}", facts["version"].as_str().unwrap(), facts["cipher"].as_str().unwrap());
    assert!(postfix.log().contains(&established), "{established} not in\n{}", postfix.log());
    // The relay test itself ran in plain text, as the manual test does.
    assert!(probes(&report).iter().all(|p| p["verdict"] == "denied"));

    // The terminal shows the same facts.
    let out = check(postfix.listener(0), &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TLS:     STARTTLS, offered: TLSv1."), "{text}");
    assert!(text.contains(&format!("certificate  CN={HOSTNAME} ({HOSTNAME}, 127.0.0.1)")), "{text}");
    assert!(text.contains("checked for  127.0.0.1: the certificate names it"), "{text}");
    assert!(text.contains("trusted      no: it is signed by") && text.contains("(unknown issuer)"), "{text}");
}

#[test]
fn implicit_tls_on_its_own_port_is_audited() {
    let ca = TestCa::new();
    let cert = good(&ca);
    let postfix = Postfix::start_tls(&[
        TlsListener { policy: Policy::Closed, tls: Tls::Implicit, cert: &cert },
        TlsListener { policy: Policy::Open, tls: Tls::Implicit, cert: &cert },
    ]);
    let (code, report) = check_json(postfix.listener(0), &["--implicit-tls"]);
    assert_eq!(report["verdict"], "closed", "{:#}", report["reason"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["tls"]["how"], "implicit", "{:#}", report["tls"]);
    assert!(report["server"]["banner"].as_str().unwrap().contains(HOSTNAME));
    assert!(sent(&report).iter().all(|l| l != "STARTTLS"), "STARTTLS inside implicit TLS");
    assert_eq!(facts(&report)["name_matches"], true);

    let (code, report) = check_json(postfix.listener(1), &["--implicit-tls"]);
    assert_eq!(report["verdict"], "open", "{:#}", report["reason"]);
    assert_eq!(code, Some(1));

    // Without TLS from the first byte the server says nothing: no banner,
    // which is said, not hung on.
    let (_, report) = check_json(postfix.listener(0), &["--no-implicit-tls", "--timeout", "2"]);
    assert_eq!(report["verdict"], "inconclusive", "{report:#}");
    assert!(report["reason"].as_str().unwrap().contains("banner"), "{:#}", report["reason"]);
}

/// Each bad certificate: the audit goes on (it is closed), and the facts
/// say what is wrong with it.
#[test]
fn bad_certificates_do_not_stop_the_audit_and_are_named() {
    let ca = TestCa::new();
    let expired = ca.leaf(&[HOSTNAME, "127.0.0.1"], Validity::Expired);
    let other = ca.leaf(&["other.example"], Validity::Current);
    let own = certs::self_signed(&[HOSTNAME, "127.0.0.1"], Validity::Current);
    let postfix = Postfix::start_tls(&[
        TlsListener { policy: Policy::Closed, tls: Tls::Offered, cert: &expired },
        TlsListener { policy: Policy::Closed, tls: Tls::Offered, cert: &other },
        TlsListener { policy: Policy::Closed, tls: Tls::Required, cert: &own },
    ]);
    let cases = [
        (0, "the certificate expired on 2021-01-01"),
        (1, "it is for other.example, not 127.0.0.1"),
        (2, "it is signed by nobody Mozilla trusts (self-signed)"),
    ];
    for (listener, words) in cases {
        let (code, report) = check_json(postfix.listener(listener), &[]);
        assert_eq!(report["verdict"], "closed", "listener {listener}: {:#}", report["reason"]);
        assert_eq!(code, Some(0));
        let facts = facts(&report);
        assert_eq!(facts["trusted"], false);
        let problem = facts["trust_problem"].as_str().unwrap();
        assert!(problem.contains(words), "listener {listener}: {problem}");
    }
}

/// A domain's MX host is checked by its name, not by the address it
/// resolves to: the name is what a sending server asks the certificate for.
#[test]
fn the_mx_name_is_what_the_certificate_is_checked_for() {
    let ca = TestCa::new();
    let by_name = ca.leaf(&[HOSTNAME], Validity::Current);
    let postfix = one(Policy::Closed, Tls::Offered, &by_name);
    let dns = DnsServer::start([DnsRecord::mx("relaycheck.test", 10, HOSTNAME), DnsRecord::a(HOSTNAME, "127.0.0.1")]);
    let port = postfix.listener(0).port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ws-bridge"))
        .args(["check", "relaycheck.test", "--port", &port, "--resolver", &dns.addr.to_string()])
        .args(["--timeout", "10", "--json"])
        .output()
        .expect("run ws-bridge");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["verdict"], "closed", "{report:#}");
    let target = &report["targets"][0];
    assert_eq!(target["mx_host"], HOSTNAME, "{target:#}");
    let facts = facts(target);
    assert_eq!(facts["checked_name"], HOSTNAME);
    assert_eq!(facts["name_matches"], true, "{facts:#}");
    let problem = facts["trust_problem"].as_str().unwrap();
    assert!(!problem.contains("it is for"), "{problem}");
}

#[test]
fn tls_always_asks_every_probe_inside_tls() {
    let ca = TestCa::new();
    let postfix = one(Policy::Closed, Tls::Offered, &good(&ca));
    let (code, report) = check_json(postfix.listener(0), &["--tls", "always"]);
    assert_eq!(report["verdict"], "closed", "{:#}", report["reason"]);
    assert_eq!(code, Some(0));
    // Every connection that asked anything said STARTTLS first, and Postfix
    // established TLS for each.
    let transcript = report["transcript"].as_array().unwrap();
    let mut asked = std::collections::BTreeMap::<u64, (bool, bool)>::new();
    for line in transcript.iter().filter(|l| l["direction"] == "sent") {
        let entry = asked.entry(line["connection"].as_u64().unwrap()).or_default();
        let text = line["text"].as_str().unwrap();
        if text == "STARTTLS" {
            entry.0 = true;
        }
        if text.starts_with("MAIL FROM") && !entry.0 {
            entry.1 = true;
        }
    }
    assert!(!asked.is_empty());
    assert!(asked.values().all(|&(_, plain_mail)| !plain_mail), "a MAIL FROM went in plain text: {asked:?}");
    let established = postfix.log().matches("TLS connection established").count();
    assert!(established >= asked.values().filter(|(tls, _)| *tls).count(), "{}", postfix.log());
}

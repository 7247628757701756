//! `ws-bridge check` against real Postfix configurations that say no for
//! something other than relaying: a null MX at the recipient's domain, a
//! blocklist that lists the checker, a greeting that does not resolve,
//! connection limits, postscreen's pregreet test; and against relays that
//! open only for a trusted greeting or sender. A refusal of something else
//! never makes a server "closed" (see relay-core/src/refusal.rs).
//!
//! Each Postfix looks everything up in the test's own DNS server on
//! loopback (`Builder::resolver`), and each test first proves by a raw SMTP
//! dialogue of its own that Postfix says exactly the refusal (or the
//! acceptance) the configuration is for, so that a fixture gone wrong fails
//! as such and cannot pass for a bug in the engine, nor the other way round.

use std::net::SocketAddr;
use std::process::Command;

use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::postfix::{Postfix, HOSTNAME};
use relaycheck_tests::smtp::{relay_attempt, Dialogue, Reply};
use serde_json::Value;

/// Relays for everyone, as `Policy::Open` does.
const OPEN: &str = "-o mynetworks=0.0.0.0/0";
/// Relays for nobody but 127.0.0.2 (`mynetworks`), with a permanent refusal.
const CLOSED: &str = "-o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination";

/// relaycheck's default greeting, sender and recipient (the manual test's).
const HELO: &str = "relaycheck.invalid";
const FROM: &str = "relaycheck@example.com";
const TO: &str = "relaycheck@example.net";
/// Postfix's refusal of the manual test, by `reject_unauth_destination`.
const RELAY_DENIED: &str = "554 5.7.1 <relaycheck@example.net>: Relay access denied";
/// Postfix's acceptance of a recipient.
const OK: &str = "250 2.1.5 Ok";

/// A domain with a real MX, for `--to-domain`: its address is a
/// documentation one, never reached (the fixture discards everything, and
/// no probe goes past RCPT).
const RELAY_TARGET: &str = "relay-target.test";

/// A Postfix with one listener (`options`) and these main.cf lines that
/// resolves through `dns` only.
fn postfix(dns: &DnsServer, options: &str, main_cf: &[&str]) -> Postfix {
    let mut builder = Postfix::builder().resolver(dns.addr).smtpd(options);
    for line in main_cf {
        builder = builder.main_cf(line);
    }
    builder.start()
}

/// What a check said: its exit code and its JSON report.
struct Checked {
    code: Option<i32>,
    report: Value,
}

/// `ws-bridge check HOST --port P --json --timeout 10 EXTRA…`.
fn check(host: &str, port: u16, extra: &[&str]) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-bridge"))
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

fn check_addr(addr: SocketAddr, extra: &[&str]) -> Checked {
    check(&addr.ip().to_string(), addr.port(), extra)
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn probes(report: &Value) -> &[Value] {
    report["probes"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn probe<'a>(report: &'a Value, id: &str) -> &'a Value {
    probes(report).iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no probe {id}:\n{}", summary(report)))
}

/// The ids of the probes with this verdict.
fn with_verdict<'a>(report: &'a Value, verdict: &str) -> Vec<&'a str> {
    probes(report).iter().filter(|p| p["verdict"] == verdict).map(|p| str_of(p, "id")).collect()
}

/// The verdict, the reason, and a line per probe and control (id, verdict,
/// what its reply refused, the outcome's kind, the reply): what a failure
/// message needs to tell a product bug from a fixture's.
fn summary(report: &Value) -> String {
    let mut text = format!("verdict: {}\nreason: {}\n", report["verdict"], str_of(report, "reason"));
    for (kind, list) in [("probe", &report["probes"]), ("control", &report["controls"])] {
        for p in list.as_array().into_iter().flatten() {
            text.push_str(&format!(
                "  {kind} {:<26} {:<12} refused={:<16} outcome={:<14} {} -> {}: {}\n",
                str_of(p, "id"),
                str_of(p, "verdict"),
                p["refused"].as_str().unwrap_or("-"),
                p["outcome"]["kind"].as_str().unwrap_or("?"),
                str_of(p, "mail_from"),
                str_of(p, "rcpt_to"),
                str_of(p, "reply"),
            ));
        }
    }
    text
}

/// The transcript's notes (`===` lines: connections, their ends, retries).
fn notes(report: &Value) -> String {
    let lines = report["transcript"].as_array().into_iter().flatten();
    let notes = lines.filter(|l| l["direction"] == "note");
    notes.map(|l| format!("  [c{}] {}\n", l["connection"], str_of(l, "text"))).collect()
}

/// Asserts that a raw dialogue ended with exactly `expected`.
fn assert_said(reply: &Reply, expected: &str, dialogue: &Dialogue, postfix: &Postfix) {
    assert_eq!(
        reply.last(),
        expected,
        "the fixture is not configured as the test means:\n{dialogue}\nlog:\n{}",
        postfix.log()
    );
}

/// The manual test by hand, asserting Postfix's exact answer.
fn assert_attempt(postfix: &Postfix, addr: SocketAddr, (helo, from, to): (&str, &str, &str), expected: &str) {
    let (dialogue, reply) = relay_attempt(addr, helo, from, to);
    assert_said(&reply, expected, &dialogue, postfix);
}

/// An inconclusive verdict whose reason contains every one of `words`.
fn assert_inconclusive(checked: &Checked, words: &[&str]) {
    let report = &checked.report;
    assert_eq!(report["verdict"], "inconclusive", "{}", summary(report));
    assert_eq!(checked.code, Some(2), "the exit code of an inconclusive audit:\n{}", summary(report));
    let reason = str_of(report, "reason");
    for word in words {
        assert!(reason.contains(word), "the reason does not say {word:?}:\n{}", summary(report));
    }
}

/// An open verdict whose accepted probes are exactly `accepted` (all of
/// them, when `accepted` is empty).
fn assert_open(checked: &Checked, accepted: &[&str]) {
    let report = &checked.report;
    assert_eq!(report["verdict"], "open", "{}", summary(report));
    assert_eq!(checked.code, Some(1), "the exit code of an open relay:\n{}", summary(report));
    if !accepted.is_empty() {
        assert_eq!(with_verdict(report, "accepted"), accepted, "{}", summary(report));
    }
}

/// The probes whose question is the greeting itself: a refused greeting is
/// their answer ("denied"), not a question left unasked.
const FORGED_GREETINGS: [&str; 3] = ["helo-server-name", "helo-address-literal", "helo-localhost"];

/// The probes not asked because their reply refused `class` (outcome
/// `not_asked`, probe verdict inconclusive), asserting that every probe
/// refused for `class` is one of them (but the forged greetings, for
/// `greeting`).
fn not_asked<'a>(report: &'a Value, class: &str) -> Vec<&'a str> {
    let answers = |p: &Value| class == "greeting" && FORGED_GREETINGS.iter().any(|id| p["id"] == *id);
    let refused: Vec<&Value> = probes(report).iter().filter(|p| p["refused"] == class && !answers(p)).collect();
    for p in &refused {
        assert_eq!(
            p["outcome"]["kind"],
            "not_asked",
            "probe {} was refused for {class}:\n{}",
            p["id"],
            summary(report)
        );
        assert_eq!(p["outcome"]["refused"], class, "{}", summary(report));
        assert_eq!(p["verdict"], "inconclusive", "{}", summary(report));
    }
    refused.iter().map(|p| str_of(p, "id")).collect()
}

/// The reserved example domains publish a null MX (as they really do), and
/// [`RELAY_TARGET`] has a real MX.
fn null_mx_zone() -> Vec<DnsRecord> {
    vec![
        DnsRecord::null_mx("example.com"),
        DnsRecord::null_mx("example.net"),
        DnsRecord::null_mx("example.org"),
        DnsRecord::mx(RELAY_TARGET, 10, "mx.relay-target.test"),
        DnsRecord::a("mx.relay-target.test", "192.0.2.25"),
    ]
}

#[test]
fn an_open_relay_that_checks_domains_in_dns_is_inconclusive_until_to_domain_has_a_real_mx() {
    let dns = DnsServer::start_on_port_53(null_mx_zone());
    let postfix = postfix(
        &dns,
        OPEN,
        &["smtpd_relay_restrictions = reject_unknown_sender_domain, reject_unknown_recipient_domain, \
           permit_mynetworks, reject_unauth_destination"],
    );
    let addr = postfix.listener(0);
    // The sender's domain is looked at first, then the recipient's; a
    // domain with a real MX is relayed to from any sender Postfix takes.
    assert_attempt(
        &postfix,
        addr,
        (HELO, FROM, TO),
        "550 5.7.27 <relaycheck@example.com>: Sender address rejected: Domain example.com does not accept mail (nullMX)",
    );
    assert_attempt(
        &postfix,
        addr,
        (HELO, "", TO),
        "556 5.1.10 <relaycheck@example.net>: Recipient address rejected: Domain example.net does not accept mail (nullMX)",
    );
    assert_attempt(&postfix, addr, (HELO, "", "relaycheck@relay-target.test"), OK);
    assert!(dns.queries().contains(&"example.net. MX".to_string()), "Postfix did not ask our DNS: {:?}", dns.queries());

    let checked = check_addr(addr, &[]);
    assert_inconclusive(&checked, &["example.net", "--to-domain"]);
    let report = &checked.report;
    assert!(with_verdict(report, "accepted").is_empty(), "{}", summary(report));
    assert!(
        !not_asked(report, "recipient_domain").is_empty(),
        "no probe was refused for its domain:\n{}",
        summary(report)
    );

    let checked = check_addr(addr, &["--to-domain", RELAY_TARGET]);
    assert_open(&checked, &[]);
    let report = &checked.report;
    let accepted = probes(report).iter().filter(|p| p["verdict"] == "accepted");
    assert!(accepted.clone().all(|p| str_of(p, "rcpt_to").contains(RELAY_TARGET)), "{}", summary(report));
    assert!(!postfix.log().contains("message-id="), "a message was sent:\n{}", postfix.log());
}

#[test]
fn an_open_relay_whose_blocklist_lists_the_checker_is_inconclusive_and_says_so() {
    let reason = "127.0.0.1 is listed for relaycheck's tests";
    let dns = DnsServer::start_on_port_53([
        DnsRecord::a("1.0.0.127.rbl.test", "127.0.0.2"),
        DnsRecord::txt("1.0.0.127.rbl.test", reason),
    ]);
    let postfix = postfix(&dns, OPEN, &["smtpd_client_restrictions = reject_rbl_client rbl.test"]);
    let addr = postfix.listener(0);
    let refusal = format!("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using rbl.test; {reason}");
    assert_attempt(&postfix, addr, (HELO, FROM, TO), &refusal);
    assert_attempt(&postfix, addr, (HELO, "", &format!("postmaster@{HOSTNAME}")), &refusal);

    let checked = check_addr(addr, &[]);
    assert_inconclusive(&checked, &["rbl.test", "refused our checker itself"]);
    let report = &checked.report;
    let all: Vec<&str> = probes(report).iter().map(|p| str_of(p, "id")).collect();
    assert_eq!(not_asked(report, "client"), all, "every probe is refused for the client:\n{}", summary(report));
    assert!(all.len() >= 20, "{}", summary(report));
}

/// `reject_unknown_helo_hostname`, 550 when the name does not exist.
const UNKNOWN_HELO: [&str; 2] =
    ["smtpd_helo_restrictions = reject_unknown_helo_hostname", "unknown_hostname_reject_code = 550"];

/// Postfix's refusal of a greeting that does not resolve, with
/// [`UNKNOWN_HELO`].
fn not_found(helo: &str) -> String {
    format!("550 5.7.1 <{helo}>: Helo command rejected: Host not found")
}

/// Postfix's refusal of a greeting by `check_helo_access … REJECT`.
fn access_denied(helo: &str) -> String {
    format!("554 5.7.1 <{helo}>: Helo command rejected: Access denied")
}

/// The manual test by hand greeting as each name, asserting Postfix's
/// exact answer to each (its reply to RCPT, where `smtpd_delay_reject`
/// puts refusals of the greeting).
fn assert_greetings(postfix: &Postfix, addr: SocketAddr, expected: &[(&str, &str)]) {
    for (helo, reply) in expected {
        assert_attempt(postfix, addr, (helo, FROM, TO), reply);
    }
}

/// The server's domain exists, its MX is the server, and the server's own
/// name may or may not have an address.
fn own_domain_zone(with_address: bool) -> Vec<DnsRecord> {
    let mut zone = vec![DnsRecord::mx("relaycheck.test", 10, HOSTNAME)];
    if with_address {
        zone.push(DnsRecord::a(HOSTNAME, "127.0.0.1"));
    }
    zone
}

#[test]
fn an_open_relay_refusing_unknown_greetings_still_relays_for_an_address_literal() {
    // reject_unknown_helo_hostname never looks at an address literal:
    // anyone who greets as [address] may relay, and that is open.
    let dns = DnsServer::start_on_port_53(own_domain_zone(false));
    let postfix = postfix(&dns, OPEN, &UNKNOWN_HELO);
    let addr = postfix.listener(0);
    assert_greetings(
        &postfix,
        addr,
        &[(HELO, &not_found(HELO)), (HOSTNAME, &not_found(HOSTNAME)), ("[127.0.0.1]", OK)],
    );

    let checked = check_addr(addr, &[]);
    assert_open(&checked, &["helo-address-literal"]);
    assert!(!not_asked(&checked.report, "greeting").is_empty(), "{}", summary(&checked.report));
}

/// [`UNKNOWN_HELO`], and greetings as the server's address or localhost
/// refused as well ("you are not me", a common companion rule).
fn unknown_or_forged_helo() -> [&'static str; 2] {
    [
        "smtpd_helo_restrictions = reject_unknown_helo_hostname, \
         check_helo_access inline:{[127.0.0.1]=REJECT, localhost=REJECT}",
        UNKNOWN_HELO[1],
    ]
}

#[test]
fn an_open_relay_refusing_every_greeting_we_offer_is_inconclusive_and_points_at_helo() {
    let dns = DnsServer::start_on_port_53(own_domain_zone(false));
    let postfix = postfix(&dns, OPEN, &unknown_or_forged_helo());
    let addr = postfix.listener(0);
    assert_greetings(
        &postfix,
        addr,
        &[
            (HELO, &not_found(HELO)),
            (HOSTNAME, &not_found(HOSTNAME)),
            ("[127.0.0.1]", &access_denied("[127.0.0.1]")),
            ("localhost", &access_denied("localhost")),
        ],
    );

    let checked = check_addr(addr, &[]);
    assert_inconclusive(&checked, &[HELO, "--helo"]);
    let report = &checked.report;
    assert!(!not_asked(report, "greeting").is_empty(), "{}", summary(report));
    // A forged greeting refused is that probe's answer.
    for id in FORGED_GREETINGS {
        let p = probe(report, id);
        assert_eq!(p["verdict"], "denied", "{id}:\n{}", summary(report));
        assert_eq!(p["refused"], "greeting", "{id}:\n{}", summary(report));
    }
}

#[test]
fn an_open_relay_refusing_unknown_greetings_is_open_to_the_server_s_own_name_once_it_resolves() {
    let dns = DnsServer::start_on_port_53(own_domain_zone(true));
    let postfix = postfix(&dns, OPEN, &unknown_or_forged_helo());
    let addr = postfix.listener(0);
    assert_greetings(&postfix, addr, &[(HELO, &not_found(HELO)), (HOSTNAME, OK)]);

    let checked = check_addr(addr, &[]);
    assert_open(&checked, &["helo-server-name"]);
}

#[test]
fn a_relay_trusting_the_server_s_own_greeting_is_open() {
    let dns = DnsServer::start_on_port_53([]);
    let postfix = postfix(
        &dns,
        "",
        &["smtpd_relay_restrictions = permit_mynetworks, check_helo_access inline:{mx.relaycheck.test=OK}, \
           reject_unauth_destination"],
    );
    let addr = postfix.listener(0);
    assert_attempt(&postfix, addr, (HELO, FROM, TO), RELAY_DENIED);
    assert_attempt(&postfix, addr, (HOSTNAME, FROM, TO), OK);

    let checked = check_addr(addr, &[]);
    assert_open(&checked, &["helo-server-name"]);
    let manual = probe(&checked.report, "manual");
    assert_eq!(manual["verdict"], "denied", "{}", summary(&checked.report));
    assert_eq!(str_of(manual, "reply"), RELAY_DENIED, "{}", summary(&checked.report));
}

#[test]
fn a_provider_s_mx_trusting_its_customer_s_senders_makes_the_customer_domain_open() {
    let dns = DnsServer::start_on_port_53([
        DnsRecord::mx("customer.test", 10, "mx.provider.test"),
        DnsRecord::a("mx.provider.test", "127.0.0.1"),
    ]);
    let postfix = postfix(
        &dns,
        "",
        &["smtpd_relay_restrictions = permit_mynetworks, check_sender_access inline:{customer.test=OK}, \
           reject_unauth_destination"],
    );
    let addr = postfix.listener(0);
    assert_attempt(&postfix, addr, (HELO, FROM, TO), RELAY_DENIED);
    assert_attempt(&postfix, addr, (HELO, "relaycheck@customer.test", TO), OK);

    let checked = check("customer.test", addr.port(), &["--resolver", &dns.addr.to_string()]);
    let domain = &checked.report;
    let target = &domain["targets"][0];
    assert_eq!(domain["verdict"], "open", "{domain:#}");
    assert_eq!(checked.code, Some(1), "{}", summary(target));
    assert_eq!((str_of(target, "mx_host"), str_of(target, "address")), ("mx.provider.test", "127.0.0.1"), "{domain:#}");
    assert_eq!(with_verdict(target, "accepted"), ["sender-in-audited-domain"], "{}", summary(target));
    assert_eq!(
        probe(target, "sender-in-audited-domain")["mail_from"],
        "relaycheck@customer.test",
        "{}",
        summary(target)
    );
}

/// Never open; closed only with every relay probe denied; otherwise
/// inconclusive, naming a probe it could not finish.
fn assert_closed_or_says_what_was_not_asked(checked: &Checked, postfix: &Postfix) {
    let report = &checked.report;
    let context = format!("{}notes:\n{}log:\n{}", summary(report), notes(report), postfix.log());
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

/// Two connections open at once, both greeted with a 220: smtpd tells anvil
/// of a client gone only once it has noticed, so a connection just closed
/// (the fixture's wait for the banner, an earlier dialogue) may still count
/// for a moment.
fn two_at_once(addr: SocketAddr, postfix: &Postfix) -> [Dialogue; 2] {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pair = [Dialogue::open(addr), Dialogue::open(addr)];
        if pair.iter().all(|d| d.banner.code() == 220) {
            return pair;
        }
        assert!(
            std::time::Instant::now() < until,
            "never two connections at once:\n{}{}\nlog:\n{}",
            pair[0],
            pair[1],
            postfix.log()
        );
        drop(pair);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The refusal smtpd gives at connect time once anvil's limit is reached.
const TOO_MANY: &str = "421 4.7.0 mx.relaycheck.test Error: too many connections from 127.0.0.1";

#[test]
fn a_closed_relay_allowing_two_connections_at_once_is_closed_or_inconclusive_never_open() {
    let dns = DnsServer::start_on_port_53([]);
    let postfix = postfix(&dns, CLOSED, &["smtpd_client_connection_count_limit = 2"]);
    let addr = postfix.listener(0);
    {
        let [mut first, second] = two_at_once(addr, &postfix);
        let third = Dialogue::open(addr);
        assert_said(&third.banner, TOO_MANY, &third, &postfix);
        let reply = first.relay_attempt(HELO, FROM, TO);
        assert_said(&reply, RELAY_DENIED, &first, &postfix);
        drop(second);
    }

    let checked = check_addr(addr, &[]);
    assert_closed_or_says_what_was_not_asked(&checked, &postfix);
    eprintln!("{}notes:\n{}", summary(&checked.report), notes(&checked.report));
}

#[test]
fn a_closed_relay_allowing_five_connections_a_minute_is_closed_or_inconclusive_never_open() {
    // anvil counts per listener: the twin shows the limit, the first is checked.
    let dns = DnsServer::start_on_port_53([]);
    let postfix = Postfix::builder()
        .resolver(dns.addr)
        .smtpd(CLOSED)
        .smtpd(CLOSED)
        .main_cf("smtpd_client_connection_rate_limit = 5")
        .main_cf("anvil_rate_time_unit = 60s")
        .start();
    let (addr, twin) = (postfix.listener(0), postfix.listener(1));
    // The fixture's own wait for the banner was the first connection.
    for _ in 1..5 {
        let dialogue = Dialogue::open(twin);
        assert_eq!(dialogue.banner.code(), 220, "{dialogue}");
    }
    let sixth = Dialogue::open(twin);
    assert_said(&sixth.banner, TOO_MANY, &sixth, &postfix);

    let checked = check_addr(addr, &[]);
    assert_closed_or_says_what_was_not_asked(&checked, &postfix);
    eprintln!("{}notes:\n{}", summary(&checked.report), notes(&checked.report));
    let limited = format!("Connection rate limit exceeded: 6 from localhost[127.0.0.1] for service {addr}");
    assert!(postfix.log().contains(&limited), "the check never reached the rate limit:\n{}", postfix.log());
}

#[test]
fn a_closed_relay_behind_postscreen_s_pregreet_test_is_closed() {
    let dns = DnsServer::start_on_port_53([]);
    let postfix = Postfix::builder().resolver(dns.addr).postscreen(CLOSED).start();
    let addr = postfix.listener(0);
    // Postscreen is there: who talks before the whole banner is turned away
    // at RCPT (and not remembered: the check still gets the pause).
    let (mut early, _) = Dialogue::open_talking_early(addr, &format!("EHLO {HELO}"));
    assert_eq!(early.banner.last(), "220-mx.relaycheck.test ESMTP Postfix", "{early}");
    early.say(&format!("MAIL FROM:<{FROM}>"));
    let reply = early.say(&format!("RCPT TO:<{TO}>"));
    assert_said(&reply, "550 5.5.1 Protocol error", &early, &postfix);
    drop(early);

    let checked = check_addr(addr, &[]);
    let report = &checked.report;
    let context = format!("{}notes:\n{}log:\n{}", summary(report), notes(report), postfix.log());
    assert_eq!(report["verdict"], "closed", "{context}");
    assert_eq!(checked.code, Some(0), "{context}");
    assert_eq!(with_verdict(report, "denied").len(), probes(report).len(), "{context}");
    let received = report["transcript"].as_array().into_iter().flatten().filter(|l| l["direction"] == "received");
    let paused = received.filter(|l| str_of(l, "text").starts_with("220-")).count();
    assert!(paused > 0, "no connection of the check met the pregreet pause:\n{context}");
    let connections = notes(report).matches("connected to").count();
    eprintln!("{paused} of the check's {connections} connections met the pregreet pause");
    assert!(postfix.log().contains("PASS NEW [127.0.0.1]"), "{context}");

    // And behind it, the smtpd refuses relaying (postscreen remembers the
    // check's pass now, and hands the client on at once).
    assert_attempt(&postfix, addr, (HELO, FROM, TO), RELAY_DENIED);
}

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
//! The configurations that the hosted API and the page are asked about too
//! (api_refusals.rs, page_e2e.rs) are in `relaycheck_tests::refusals`, with
//! what every driver must say of them.

use std::net::SocketAddr;

use relaycheck_tests::check::{
    self, assert_closed_or_says_what_was_not_asked, assert_exit, assert_inconclusive, assert_open, notes, Checked,
};
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::postfix::{Postfix, HOSTNAME};
use relaycheck_tests::refusals::{
    self, assert_attempt, assert_said, not_asked, probe, probes, str_of, summary, two_at_once, with_verdict, Fixture,
    CUSTOMER, FORGED_GREETINGS, FROM, HELO, OK, OPEN, RELAY_DENIED, RELAY_TARGET, TO,
};
use relaycheck_tests::smtp::Dialogue;

/// Relays for nobody but 127.0.0.2 (`mynetworks`), with a permanent refusal.
const CLOSED: &str = "-o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination";

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

/// `ws-bridge check HOST --port P --json --timeout 10 EXTRA…`.
fn check(host: &str, port: u16, extra: &[&str]) -> Checked {
    check::check(BIN, host, port, extra)
}

fn check_addr(addr: SocketAddr, extra: &[&str]) -> Checked {
    check::check_addr(BIN, addr, extra)
}

#[test]
fn an_open_relay_that_checks_domains_in_dns_is_inconclusive_until_to_domain_has_a_real_mx() {
    let fixture = refusals::null_mx_relay();
    let checked = check_addr(fixture.addr(), &[]);
    refusals::assert_recipient_domain_refused(&checked.report, &["--to-domain"]);
    assert_exit(&checked, 2);

    let checked = check_addr(fixture.addr(), &["--to-domain", RELAY_TARGET]);
    refusals::assert_open_to_relay_target(&checked.report, &fixture.postfix);
    assert_exit(&checked, 1);
}

#[test]
fn an_open_relay_whose_blocklist_lists_the_checker_is_inconclusive_and_says_so() {
    let fixture = refusals::blocklisted_relay();
    let checked = check_addr(fixture.addr(), &[]);
    refusals::assert_client_refused(&checked.report);
    assert_exit(&checked, 2);
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
fn assert_greetings(fixture: &Fixture, expected: &[(&str, &str)]) {
    for (helo, reply) in expected {
        fixture.assert_attempt((helo, FROM, TO), reply);
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
    let fixture = Fixture::start(own_domain_zone(false), OPEN, &UNKNOWN_HELO);
    assert_greetings(&fixture, &[(HELO, &not_found(HELO)), (HOSTNAME, &not_found(HOSTNAME)), ("[127.0.0.1]", OK)]);

    let checked = check_addr(fixture.addr(), &[]);
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
    let fixture = Fixture::start(own_domain_zone(false), OPEN, &unknown_or_forged_helo());
    assert_greetings(
        &fixture,
        &[
            (HELO, &not_found(HELO)),
            (HOSTNAME, &not_found(HOSTNAME)),
            ("[127.0.0.1]", &access_denied("[127.0.0.1]")),
            ("localhost", &access_denied("localhost")),
        ],
    );

    let checked = check_addr(fixture.addr(), &[]);
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
    let fixture = Fixture::start(own_domain_zone(true), OPEN, &unknown_or_forged_helo());
    assert_greetings(&fixture, &[(HELO, &not_found(HELO)), (HOSTNAME, OK)]);

    let checked = check_addr(fixture.addr(), &[]);
    assert_open(&checked, &["helo-server-name"]);
}

#[test]
fn a_relay_trusting_the_server_s_own_greeting_is_open() {
    let fixture = refusals::helo_trusting_relay();
    let checked = check_addr(fixture.addr(), &[]);
    refusals::assert_open_to_the_server_s_own_greeting(&checked.report);
    assert_exit(&checked, 1);
}

#[test]
fn a_provider_s_mx_trusting_its_customer_s_senders_makes_the_customer_domain_open() {
    let fixture = refusals::customer_trusting_provider();
    let checked = check(CUSTOMER, fixture.addr().port(), &["--resolver", &fixture.dns.addr.to_string()]);
    refusals::assert_customer_domain_open(&checked.report);
    assert_eq!(checked.code, Some(1), "the exit code of an open domain:\n{:#}", checked.report);
}

/// The refusal smtpd gives at connect time once anvil's limit is reached.
const TOO_MANY: &str = "421 4.7.0 mx.relaycheck.test Error: too many connections from 127.0.0.1";

#[test]
fn a_closed_relay_allowing_two_connections_at_once_is_closed_or_inconclusive_never_open() {
    let Fixture { postfix, dns: _dns } = Fixture::start([], CLOSED, &["smtpd_client_connection_count_limit = 2"]);
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

//! `ws-bridge check` against real Exim configurations that say no for
//! something other than relaying, Exim's equivalents of check_refusals.rs's
//! Postfix ones: a blocklist that lists the checker (`dnslists`), a greeting
//! that does not check out (`helo_verify_hosts`, `verify = helo`), a
//! connection limit (`smtp_accept_max_per_host`), and a null MX at the
//! recipient's domain (`verify = recipient` through a `dnslookup` router).
//! A refusal of something else never makes a server "closed" (see
//! relay-core/src/refusal.rs).
//!
//! Each Exim that looks anything up does so in the test's own DNS server on
//! loopback (`exim::Builder::resolver`), and each test first proves by a
//! raw SMTP dialogue that Exim says exactly the refusal (or the acceptance)
//! the configuration is for, every line of it, so that a fixture gone wrong
//! fails as such and cannot pass for a bug in the engine, nor the other way
//! round.

use std::net::SocketAddr;

use relaycheck_tests::check::{
    self, assert_closed_or_says_what_was_not_asked, assert_exit, assert_inconclusive, assert_open, notes, Checked,
};
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::exim::{Exim, Policy, HOSTNAME};
use relaycheck_tests::refusals::{
    self, assert_said, not_asked, probe, probes, str_of, summary, two_at_once, with_verdict, BLOCKLIST,
    FORGED_GREETINGS, FROM, HELO, RELAY_TARGET, TO,
};
use relaycheck_tests::smtp::{relay_attempt, Dialogue};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

/// Exim's acceptance of a recipient.
const ACCEPTED: &str = "250 Accepted";
/// Exim's refusal of the manual test by configure.default's RCPT ACL.
const RELAY_NOT_PERMITTED: &str = "550 relay not permitted";
/// What an ACL that denies without a message answers.
const ADMINISTRATIVE_PROHIBITION: &str = "550 Administrative prohibition";

/// `ws-bridge check ADDR --json --timeout 10 EXTRA…`, its report printed
/// for `--no-capture`.
fn check(addr: SocketAddr, extra: &[&str]) -> Checked {
    let checked = check::check_addr(BIN, addr, extra);
    eprintln!("check {extra:?}:\n{}notes:\n{}", summary(&checked.report), notes(&checked.report));
    checked
}

/// The manual test by hand (greeting, sender, recipient) on a connection of
/// its own, asserting Exim's whole reply, every line: to RCPT, or to the
/// command it refused before it.
fn assert_reply(exim: &Exim, (helo, from, to): (&str, &str, &str), expected: &[&str]) {
    let (dialogue, reply) = relay_attempt(exim.addr, helo, from, to);
    eprintln!("{dialogue}");
    assert_eq!(reply.lines, expected, "Exim is not configured as the test means:\n{dialogue}\nlog:\n{}", exim.log());
}

// ---- a blocklist that lists the checker -------------------------------------

/// The reason [`BLOCKLIST`] gives for listing 127.0.0.1 (its TXT record).
const LISTED: &str = "127.0.0.1 is listed for relaycheck's tests";

/// A DNS server where [`BLOCKLIST`] lists 127.0.0.1, with [`LISTED`].
fn blocklist() -> DnsServer {
    let listed = format!("1.0.0.127.{BLOCKLIST}");
    DnsServer::start_on_port_53([DnsRecord::a(&listed, "127.0.0.2"), DnsRecord::txt(&listed, LISTED)])
}

/// configure.default's commented-out blocklist statement, as an admin
/// turns it on, with [`BLOCKLIST`] for the list.
fn deny_listed_clients() -> String {
    format!(
        r"deny    message  = rejected because $sender_host_address \
                   is in a black list at $dnslist_domain\n\
                   $dnslist_text
        dnslists = {BLOCKLIST}"
    )
}

/// Exim's refusal by [`deny_listed_clients`], a line from the message and a
/// line from the list's TXT record.
fn black_list_refusal(code: u16) -> [String; 2] {
    [format!("{code}-rejected because 127.0.0.1 is in a black list at {BLOCKLIST}"), format!("{code} {LISTED}")]
}

#[test]
fn an_open_exim_whose_blocklist_lists_the_checker_is_inconclusive_and_names_the_list() {
    let dns = blocklist();
    let exim = Exim::builder(Policy::Open).resolver(dns.addr).rcpt_acl(&deny_listed_clients()).start();
    let refusal = black_list_refusal(550);
    let refusal: Vec<&str> = refusal.iter().map(String::as_str).collect();
    assert_reply(&exim, (HELO, FROM, TO), &refusal);
    assert_reply(&exim, (HELO, "", &format!("postmaster@{HOSTNAME}")), &refusal);
    let queries = dns.queries();
    assert!(queries.contains(&format!("1.0.0.127.{BLOCKLIST}. A")), "Exim did not ask our DNS: {queries:?}");

    let checked = check(exim.addr, &[]);
    let report = &checked.report;
    assert_inconclusive(&checked, &[BLOCKLIST, "refused our checker itself"]);
    assert!(with_verdict(report, "accepted").is_empty(), "{}", summary(report));
    // Exim judges an address's syntax before its RCPT ACL: a sender or a
    // recipient it cannot take is refused for that (501) whoever asks, and
    // every other probe meets the blocklist, which refuses the checker.
    let client = not_asked(report, "client");
    assert!(client.contains(&"manual"), "{}", summary(report));
    for p in probes(report) {
        let listed = str_of(p, "reply").contains(&format!("is in a black list at {BLOCKLIST}"));
        assert!(
            listed == client.contains(&str_of(p, "id")) && (listed || p["code"] == 501),
            "probe {} was refused for something else:\n{}",
            p["id"],
            summary(report)
        );
    }
}

#[test]
fn an_exim_refusing_the_checker_at_connect_by_its_blocklist_is_inconclusive_and_names_the_list() {
    let dns = blocklist();
    let exim = Exim::builder(Policy::Open).resolver(dns.addr).connect_acl(&deny_listed_clients()).start();
    let dialogue = Dialogue::open(exim.addr);
    eprintln!("{dialogue}");
    assert_eq!(dialogue.banner.lines, black_list_refusal(550), "{dialogue}\nlog:\n{}", exim.log());

    let checked = check(exim.addr, &[]);
    refusals::assert_client_refused(&checked.report);
    assert_exit(&checked, 2);
}

#[test]
fn an_open_exim_whose_bare_dnslists_deny_refuses_everything_is_inconclusive_never_closed() {
    // Without a message, Exim says nothing of why, even to postmaster.
    let dns = blocklist();
    let exim = Exim::builder(Policy::Open).resolver(dns.addr).rcpt_acl(&format!("deny dnslists = {BLOCKLIST}")).start();
    assert_reply(&exim, (HELO, FROM, TO), &[ADMINISTRATIVE_PROHIBITION]);
    assert_reply(&exim, (HELO, "", &format!("postmaster@{HOSTNAME}")), &[ADMINISTRATIVE_PROHIBITION]);

    let checked = check(exim.addr, &[]);
    let report = &checked.report;
    assert_inconclusive(&checked, &["without saying why", "postmaster@"]);
    assert!(with_verdict(report, "accepted").is_empty(), "{}", summary(report));
    assert!(!not_asked(report, "unspecified").is_empty(), "{}", summary(report));
}

// ---- greetings that do not check out ------------------------------------------

/// The checker's reverse name, which has 127.0.0.1 for its address: a name
/// `--helo` can give that checks out.
const CHECKER: &str = "checker.relaycheck.test";

/// 127.0.0.1 is [`CHECKER`] both ways; the server's domain exists, its MX
/// is the server, and the server's own name has no address (so that it
/// cannot check out either). Everything else in `test.` does not exist, and
/// `localhost.` is not served (Exim asks the DNS for it, not /etc/hosts).
fn checker_zone() -> DnsServer {
    DnsServer::start_on_port_53([
        DnsRecord::ptr("127.0.0.1", CHECKER),
        DnsRecord::a(CHECKER, "127.0.0.1"),
        DnsRecord::mx("relaycheck.test", 10, HOSTNAME),
    ])
}

/// Greeting as each name, asserting Exim's whole answer to each (to EHLO
/// when it refuses the greeting, else to RCPT).
fn assert_greetings(exim: &Exim, expected: &[(&str, &str)]) {
    for &(helo, reply) in expected {
        assert_reply(exim, (helo, FROM, TO), &[reply]);
    }
}

/// `helo_verify_hosts`'s refusal of a greeting that is not the client's.
const DOES_NOT_MATCH: &str = "550 EHLO argument does not match calling host";

#[test]
fn an_open_exim_verifying_greetings_still_relays_for_an_address_literal() {
    // helo_verify_hosts = *: a greeting must be the client's own name or
    // address, and anyone who greets as its [address] may relay: open.
    let dns = checker_zone();
    let exim = Exim::builder(Policy::Open).resolver(dns.addr).main("helo_verify_hosts = *").start();
    assert_greetings(
        &exim,
        &[
            (HELO, DOES_NOT_MATCH),
            (HOSTNAME, DOES_NOT_MATCH),
            ("localhost", DOES_NOT_MATCH),
            ("[127.0.0.1]", ACCEPTED),
            (CHECKER, ACCEPTED),
        ],
    );
    let queries = dns.queries();
    assert!(queries.contains(&"1.0.0.127.in-addr.arpa. PTR".to_string()), "Exim did not ask our DNS: {queries:?}");

    let checked = check(exim.addr, &[]);
    assert_open(&checked, &["helo-address-literal"]);
    let reason = str_of(&checked.report, "reason");
    assert!(reason.contains("[127.0.0.1]"), "the reason names no greeting:\n{}", summary(&checked.report));
    let refused = not_asked(&checked.report, "greeting");
    assert!(!refused.is_empty(), "no probe was refused for its greeting:\n{}", summary(&checked.report));
}

/// A HELO ACL statement that refuses address literals, before
/// [`VERIFY_HELO`] (which takes the client's own).
const NO_LITERALS: &str = r"deny    message   = HELO/EHLO argument is an address literal
        condition = ${if match{$sender_helo_name}{\N^\[\N}}";

/// A HELO ACL statement that requires the greeting to be the client's own
/// name or address, and answers any other [`ADMINISTRATIVE_PROHIBITION`].
const VERIFY_HELO: &str = "require verify    = helo";

#[test]
fn an_open_exim_refusing_every_greeting_we_offer_is_inconclusive_and_points_at_helo() {
    let dns = checker_zone();
    let exim = Exim::builder(Policy::Open).resolver(dns.addr).helo_acl(NO_LITERALS).helo_acl(VERIFY_HELO).start();
    assert_greetings(
        &exim,
        &[
            (HELO, ADMINISTRATIVE_PROHIBITION),
            (HOSTNAME, ADMINISTRATIVE_PROHIBITION),
            ("localhost", ADMINISTRATIVE_PROHIBITION),
            ("[127.0.0.1]", "550 HELO/EHLO argument is an address literal"),
            (CHECKER, ACCEPTED),
        ],
    );

    let checked = check(exim.addr, &[]);
    // Exim's refusal does not quote the greeting, as Postfix's does.
    assert_inconclusive(&checked, &["our greeting name", "--helo"]);
    let report = &checked.report;
    assert!(with_verdict(report, "accepted").is_empty(), "{}", summary(report));
    assert!(!not_asked(report, "greeting").is_empty(), "{}", summary(report));
    // A forged greeting refused is that probe's answer.
    for id in FORGED_GREETINGS {
        assert_eq!(probe(report, id)["verdict"], "denied", "{id}:\n{}", summary(report));
    }

    // Greeting as a name that checks out, as the reason says to, finds the
    // open relay.
    let with_helo = check(exim.addr, &["--helo", CHECKER]);
    assert_open(&with_helo, &[]);
    for id in FORGED_GREETINGS {
        assert_eq!(probe(&with_helo.report, id)["verdict"], "denied", "{id}:\n{}", summary(&with_helo.report));
    }

    // And what a forged greeting's refusal refused is its greeting, as the
    // engine read it to call the probe denied, also where the words do not
    // say so (`550 Administrative prohibition` to EHLO).
    for id in FORGED_GREETINGS {
        assert_eq!(probe(report, id)["refused"], "greeting", "{id}:\n{}", summary(report));
    }
}

// ---- a connection limit -------------------------------------------------------

/// What Exim's daemon answers a connection over `smtp_accept_max_per_host`.
const TOO_MANY: &str = "421 Too many concurrent SMTP connections from this IP address; please try again later.";

/// What Exim logs of each connection it turns away so.
const TURNED_AWAY: &str = "refused: too many connections from that IP address";

#[test]
fn a_closed_exim_allowing_two_connections_at_once_is_closed_or_inconclusive_never_open() {
    let exim = Exim::builder(Policy::Closed).main("smtp_accept_max_per_host = 2").start();
    {
        let [mut first, second] = two_at_once(exim.addr, &exim);
        let third = Dialogue::open(exim.addr);
        eprintln!("{third}");
        assert_eq!(third.banner.lines, [TOO_MANY], "{third}\nlog:\n{}", exim.log());
        let reply = first.relay_attempt(HELO, FROM, TO);
        eprintln!("{first}");
        assert_said(&reply, RELAY_NOT_PERMITTED, &first, &exim);
        drop(second);
    }
    let before = exim.log().matches(TURNED_AWAY).count();

    let checked = check(exim.addr, &[]);
    assert_closed_or_says_what_was_not_asked(&checked, &exim);
    let turned_away = exim.log().matches(TURNED_AWAY).count() - before;
    eprintln!("Exim turned {turned_away} of the check's connections away");
    assert!(turned_away > 0, "the check never reached the limit:\n{}", exim.log());
}

// ---- a null MX at the recipient's domain --------------------------------------

/// A router that looks outside domains up in the DNS for verification
/// only (delivery still ends in the fixture's `:blackhole:`), and fails
/// those it cannot route.
const DNSLOOKUP: &str = "dnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n  verify_only\n  no_more";

#[test]
fn an_open_exim_verifying_recipients_is_inconclusive_until_to_domain_has_a_real_mx() {
    let dns = DnsServer::start_on_port_53([
        DnsRecord::null_mx("example.com"),
        DnsRecord::null_mx("example.net"),
        DnsRecord::null_mx("example.org"),
        DnsRecord::mx(RELAY_TARGET, 10, "mx.relay-target.test"),
        DnsRecord::a("mx.relay-target.test", "192.0.2.25"),
    ]);
    let exim =
        Exim::builder(Policy::Open).resolver(dns.addr).rcpt_acl("require verify = recipient").router(DNSLOOKUP).start();
    // Exim reads a null MX (RFC 7505) as its own refusal, not as a domain
    // it cannot route.
    assert_reply(&exim, (HELO, FROM, TO), &["550 an MX or SRV record indicated no SMTP service"]);
    assert_reply(&exim, (HELO, FROM, "relaycheck@nowhere.test"), &["550 Unrouteable address"]);
    assert_reply(&exim, (HELO, FROM, &format!("relaycheck@{RELAY_TARGET}")), &[ACCEPTED]);
    let queries = dns.queries();
    assert!(queries.contains(&"example.net. MX".to_string()), "Exim did not ask our DNS: {queries:?}");

    let with_target = check(exim.addr, &["--to-domain", RELAY_TARGET]);
    let checked = check(exim.addr, &[]);

    refusals::assert_open_to_relay_target(&with_target.report, &exim);
    assert_exit(&with_target, 1);

    refusals::assert_recipient_domain_refused(&checked.report, &["--to-domain"]);
    assert_exit(&checked, 2);
    // Those whose sender Exim refused at MAIL (no domain, a literal) never reached RCPT.
    let refused: Vec<&str> = probes(&checked.report)
        .iter()
        .filter(|p| p["rcpt_to"] == TO && p["refused"] != "sender")
        .filter_map(|p| p["refused"].as_str())
        .collect();
    assert!(
        !refused.is_empty() && refused.iter().all(|&r| r == "recipient_domain"),
        "the probes to {TO} were not all refused for its domain:\n{}",
        summary(&checked.report)
    );
}

//! Real Postfix configurations that say no for something other than
//! relaying (a null MX at the recipient's domain, a blocklist that lists
//! the checker), or relay only for a trusted greeting or sender, shared by
//! the tests that ask each driver about them: `ws-bridge check`
//! (check_refusals.rs), `POST /api/check` (api_refusals.rs) and the page
//! (page_e2e.rs). A refusal of something else never makes a server
//! "closed" (see relay-core/src/refusal.rs), whichever driver asks.
//!
//! Each fixture resolves through a DNS server of its own on loopback
//! ([`crate::postfix::Builder::resolver`]), and each starter first proves
//! by a raw SMTP dialogue ([`crate::smtp`]) that Postfix says exactly the
//! refusal (or the acceptance) the configuration is for, so that a fixture
//! gone wrong fails as such and cannot pass for a bug in a driver, nor the
//! other way round. The `assert_…` functions below hold a report (the JSON
//! of `check --json`, `/api/check` or the page's) to what every driver
//! must say of that configuration.

use std::net::SocketAddr;

use serde_json::Value;

use crate::dns::{DnsRecord, DnsServer};
use crate::exim::Exim;
use crate::postfix::{Postfix, HOSTNAME};
use crate::smtp::{relay_attempt, Dialogue, Reply};

/// Relays for everyone, as `Policy::Open` does.
pub const OPEN: &str = "-o mynetworks=0.0.0.0/0";

/// relaycheck's default greeting, sender and recipient (the manual test's).
pub const HELO: &str = "relaycheck.invalid";
pub const FROM: &str = "relaycheck@example.com";
pub const TO: &str = "relaycheck@example.net";
/// Postfix's refusal of the manual test, by `reject_unauth_destination`.
pub const RELAY_DENIED: &str = "554 5.7.1 <relaycheck@example.net>: Relay access denied";
/// Postfix's acceptance of a recipient.
pub const OK: &str = "250 2.1.5 Ok";

/// A domain with a real MX, for `--to-domain` (`"to_domain"` in the API):
/// its address is a documentation one, never reached (the fixture discards
/// everything, and no probe goes past RCPT).
pub const RELAY_TARGET: &str = "relay-target.test";
/// The blocklist of [`blocklisted_relay`], as its refusal names it.
pub const BLOCKLIST: &str = "rbl.test";
/// The customer domain of [`customer_trusting_provider`], and its MX host.
pub const CUSTOMER: &str = "customer.test";
pub const PROVIDER_MX: &str = "mx.provider.test";

/// The probes whose question is the greeting itself: a refused greeting is
/// their answer ("denied"), not a question left unasked.
pub const FORGED_GREETINGS: [&str; 3] = ["helo-server-name", "helo-address-literal", "helo-localhost"];

/// A Postfix and the DNS server it resolves through (and only through).
pub struct Fixture {
    pub postfix: Postfix,
    pub dns: DnsServer,
}

impl Fixture {
    /// A Postfix with one listener (`options`) and these main.cf lines
    /// that resolves through a DNS server serving `zone` only.
    pub fn start(zone: impl IntoIterator<Item = DnsRecord>, options: &str, main_cf: &[&str]) -> Fixture {
        let dns = DnsServer::start_on_port_53(zone);
        let mut builder = Postfix::builder().resolver(dns.addr).smtpd(options);
        for line in main_cf {
            builder = builder.main_cf(line);
        }
        Fixture { postfix: builder.start(), dns }
    }

    /// Its listener.
    pub fn addr(&self) -> SocketAddr {
        self.postfix.listener(0)
    }

    /// The manual test by hand, asserting Postfix's exact answer.
    pub fn assert_attempt(&self, attempt: (&str, &str, &str), expected: &str) {
        assert_attempt(&self.postfix, self.addr(), attempt, expected);
    }
}

/// A mail server fixture whose log a failure message shows.
pub trait Logged {
    /// Everything it logged so far.
    fn log(&self) -> String;

    /// Whether its log says it took a message (no probe ever sends DATA).
    fn took_a_message(&self) -> bool;
}

impl Logged for Postfix {
    fn log(&self) -> String {
        Postfix::log(self)
    }

    /// cleanup logs each message's `message-id=`.
    fn took_a_message(&self) -> bool {
        self.log().contains("message-id=")
    }
}

impl Logged for Exim {
    fn log(&self) -> String {
        Exim::log(self)
    }

    /// Exim logs each message's arrival as `<= sender`.
    fn took_a_message(&self) -> bool {
        self.log().contains(" <= ")
    }
}

/// Asserts that a raw dialogue ended with exactly `expected`.
pub fn assert_said(reply: &Reply, expected: &str, dialogue: &Dialogue, server: &impl Logged) {
    assert_eq!(
        reply.last(),
        expected,
        "the fixture is not configured as the test means:\n{dialogue}\nlog:\n{}",
        server.log()
    );
}

/// The manual test by hand (greeting, sender, recipient), asserting the
/// server's exact answer.
pub fn assert_attempt(server: &impl Logged, addr: SocketAddr, (helo, from, to): (&str, &str, &str), expected: &str) {
    let (dialogue, reply) = relay_attempt(addr, helo, from, to);
    assert_said(&reply, expected, &dialogue, server);
}

/// Two connections open at once, both greeted with a 220: a server counting
/// connections per client may still count one just closed (the fixture's
/// wait for the banner, an earlier dialogue) for a moment, until it has
/// noticed (Postfix's smtpd tells anvil; Exim's daemon reaps the child).
pub fn two_at_once(addr: SocketAddr, server: &impl Logged) -> [Dialogue; 2] {
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
            server.log()
        );
        drop(pair);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

// ---- reading a report -------------------------------------------------------

pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

pub fn probes(report: &Value) -> &[Value] {
    report["probes"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn probe<'a>(report: &'a Value, id: &str) -> &'a Value {
    probes(report).iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no probe {id}:\n{}", summary(report)))
}

/// The ids of the probes with this verdict.
pub fn with_verdict<'a>(report: &'a Value, verdict: &str) -> Vec<&'a str> {
    probes(report).iter().filter(|p| p["verdict"] == verdict).map(|p| str_of(p, "id")).collect()
}

/// The verdict, the reason, and a line per probe and control (id, verdict,
/// what its reply refused, the outcome's kind, the reply): what a failure
/// message needs to tell a product bug from a fixture's.
pub fn summary(report: &Value) -> String {
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

/// The probes not asked because their reply refused `class` (outcome
/// `not_asked`, probe verdict inconclusive), asserting that every probe
/// refused for `class` is one of them (but the forged greetings, for
/// `greeting`).
pub fn not_asked<'a>(report: &'a Value, class: &str) -> Vec<&'a str> {
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

/// An inconclusive verdict whose reason contains every one of `words`.
pub fn assert_inconclusive(report: &Value, words: &[&str]) {
    assert_eq!(report["verdict"], "inconclusive", "{}", summary(report));
    let reason = str_of(report, "reason");
    for word in words {
        assert!(reason.contains(word), "the reason does not say {word:?}:\n{}", summary(report));
    }
}

/// An open verdict whose accepted probes are exactly `accepted` (all of
/// them, when `accepted` is empty).
pub fn assert_open(report: &Value, accepted: &[&str]) {
    assert_eq!(report["verdict"], "open", "{}", summary(report));
    if !accepted.is_empty() {
        assert_eq!(with_verdict(report, "accepted"), accepted, "{}", summary(report));
    }
}

// ---- the configurations -----------------------------------------------------

/// An open relay that looks both domains up in DNS
/// (`reject_unknown_sender_domain, reject_unknown_recipient_domain`), where
/// the reserved example domains publish a null MX (as they really do) and
/// [`RELAY_TARGET`] has a real MX.
pub fn null_mx_relay() -> Fixture {
    let fixture = Fixture::start(
        [
            DnsRecord::null_mx("example.com"),
            DnsRecord::null_mx("example.net"),
            DnsRecord::null_mx("example.org"),
            DnsRecord::mx(RELAY_TARGET, 10, "mx.relay-target.test"),
            DnsRecord::a("mx.relay-target.test", "192.0.2.25"),
        ],
        OPEN,
        &["smtpd_relay_restrictions = reject_unknown_sender_domain, reject_unknown_recipient_domain, \
           permit_mynetworks, reject_unauth_destination"],
    );
    // The sender's domain is looked at first, then the recipient's; a
    // domain with a real MX is relayed to from any sender Postfix takes.
    fixture.assert_attempt(
        (HELO, FROM, TO),
        "550 5.7.27 <relaycheck@example.com>: Sender address rejected: Domain example.com does not accept mail (nullMX)",
    );
    fixture.assert_attempt(
        (HELO, "", TO),
        "556 5.1.10 <relaycheck@example.net>: Recipient address rejected: Domain example.net does not accept mail (nullMX)",
    );
    fixture.assert_attempt((HELO, "", &format!("relaycheck@{RELAY_TARGET}")), OK);
    let queries = fixture.dns.queries();
    assert!(queries.contains(&"example.net. MX".to_string()), "Postfix did not ask our DNS: {queries:?}");
    fixture
}

/// What every driver must say of [`null_mx_relay`] with the default
/// recipient domain: inconclusive, the reason naming example.net and every
/// one of `words`, nothing accepted, and the probes refused for the
/// recipient's domain not asked.
pub fn assert_recipient_domain_refused(report: &Value, words: &[&str]) {
    assert_inconclusive(report, &[&["example.net"], words].concat());
    assert!(with_verdict(report, "accepted").is_empty(), "{}", summary(report));
    assert!(
        !not_asked(report, "recipient_domain").is_empty(),
        "no probe was refused for its domain:\n{}",
        summary(report)
    );
}

/// What every driver must say of [`null_mx_relay`] (or another server
/// that checks recipient domains in DNS) with [`RELAY_TARGET`] as the
/// recipient domain: open, every accepted probe to that domain, and no
/// message sent.
pub fn assert_open_to_relay_target(report: &Value, server: &impl Logged) {
    assert_open(report, &[]);
    let accepted = probes(report).iter().filter(|p| p["verdict"] == "accepted");
    assert!(accepted.clone().all(|p| str_of(p, "rcpt_to").contains(RELAY_TARGET)), "{}", summary(report));
    assert!(!server.took_a_message(), "a message was sent:\n{}", server.log());
}

/// An open relay behind `reject_rbl_client` [`BLOCKLIST`], which lists
/// 127.0.0.1 (the checker's address on loopback).
pub fn blocklisted_relay() -> Fixture {
    let reason = "127.0.0.1 is listed for relaycheck's tests";
    let listed = format!("1.0.0.127.{BLOCKLIST}");
    let fixture = Fixture::start(
        [DnsRecord::a(&listed, "127.0.0.2"), DnsRecord::txt(&listed, reason)],
        OPEN,
        &[&format!("smtpd_client_restrictions = reject_rbl_client {BLOCKLIST}")],
    );
    let refusal = format!("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using {BLOCKLIST}; {reason}");
    fixture.assert_attempt((HELO, FROM, TO), &refusal);
    fixture.assert_attempt((HELO, "", &format!("postmaster@{HOSTNAME}")), &refusal);
    fixture
}

/// What every driver must say of [`blocklisted_relay`]: inconclusive, the
/// reason saying the checker itself was refused and naming the blocklist,
/// and every probe not asked for the client.
pub fn assert_client_refused(report: &Value) {
    assert_inconclusive(report, &[BLOCKLIST, "refused our checker itself"]);
    let all: Vec<&str> = probes(report).iter().map(|p| str_of(p, "id")).collect();
    assert_eq!(not_asked(report, "client"), all, "every probe is refused for the client:\n{}", summary(report));
    assert!(all.len() >= 20, "{}", summary(report));
}

/// A relay for nobody but those who greet as the server itself
/// (`check_helo_access inline:{mx.relaycheck.test=OK}` before
/// `reject_unauth_destination`).
pub fn helo_trusting_relay() -> Fixture {
    let fixture = Fixture::start(
        [],
        "",
        &[&format!(
            "smtpd_relay_restrictions = permit_mynetworks, check_helo_access inline:{{{HOSTNAME}=OK}}, \
             reject_unauth_destination"
        )],
    );
    fixture.assert_attempt((HELO, FROM, TO), RELAY_DENIED);
    fixture.assert_attempt((HOSTNAME, FROM, TO), OK);
    fixture
}

/// What every driver must say of [`helo_trusting_relay`]: open by the
/// greeting forged as the server's own name and by nothing else, the manual
/// test refused as relaying, and advice that names the setting.
pub fn assert_open_to_the_server_s_own_greeting(report: &Value) {
    assert_open(report, &["helo-server-name"]);
    let manual = probe(report, "manual");
    assert_eq!(manual["verdict"], "denied", "{}", summary(report));
    assert_eq!(str_of(manual, "reply"), RELAY_DENIED, "{}", summary(report));
    let advice = report["advice"].as_array().into_iter().flatten().filter_map(Value::as_str);
    assert!(
        advice.clone().any(|line| line.contains("check_helo_access")),
        "the advice does not name check_helo_access: {:#?}\n{}",
        advice.collect::<Vec<_>>(),
        summary(report)
    );
}

/// A provider's MX ([`PROVIDER_MX`], 127.0.0.1) that relays for senders in
/// its customer's domain ([`CUSTOMER`], whose MX it is), by
/// `check_sender_access inline:{customer.test=OK}`.
pub fn customer_trusting_provider() -> Fixture {
    let fixture = Fixture::start(
        [DnsRecord::mx(CUSTOMER, 10, PROVIDER_MX), DnsRecord::a(PROVIDER_MX, "127.0.0.1")],
        "",
        &[&format!(
            "smtpd_relay_restrictions = permit_mynetworks, check_sender_access inline:{{{CUSTOMER}=OK}}, \
             reject_unauth_destination"
        )],
    );
    fixture.assert_attempt((HELO, FROM, TO), RELAY_DENIED);
    fixture.assert_attempt((HELO, &format!("relaycheck@{CUSTOMER}"), TO), OK);
    fixture
}

/// What every driver must say of [`CUSTOMER`]'s domain audit at
/// [`customer_trusting_provider`]: open, its one target the provider's MX
/// at 127.0.0.1, open by the sender forged in the customer's domain alone.
pub fn assert_customer_domain_open(domain: &Value) {
    let target = &domain["targets"][0];
    assert_eq!(domain["verdict"], "open", "{domain:#}");
    assert_eq!((str_of(target, "mx_host"), str_of(target, "address")), (PROVIDER_MX, "127.0.0.1"), "{domain:#}");
    assert_eq!(with_verdict(target, "accepted"), ["sender-in-audited-domain"], "{}", summary(target));
    assert_eq!(
        probe(target, "sender-in-audited-domain")["mail_from"],
        format!("relaycheck@{CUSTOMER}"),
        "{}",
        summary(target)
    );
}

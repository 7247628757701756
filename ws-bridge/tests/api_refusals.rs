//! The hosted API (`POST /api/check` of a real `ws-bridge serve`) against
//! the real Postfix configurations of check_refusals.rs that say no for
//! something other than relaying, or relay only for a trusted greeting or
//! sender: each must get the verdict `check` gives it, with the reason in
//! words (`relaycheck_tests::refusals` has the configurations, each proven
//! by a raw SMTP dialogue as it starts, and what every driver must say of
//! them). Loopback only: each bridge may reach exactly its fixture's
//! listener (`--allow-target`), and Postfix, and the bridge for a domain,
//! ask the fixture's own DNS server.

use serde_json::{json, Value};

use relaycheck_tests::bridge::{http_post_json, Bridge};
use relaycheck_tests::refusals::{self, summary, Fixture, CUSTOMER, PROVIDER_MX, RELAY_TARGET};

/// A bridge that may reach `fixture`'s listener and nothing else: at its
/// address, or, with `name`, at that name (which it resolves through the
/// fixture's DNS, as it does every name).
fn bridge(fixture: &Fixture, name: Option<&str>) -> Bridge {
    let addr = fixture.addr();
    let allow = match name {
        Some(name) => format!("{name}:{}", addr.port()),
        None => addr.to_string(),
    };
    let resolver = fixture.dns.addr.to_string();
    Bridge::spawn(env!("CARGO_BIN_EXE_ws-bridge"), &["--allow-target", &allow, "--resolver", &resolver])
}

/// `POST /api/check` with `body` to a [`bridge`] of its own: the answer
/// must be 200 and JSON. Its reason is printed, to be read in words.
fn hosted(fixture: &Fixture, name: Option<&str>, body: Value) -> Value {
    let bridge = bridge(fixture, name);
    let (status, text) = http_post_json(&bridge.url("/api/check"), &body.to_string());
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: not JSON ({e}): {text}"));
    assert_eq!(status, 200, "{body}: {report:#}\n--- bridge log ---\n{}", bridge.log());
    eprintln!("{body}: {}: {}", report["verdict"], report["reason"]);
    report
}

/// The body that audits `fixture`'s listener as a host (its address),
/// with the default recipient domain or `to_domain`.
fn host(fixture: &Fixture, to_domain: Option<&str>) -> Value {
    let addr = fixture.addr();
    let mut body = json!({"host": addr.ip().to_string(), "port": addr.port()});
    if let Some(domain) = to_domain {
        body["to_domain"] = json!(domain);
    }
    body
}

#[test]
fn a_relay_refusing_the_null_mx_recipient_domain_is_inconclusive_until_to_domain_has_a_real_mx() {
    let fixture = refusals::null_mx_relay();
    refusals::assert_recipient_domain_refused(&hosted(&fixture, None, host(&fixture, None)), &[]);

    let report = hosted(&fixture, None, host(&fixture, Some(RELAY_TARGET)));
    refusals::assert_open_to_relay_target(&report, &fixture.postfix);
    assert_eq!(report["to_domain"], RELAY_TARGET, "{}", summary(&report));
}

#[test]
fn a_relay_whose_blocklist_lists_the_checker_is_inconclusive_and_says_the_checker_was_refused() {
    let fixture = refusals::blocklisted_relay();
    refusals::assert_client_refused(&hosted(&fixture, None, host(&fixture, None)));
}

#[test]
fn a_relay_trusting_the_server_s_own_greeting_is_open_and_the_advice_names_check_helo_access() {
    let fixture = refusals::helo_trusting_relay();
    refusals::assert_open_to_the_server_s_own_greeting(&hosted(&fixture, None, host(&fixture, None)));
}

#[test]
fn a_provider_s_mx_trusting_its_customer_s_senders_makes_the_customer_domain_open() {
    let fixture = refusals::customer_trusting_provider();
    let body = json!({"domain": CUSTOMER, "port": fixture.addr().port()});
    refusals::assert_customer_domain_open(&hosted(&fixture, Some(PROVIDER_MX), body));
}

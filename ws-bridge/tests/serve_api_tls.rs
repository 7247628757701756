//! The hosted API with TLS: `POST /api/check` takes `tls` (never, auto,
//! always) and `implicit_tls`, runs the same driver as `check`, and caches
//! each TLS choice on its own.

use relaycheck_tests::bridge::{http_post_json, Bridge};
use relaycheck_tests::certs::{TestCa, Validity};
use relaycheck_tests::postfix::{Policy, Postfix, Tls, TlsListener, HOSTNAME};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

fn check(bridge: &Bridge, body: &str) -> (u16, Value) {
    let (status, text) = http_post_json(&bridge.url("/api/check"), body);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: not JSON ({e}): {text}"));
    (status, json)
}

#[test]
fn the_hosted_api_audits_inside_tls_as_asked() {
    let ca = TestCa::new();
    let cert = ca.leaf(&[HOSTNAME, "127.0.0.1"], Validity::Current);
    let postfix = Postfix::start_tls(&[
        TlsListener { policy: Policy::Open, tls: Tls::Required, cert: &cert },
        TlsListener { policy: Policy::Closed, tls: Tls::Implicit, cert: &cert },
    ]);
    let (tls_only, implicit) = (postfix.listener(0), postfix.listener(1));
    let bridge =
        Bridge::spawn(BIN, &["--allow-target", &tls_only.to_string(), "--allow-target", &implicit.to_string()]);

    // By default the relay behind required STARTTLS is found open.
    let (status, report) = check(&bridge, &format!(r#"{{"host":"127.0.0.1","port":{}}}"#, tls_only.port()));
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["verdict"], "open", "{:#}", report["reason"]);
    assert_eq!(report["tls"]["required"], true);
    assert_eq!(report["tls"]["facts"]["name_matches"], true, "{:#}", report["tls"]);

    // "never" is another audit, not the cached answer of "auto".
    let body = format!(r#"{{"host":"127.0.0.1","port":{},"tls":"never"}}"#, tls_only.port());
    let (status, report) = check(&bridge, &body);
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["cached"], false, "{report:#}");
    assert_eq!(report["verdict"], "blocked", "{:#}", report["reason"]);

    // TLS from the first byte, asked for on a port that is not 465.
    let body = format!(r#"{{"host":"127.0.0.1","port":{},"implicit_tls":true}}"#, implicit.port());
    let (status, report) = check(&bridge, &body);
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["verdict"], "closed", "{:#}", report["reason"]);
    assert_eq!(report["tls"]["how"], "implicit", "{:#}", report["tls"]);

    // A choice that is not one is refused in words.
    let body = format!(r#"{{"host":"127.0.0.1","port":{},"tls":"sometimes"}}"#, tls_only.port());
    let (status, body) = check(&bridge, &body);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("never, auto, always"), "{message}");
}

//! The hosted API: the same engine and the same policy, answered in JSON.

use std::sync::atomic::Ordering;

use relaycheck_tests::bridge::{http_get, http_post_json, http_request, Bridge};
use relaycheck_tests::dns::{DnsRecord, DnsServer};
use relaycheck_tests::postfix::{Policy, Postfix};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

fn get_json(bridge: &Bridge, path: &str) -> (u16, Value) {
    let (status, body) = http_get(&bridge.url(path));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (status, json)
}

/// `POST /api/check` with `body` as its JSON.
fn check(bridge: &Bridge, body: &str) -> (u16, Value) {
    let (status, text) = http_post_json(&bridge.url("/api/check"), body);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: not JSON ({e}): {text}"));
    (status, json)
}

#[test]
fn check_returns_the_report_of_check_json() {
    let postfix = Postfix::start(&[Policy::Closed]);
    let closed = postfix.addr(Policy::Closed);
    let bridge = Bridge::spawn(BIN, &["--allow-target", &closed.to_string(), "--lab"]);
    let (status, report) = check(&bridge, &format!(r#"{{"host":"127.0.0.1","port":{}}}"#, closed.port()));
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["verdict"], "closed", "{report:#}");
    assert!(report["probes"].as_array().unwrap().iter().all(|p| p["verdict"] == "denied"));
    for field in ["reason", "server", "transcript", "elapsed_ms"] {
        assert!(report.get(field).is_some(), "missing {field}");
    }

    let (_, open) = bridge.lab.unwrap();
    let (_, report) = check(&bridge, &format!(r#"{{"host":"127.0.0.1","port":"{}"}}"#, open.port()));
    assert_eq!(report["verdict"], "open");

    // The same policy as the websocket: no private addresses, no odd ports.
    let (status, body) = check(&bridge, r#"{"host":"10.0.0.1","port":25}"#);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("address_denied")), "{body}");
    let (status, body) = check(&bridge, r#"{"host":"192.0.2.1","port":2525}"#);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("port_not_allowed")), "{body}");
    let (status, body) = check(&bridge, r#"{"port":25}"#);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = check(&bridge, r#"{"host":"127.0.0.1","port":25,"to_domain":"a b"}"#);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");

    // Metrics count what happened.
    let (status, metrics) = http_get(&bridge.url("/metrics"));
    assert_eq!(status, 200);
    assert!(metrics.contains("relaycheck_audits_total{verdict=\"closed\"} 1"), "{metrics}");
    assert!(metrics.contains("relaycheck_audits_total{verdict=\"open\"} 1"), "{metrics}");
    assert!(metrics.contains("relaycheck_refusals_total{reason=\"address_denied\"} 1"), "{metrics}");
    assert!(metrics.contains("relaycheck_refusals_total{reason=\"port_not_allowed\"} 1"), "{metrics}");
}

#[test]
fn mx_lists_hosts_addresses_and_what_the_policy_allows() {
    // Addresses here are only data: nothing connects to them.
    let dns = DnsServer::start([
        DnsRecord::mx("mail.test", 20, "mx2.mail.test"),
        DnsRecord::mx("mail.test", 10, "mx1.mail.test"),
        DnsRecord::a("mx1.mail.test", "93.184.215.14"),
        DnsRecord::a("mx2.mail.test", "10.20.30.40"),
        DnsRecord::null_mx("nullmx.test"),
    ]);
    let bridge = Bridge::spawn(BIN, &["--resolver", &dns.addr.to_string()]);
    let (status, body) = get_json(&bridge, "/api/mx?domain=mail.test");
    assert_eq!(status, 200, "{body}");
    let hosts = body["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!((hosts[0]["exchange"].as_str(), hosts[0]["preference"].as_u64()), (Some("mx1.mail.test"), Some(10)));
    assert_eq!(hosts[0]["addresses"][0]["address"], "93.184.215.14");
    assert_eq!(hosts[0]["allowed"], true);
    assert_eq!(hosts[1]["allowed"], false);
    assert!(hosts[1]["addresses"][0]["reason"].as_str().unwrap().contains("private"), "{body}");
    assert!(!body.to_string().contains("10.20.30.40"), "a denied address is never shown: {body}");

    let (status, body) = get_json(&bridge, "/api/mx?domain=nullmx.test");
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("accepts no mail"), "{body}");
    let (status, body) = get_json(&bridge, "/api/mx?domain=nowhere.test");
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unknown_host")), "{body}");
}

#[test]
fn healthz_lab_and_the_page() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (status, body) = get_json(&bridge, "/healthz");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["lab"], true);
    let (_, lab) = get_json(&bridge, "/api/lab");
    let targets = lab["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    let (closed, open) = bridge.lab.unwrap();
    assert_eq!(targets[0]["port"].as_u64(), Some(u64::from(closed.port())));
    assert_eq!(targets[1]["port"].as_u64(), Some(u64::from(open.port())));
    // The page is served by the bridge itself (or it says how to build it).
    let (status, page) = http_get(&bridge.url("/"));
    if body["page"] == true {
        assert_eq!(status, 200);
        assert!(page.contains("relaycheck"), "{page}");
    } else {
        assert_eq!(status, 503);
        assert!(page.contains("trunk build"), "{page}");
    }
}

/// Finding 2: no audit from a link, an image or another site's page.
#[test]
fn check_is_a_json_post_that_other_sites_cannot_make() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (_, open) = bridge.lab.unwrap();
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, open.port());
    let url = bridge.url("/api/check");
    let (status, text) = http_get(&bridge.url(&format!("/api/check?host=127.0.0.1&port={}", open.port())));
    assert_eq!(status, 405, "{text}");
    assert!(text.contains("POST"), "{text}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, text) = http_request("POST", &url, &form, &body);
    assert_eq!(status, 415, "a form post (no preflight) is refused: {text}");
    let evil = [("Content-Type", "application/json"), ("Origin", "http://evil.example")];
    let (status, text) = http_request("POST", &url, &evil, &body);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("origin_not_allowed"), "{text}");
    let own = [("Content-Type", "application/json"), ("Origin", &bridge.origin())];
    let (status, text) = http_request("POST", &url, &own, &body);
    assert_eq!(status, 200, "the page's own origin may: {text}");
    let (_, metrics) = http_get(&bridge.url("/metrics"));
    assert!(metrics.contains("relaycheck_refusals_total{reason=\"origin_not_allowed\"} 1"), "{metrics}");
}

/// Finding 1: a hosted audit is charged per TCP connection it opens, so
/// hosted audits of one server never open more connections to it than
/// `--connects-per-destination` allows.
#[tokio::test(flavor = "multi_thread")]
async fn hosted_audits_are_charged_for_every_connection() {
    let sink = relaycheck_tests::sink::Sink::start().await;
    // No cache: every audit of the same server runs (the cache: tests/fleet.rs).
    let bridge = Bridge::spawn(
        BIN,
        &["--allow-target", &sink.addr.to_string(), "--connects-per-destination", "10", "--cache-ttl", "0"],
    );
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, sink.addr.port());
    let mut answers = Vec::new();
    for _ in 0..3 {
        let url = bridge.url("/api/check");
        let body = body.clone();
        answers.push(tokio::task::spawn_blocking(move || http_post_json(&url, &body)).await.unwrap());
    }
    let accepted = sink.accepted.load(Ordering::SeqCst);
    assert!(accepted <= 10, "{accepted} connections to one server with a rate of 10 a minute: {answers:?}");
    let (status, last) = answers.last().unwrap();
    assert_eq!(*status, 429, "{last}");
    assert!(last.contains("destination_rate_limited"), "{last}");
}

/// Finding 7: a page whose name was rebound to the bridge's address gets
/// nothing, even though its Origin equals its Host.
#[test]
fn a_rebound_name_is_not_answered() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let rebound = format!("rebind.example:{}", bridge.addr.port());
    let origin = format!("http://{rebound}");
    let (status, text) = http_request("GET", &bridge.url("/api/lab"), &[("Host", &rebound)], "");
    assert_eq!(status, 421, "{text}");
    assert!(text.contains("host_not_allowed"), "{text}");
    let (_, open) = bridge.lab.unwrap();
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, open.port());
    let headers = [("Host", rebound.as_str()), ("Origin", origin.as_str()), ("Content-Type", "application/json")];
    let (status, text) = http_request("POST", &bridge.url("/api/check"), &headers, &body);
    assert_eq!(status, 421, "{text}");
    // Addresses and localhost name the bridge itself; so do configured origins.
    for host in [bridge.addr.to_string(), format!("localhost:{}", bridge.addr.port())] {
        assert_eq!(http_request("GET", &bridge.url("/api/lab"), &[("Host", &host)], "").0, 200, "{host}");
    }
    let bridge = Bridge::spawn(BIN, &["--origin", "https://relaycheck.example"]);
    let (status, text) = http_request("GET", &bridge.url("/api/lab"), &[("Host", "relaycheck.example")], "");
    assert_eq!(status, 200, "{text}");
    let (_, metrics) = http_get(&bridge.url("/metrics"));
    assert!(!metrics.contains("host_not_allowed"), "{metrics}");
}

/// Item 10: `/metrics` can move off the public listener.
#[test]
fn metrics_can_move_to_another_listener() {
    let port = relaycheck_tests::net::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let bridge = Bridge::spawn(BIN, &["--metrics-listen", &metrics]);
    let (status, _) = http_get(&bridge.url("/metrics"));
    assert_eq!(status, 404, "no longer on the public listener");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        if std::net::TcpStream::connect(&metrics).is_ok() {
            break http_get(&format!("http://{metrics}/metrics")).1;
        }
        assert!(std::time::Instant::now() < until, "nothing listens on {metrics}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(text.contains("relaycheck_sessions_total"), "{text}");
}

/// A mail server that accepts connections and never says a word (a tarpit),
/// counting the connections it holds open.
fn start_tarpit() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the tarpit");
    let addr = listener.local_addr().unwrap();
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = open.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let count = count.clone();
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 512];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

#[test]
fn a_hosted_audit_ends_when_its_caller_goes_away() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    // The audit would wait 20 s for a banner; the caller hangs up at once.
    let (tarpit, open) = start_tarpit();
    let bridge = Bridge::spawn(BIN, &["--allow-target", &tarpit.to_string()]);
    let host = bridge.addr.to_string();
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, tarpit.port());
    let mut caller = std::net::TcpStream::connect(bridge.addr).expect("connect to the bridge");
    write!(
        caller,
        "POST /api/check HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while open.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < until, "the hosted audit never reached the tarpit\n{}", bridge.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(caller);
    let gone = Instant::now();
    while open.load(Ordering::SeqCst) > 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(3),
            "the audit of a departed caller still holds {} connection(s) to the server after 3 s",
            open.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

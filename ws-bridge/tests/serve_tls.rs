//! TLS through the bridge (issue 11): the page says STARTTLS in plain text,
//! the bridge does the handshake with the server itself and tells the page
//! what it saw; the guard goes on reading every line, so DATA still never
//! reaches an open relay inside TLS. Real Postfix with certificates made by
//! the test; scripted servers for handshakes that go wrong. Loopback only.

use std::time::Duration;

use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Config, Verdict};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::certs::{TestCa, Validity};
use relaycheck_tests::postfix::{Policy, Postfix, Tls, TlsListener};
use relaycheck_tests::ws::{audit, Frame, WsSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const WAIT: Duration = Duration::from_secs(20);

/// Postfix with three listeners: an open relay that demands STARTTLS, a
/// closed one that offers it, and a closed one on implicit TLS.
fn tls_postfix(ca: &TestCa) -> Postfix {
    let cert = ca.leaf(&["mx.relaycheck.test"], Validity::Current);
    Postfix::start_tls(&[
        TlsListener { policy: Policy::Open, tls: Tls::Required, cert: &cert },
        TlsListener { policy: Policy::Closed, tls: Tls::Offered, cert: &cert },
        TlsListener { policy: Policy::Closed, tls: Tls::Implicit, cert: &cert },
    ])
}

fn allow(postfix: &Postfix) -> Vec<String> {
    (0..3).flat_map(|i| ["--allow-target".to_string(), postfix.listener(i).to_string()]).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_never_reaches_an_open_relay_inside_tls() {
    let ca = TestCa::new();
    let postfix = tls_postfix(&ca);
    let open = postfix.listener(0);
    let args = allow(&postfix);
    let bridge = Bridge::spawn(BIN, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", open.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", WAIT).await;
    ws.send(b"EHLO relaycheck.invalid\r\n").await;
    let (ehlo, _) = ws.read_until("250 ", WAIT).await;
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");

    ws.send(b"STARTTLS\r\n").await;
    let (ready, _) = ws.read_until("220 ", WAIT).await;
    assert!(ready.contains("Ready to start TLS"), "{ready}");
    let facts = match ws.next_event(WAIT).await {
        BridgeEvent::TlsEstablished { facts } => facts,
        other => panic!("expected the TLS facts, got {other:?}"),
    };
    assert!(facts.version.starts_with("TLSv1."), "{facts:?}");
    assert_eq!(facts.checked_name, "127.0.0.1");
    let leaf = facts.leaf().expect("the server's certificate");
    assert!(leaf.names.contains(&"mx.relaycheck.test".to_string()), "{leaf:?}");
    assert!(!facts.trusted, "the test's CA is not one of Mozilla's roots");

    // Inside TLS, in plain text to the bridge: what a page bent on spam
    // would try. The relay answers; DATA never reaches it.
    ws.send(b"EHLO relaycheck.invalid\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await;
    let (text, events) = ws.read_until("250 2.1.5", WAIT).await;
    assert!(text.contains("250 2.1.0"), "MAIL is taken inside TLS: {text}");
    assert!(
        events.iter().any(|e| matches!(e, BridgeEvent::Refused { command: Some(c), .. } if c == "DATA")),
        "{events:?}"
    );
    ws.send(b"STARTTLS\r\nQUIT\r\n").await;
    let (text, events) = ws.read_until("221 ", WAIT).await;
    assert!(!text.contains("354"), "{text}");
    assert!(events.iter().any(|e| matches!(e, BridgeEvent::Refused { code, .. } if code == "tls_again")), "{events:?}");

    let until = std::time::Instant::now() + WAIT;
    let line = loop {
        let log = postfix.log();
        if let Some(l) = log.lines().find(|l| l.contains("disconnect from") && l.contains("starttls=")) {
            break l.to_string();
        }
        assert!(std::time::Instant::now() < until, "no disconnect line in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains("starttls=1") && line.contains("rcpt=1"), "{line}");
    assert!(!line.contains("data="), "Postfix saw DATA: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn audits_through_the_bridge_go_into_tls_as_the_server_asks() {
    let ca = TestCa::new();
    let postfix = tls_postfix(&ca);
    let args = allow(&postfix);
    let bridge = Bridge::spawn(BIN, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let origin = bridge.origin();

    // The open relay that demands STARTTLS: open, not blocked.
    let open = audit(bridge.addr, &origin, "127.0.0.1", postfix.listener(0).port(), Config::default()).await;
    assert_eq!(open.verdict, Verdict::Open, "{}", open.reason);
    let tls = open.tls.as_ref().expect("TLS facts");
    assert!(tls.required && tls.facts.is_some(), "{tls:?}");

    // Offered, not required: closed in plain text, the facts read aside.
    let offered = audit(bridge.addr, &origin, "127.0.0.1", postfix.listener(1).port(), Config::default()).await;
    assert_eq!(offered.verdict, Verdict::Closed, "{}", offered.reason);
    let tls = offered.tls.as_ref().unwrap_or_else(|| {
        panic!(
            "TLS facts: {:#?}",
            offered
                .transcript
                .iter()
                .map(|l| format!("{} {:?} {}", l.connection, l.direction, l.text))
                .collect::<Vec<_>>()
        )
    });
    assert!(!tls.required && tls.facts.is_some(), "{tls:?}");

    // Port 465's way: TLS from the first byte.
    let config = Config { implicit_tls: true, ..Config::default() };
    let implicit = audit(bridge.addr, &origin, "127.0.0.1", postfix.listener(2).port(), config).await;
    assert_eq!(implicit.verdict, Verdict::Closed, "{}", implicit.reason);
    assert_eq!(implicit.tls.as_ref().map(|t| t.how.as_str()), Some("implicit"));
}

/// A server on loopback that answers 220 to STARTTLS and then does `then`
/// with the client's handshake: sends garbage, closes, or says nothing.
async fn bad_tls_server(then: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = conn.write_all(b"220 mx.bad.test ESMTP\r\n").await;
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = conn.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if text.ends_with("STARTTLS\r\n") {
                        let _ = conn.write_all(b"220 2.0.0 Ready to start TLS\r\n").await;
                        break;
                    }
                    if text.ends_with("\r\n") {
                        let _ = conn.write_all(b"250-mx.bad.test\r\n250 STARTTLS\r\n").await;
                        seen.clear();
                    }
                }
                let _ = conn.read(&mut buf).await; // the ClientHello
                match then {
                    "garbage" => {
                        let _ = conn.write_all(&[b'x'; 2048]).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    "close" => {}
                    _ => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handshake_that_goes_wrong_is_said_in_words_and_ends_the_session() {
    for (then, words) in
        [("garbage", "not TLS"), ("close", "closed"), ("silent", "did not finish the TLS handshake within 2 s")]
    {
        let server = bad_tls_server(then).await;
        let bridge = Bridge::spawn(BIN, &["--allow-target", &server.to_string(), "--timeout", "2"]);
        let query = WsQuery { host: "127.0.0.1".into(), port: server.port(), implicit_tls: false, tls_name: None };
        let mut ws = WsSession::open_query(bridge.addr, &query, Some(&bridge.origin())).await;
        assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
        ws.read_until("220 ", WAIT).await;
        ws.send(b"EHLO relaycheck.invalid\r\n").await;
        ws.read_until("250 ", WAIT).await;
        ws.send(b"STARTTLS\r\n").await;
        ws.read_until("220 ", WAIT).await;
        let reason = match ws.next_event(WAIT).await {
            BridgeEvent::TlsFailed { reason } => reason,
            other => panic!("{then}: expected the failure in words, got {other:?}"),
        };
        assert!(reason.contains(words), "{then}: {reason}");
        // Then the bridge closes: nothing hangs.
        let closed = loop {
            match ws.next(WAIT).await {
                Some(Frame::Closed) => break true,
                Some(_) => continue,
                None => break false,
            }
        };
        assert!(closed, "{then}: the session did not end");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_certificate_is_named_through_the_bridge_and_does_not_stop_the_audit() {
    let ca = TestCa::new();
    let expired = ca.leaf(&["mx.relaycheck.test", "127.0.0.1"], Validity::Expired);
    let other = ca.leaf(&["other.example"], Validity::Current);
    let own = relaycheck_tests::certs::self_signed(&["mx.relaycheck.test", "127.0.0.1"], Validity::Current);
    let postfix = Postfix::start_tls(&[
        TlsListener { policy: Policy::Closed, tls: Tls::Offered, cert: &expired },
        TlsListener { policy: Policy::Closed, tls: Tls::Offered, cert: &other },
        TlsListener { policy: Policy::Open, tls: Tls::Required, cert: &own },
    ]);
    let args = allow(&postfix);
    let bridge = Bridge::spawn(BIN, &args.iter().map(String::as_str).collect::<Vec<_>>());
    for (listener, verdict, words) in [
        (0, Verdict::Closed, "the certificate expired on 2021-01-01"),
        (1, Verdict::Closed, "it is for other.example, not 127.0.0.1"),
        (2, Verdict::Open, "it is signed by nobody Mozilla trusts (self-signed)"),
    ] {
        let port = postfix.listener(listener).port();
        let report = audit(bridge.addr, &bridge.origin(), "127.0.0.1", port, Config::default()).await;
        assert_eq!(report.verdict, verdict, "listener {listener}: {}", report.reason);
        let facts = report.tls.as_ref().and_then(|t| t.facts.as_ref()).expect("facts");
        let problem = facts.trust_problem.as_deref().unwrap_or_default();
        assert!(problem.contains(words), "listener {listener}: {problem}");
        assert!(
            report.findings.iter().any(|f| f.id == "tls-certificate-untrusted" && f.text.contains(words)),
            "listener {listener}: {:?}",
            report.findings
        );
    }
}

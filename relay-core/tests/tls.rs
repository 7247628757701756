//! TLS as the engine drives it (issue 11): a server that demands STARTTLS
//! is asked inside TLS and gets a real verdict; a server that offers it has
//! its TLS facts read on a connection of their own; a handshake that fails
//! or stalls is said in words; port 465 is TLS from the first byte. The
//! harness plays the driver's part: it answers `Event::StartTls` with the
//! handshake's outcome, and checks that nothing is sent between STARTTLS
//! and TLS, and that the client greets again inside TLS (RFC 3207 §4.2).

mod common;

use common::{postfix, run, run_with, secs, tls_facts, Delivery, Run, Script};
use relay_core::{Config, Event, Outcome, ProbeVerdict, StepKind, TlsFailure, TlsMode, Tone, Verdict};

/// Postfix with `smtpd_tls_security_level = encrypt`: MAIL in plain text
/// gets 530; inside TLS, RCPT gets `relay`'s answer.
fn encrypt_only(rcpt: &str) -> Script {
    postfix().starttls(Ok(tls_facts("mx.example.org"))).requires_tls().on("RCPT", rcpt)
}

fn starttls_sent(run: &Run, conn: usize) -> bool {
    run.commands(conn).contains(&"STARTTLS")
}

fn step_kinds(run: &Run) -> Vec<StepKind> {
    run.report.steps.iter().map(|s| s.kind).collect()
}

#[test]
fn an_open_relay_reachable_only_inside_tls_is_open() {
    let run = run(Config::default(), |_| encrypt_only("250 2.1.5 Ok"));

    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    let manual = run.probe("manual");
    assert_eq!(manual.outcome, Outcome::Accepted, "the manual test was asked again inside TLS");
    let tls = run.report.tls.as_ref().expect("the report has the TLS facts");
    assert!(tls.required, "the server demanded TLS");
    assert_eq!(tls.how, "starttls");
    assert_eq!(tls.facts.as_ref().map(|f| f.version.as_str()), Some("TLSv1.3"));
    // The manual test as a person would do it with openssl s_client: the
    // 530, then TLS, then the sender again.
    let kinds = step_kinds(&run);
    let demand = kinds.iter().position(|k| *k == StepKind::Sender).expect("a sender step");
    let tls_step = kinds.iter().position(|k| *k == StepKind::Tls).expect("a TLS step");
    assert!(demand < tls_step, "{kinds:?}");
    assert!(run.report.steps[demand].meaning.contains("wants TLS"), "{}", run.report.steps[demand].meaning);
    assert_eq!(run.report.steps[tls_step].sent.as_deref(), Some("STARTTLS"));
    assert!(kinds[tls_step..].contains(&StepKind::Recipient), "{kinds:?}");
    // Every answer to a relay question came inside TLS (in plain text, only
    // a pipelined RCPT after the 530 went out, and got "need MAIL").
    for p in &run.report.probes {
        let conn = &run.conns[p.connection as usize - 1];
        assert!(conn.secure, "{} was answered in plain text: {:?}", p.id, p.reply);
    }
}

#[test]
fn a_closed_server_that_demands_tls_is_closed_not_blocked() {
    for delivery in [Delivery::Whole, Delivery::Bytewise, Delivery::ResetOnClose] {
        let run = run_with(Config::default(), delivery, |_| encrypt_only("554 5.7.1 Relay access denied"));
        assert_eq!(run.report.verdict, Verdict::Closed, "{delivery:?}: {}", run.report.reason);
        for p in &run.report.probes {
            assert_ne!(p.verdict, ProbeVerdict::Blocked, "{delivery:?}: {} was never asked", p.id);
        }
        assert!(run.report.connections <= 40, "{delivery:?}: {} connections", run.report.connections);
    }
}

#[test]
fn a_server_that_offers_tls_has_its_facts_read_on_a_connection_of_their_own() {
    let plain = run(Config { tls: TlsMode::Never, ..Config::default() }, |_| postfix());
    let run = run(Config::default(), |_| postfix().starttls(Ok(tls_facts("mx.example.org"))));

    assert_eq!(run.report.verdict, Verdict::Closed);
    assert_eq!(run.report.connections, plain.report.connections + 1, "one connection more, for the facts");
    let facts_conns: Vec<usize> = (0..run.conns.len()).filter(|&i| starttls_sent(&run, i)).collect();
    assert_eq!(facts_conns.len(), 1, "one connection reads the facts");
    assert_eq!(run.commands(facts_conns[0]), ["EHLO relaycheck.invalid", "STARTTLS", "QUIT"]);
    let tls = run.report.tls.as_ref().expect("facts");
    assert!(!tls.required);
    assert_eq!(tls.facts.as_ref().unwrap().checked_name, "mx.example.org");
    let step = run.report.steps.iter().find(|s| s.kind == StepKind::Tls).expect("a TLS step");
    assert_eq!(step.tone, Tone::Warning, "a certificate Mozilla does not trust is worth a look");
    assert!(step.details.iter().any(|d| d.starts_with("Not trusted by Mozilla's roots")), "{:?}", step.details);
    // The relay test itself ran in plain text, as the manual test does.
    for (i, _) in run.probing_conns() {
        assert!(!starttls_sent(&run, i), "connection {i}");
    }
    assert!(plain.report.tls.is_none() && (0..plain.conns.len()).all(|i| !starttls_sent(&plain, i)));
    // It runs beside the probing connections, one more than they are: a
    // bridge lets a page have all of one audit's at once.
    let intervals: Vec<_> =
        run.conns.iter().filter_map(|c| Some((c.connected_at?, c.closed_by_client.or(c.closed_by_server)?))).collect();
    let peak = intervals.iter().map(|&(at, _)| intervals.iter().filter(|&&(a, b)| a <= at && at < b).count()).max();
    assert!(peak <= Some(Config::default().parallel_connections + 1), "{peak:?} connections open at once");
    // And it runs beside them: STARTTLS and the handshake cost it two round
    // trips more than a pipelined group of probes, no more.
    let probing_ended = run.probing_conns().filter_map(|(_, c)| c.closed_by_client.or(c.closed_by_server)).max();
    let later = run.finished_at - probing_ended.unwrap();
    assert!(later <= 2 * common::LATENCY, "the facts connection ended {later:?} after the probing");
}

#[test]
fn never_means_never_and_always_means_every_connection() {
    let never = run(Config { tls: TlsMode::Never, ..Config::default() }, |_| encrypt_only("250 2.1.5 Ok"));
    assert_eq!(never.report.verdict, Verdict::Blocked, "{}", never.report.reason);
    assert!((0..never.conns.len()).all(|i| !starttls_sent(&never, i)));

    let always = run(Config { tls: TlsMode::Always, ..Config::default() }, |_| {
        postfix().starttls(Ok(tls_facts("mx.example.org")))
    });
    assert_eq!(always.report.verdict, Verdict::Closed);
    for (i, conn) in always.probing_conns() {
        assert!(conn.secure, "connection {i} probed in plain text");
    }
}

#[test]
fn a_failed_handshake_is_said_in_words_and_ends_the_audit() {
    let failure = TlsFailure { reason: "no protocol version in common: the server offers only TLS 1.0".into() };
    let run =
        run(Config::default(), |_| postfix().starttls(Err(failure.clone())).requires_tls().on("RCPT", "250 2.1.5 Ok"));

    assert_eq!(run.report.verdict, Verdict::Blocked);
    assert!(run.report.reason.contains("TLS could not be started"), "{}", run.report.reason);
    assert!(run.report.reason.contains("only TLS 1.0"), "{}", run.report.reason);
    assert!(run.report.probes.iter().all(|p| p.verdict == ProbeVerdict::Blocked));
    assert_eq!(run.report.tls.as_ref().and_then(|t| t.failure.as_deref()), Some(failure.reason.as_str()));
    let step = run.report.steps.iter().find(|s| s.kind == StepKind::Tls).expect("a TLS step");
    assert_eq!(step.tone, Tone::Bad);
    // Once TLS is known not to work, no new connection tries it: only those
    // already under way when the first handshake failed (one wave).
    let tries = (0..run.conns.len()).filter(|&i| starttls_sent(&run, i)).count();
    assert!(tries <= Config::default().parallel_connections + 1, "{tries} connections tried STARTTLS");
}

#[test]
fn a_handshake_that_never_ends_times_out() {
    // The server says 220 to STARTTLS and then never finishes the
    // handshake, so the driver never reports back.
    let config = Config { reply_timeout: secs(7), ..Config::default() };
    let run = run(config, |_| postfix().starttls(Ok(tls_facts("mx.example.org"))).requires_tls().stall_handshake());
    assert_eq!(run.report.verdict, Verdict::Blocked, "{}", run.report.reason);
    assert!(run.report.reason.contains("did not finish the TLS handshake within 7 s"), "{}", run.report.reason);
}

#[test]
fn plain_text_after_the_220_is_thrown_away() {
    // A man in the middle (or a broken server) appends a reply to the 220:
    // read after TLS starts, it would answer our next EHLO (CVE-2011-0411).
    let clean = run(Config::default(), |_| encrypt_only("554 5.7.1 Relay access denied"));
    let probes = |r: &Run| r.report.probes.iter().map(|p| p.outcome.clone()).collect::<Vec<_>>();
    for delivery in [Delivery::Whole, Delivery::Bytewise] {
        let injected = run_with(Config::default(), delivery, |_| {
            encrypt_only("554 5.7.1 Relay access denied")
                .on("STARTTLS", "220 2.0.0 Ready to start TLS\n250 2.1.5 injected: every recipient welcome")
        });
        assert_eq!(probes(&injected), probes(&clean), "{delivery:?}");
        assert!(
            !injected.report.transcript.iter().any(|l| l.text.contains("injected")),
            "{delivery:?}: the injected reply was read"
        );
    }
}

#[test]
fn port_465_is_tls_from_the_first_byte() {
    let config = Config { implicit_tls: true, ..Config::default() };
    let ok = run(config.clone(), |_| postfix().implicit_tls(Ok(tls_facts("mx.example.org"))));
    assert_eq!(ok.report.verdict, Verdict::Closed);
    let tls = ok.report.tls.as_ref().expect("facts");
    assert_eq!(tls.how, "implicit");
    assert!((0..ok.conns.len()).all(|i| !starttls_sent(&ok, i)), "no STARTTLS inside TLS");
    let kinds = step_kinds(&ok);
    assert_eq!(&kinds[..3], [StepKind::Connect, StepKind::Tls, StepKind::Banner]);
    assert!(ok.report.steps[1].sent.as_deref().unwrap().starts_with("openssl s_client -connect mx.example.org:25"));

    let failure = TlsFailure { reason: "the server closed the connection during the TLS handshake".into() };
    let failed = run(config, |_| postfix().implicit_tls(Err(failure.clone())));
    assert_eq!(failed.report.verdict, Verdict::Blocked, "{}", failed.report.reason);
    assert!(failed.report.probes.len() >= 20, "the report lists every probe");
    assert!(failed.report.reason.contains("closed the connection during the TLS handshake"));
    assert!(!failed.events.iter().any(|e| matches!(e, Event::StartTls(_))));
}

#[test]
fn findings_name_a_password_in_clear_a_missing_starttls_and_an_untrusted_certificate() {
    let ids = |r: &Run| r.report.findings.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
    let with_auth = run(Config::default(), |_| {
        postfix()
            .on("EHLO", "250-mx.example.org\n250-PIPELINING\n250-AUTH PLAIN LOGIN\n250-STARTTLS\n250 8BITMIME")
            .starttls(Ok(tls_facts("mx.example.org")))
    });
    let found = ids(&with_auth);
    assert!(found.contains(&"auth-before-tls".to_string()), "{found:?}");
    assert!(found.contains(&"tls-certificate-untrusted".to_string()), "{found:?}");
    assert!(!found.contains(&"starttls-missing".to_string()), "{found:?}");
    let auth = with_auth.report.findings.iter().find(|f| f.id == "auth-before-tls").unwrap();
    assert!(auth.text.contains("AUTH PLAIN and LOGIN"), "{}", auth.text);

    let without = run(Config::default(), |_| postfix().on("EHLO", "250-mx.example.org\n250-PIPELINING\n250 8BITMIME"));
    assert!(ids(&without).contains(&"starttls-missing".to_string()), "{:?}", ids(&without));
    assert!(without.report.tls.is_none(), "nothing to read when nothing is offered");
    // The facts connection opened with the others, before STARTTLS was
    // known to be missing, only greets and leaves.
    let never = run(Config { tls: TlsMode::Never, ..Config::default() }, |_| postfix());
    assert_eq!(without.report.connections, never.report.connections + 1);
    assert!((0..without.conns.len()).all(|i| !starttls_sent(&without, i)));
    assert!(without.conns.iter().any(|c| c.commands == ["EHLO relaycheck.invalid", "QUIT"]));
}

//! Transcript fixtures: whole audits against a scripted fake server (see
//! `common/mod.rs`). Each test reads as: what the server says, then what the
//! report and the bytes on the wire must be.

mod common;

use common::{ms, postfix, postfix_without_pipelining, run, secs, Run, Script, HOST, PEER};
use relay_core::{Config, Event, Outcome, ProbeKind, ProbeVerdict, Session, Stage, TlsMode, Verdict};

fn closed_postfix() -> Run {
    run(Config::default(), |_| postfix())
}

/// RSET, MAIL and RCPT of every probe on connection `i`, as the report says
/// they were planned there, in wire form.
fn probe_commands(run: &Run, i: usize) -> String {
    run.report
        .probes
        .iter()
        .chain(&run.report.controls)
        .filter(|p| p.connection as usize == i + 1)
        .map(|p| format!("RSET\r\nMAIL FROM:<{}>\r\nRCPT TO:<{}>\r\n", p.mail_from, p.rcpt_to))
        .collect()
}

fn assert_all(run: &Run, verdict: ProbeVerdict) {
    for p in &run.report.probes {
        assert_eq!(p.verdict, verdict, "probe {}: {:?}", p.id, p);
    }
}

fn assert_reason(run: &Run, words: &[&str]) {
    let reason = run.report.reason.to_lowercase();
    for w in words {
        assert!(reason.contains(&w.to_lowercase()), "reason lacks {w:?}: {}", run.report.reason);
    }
}

// ----- closed, open, greylisted, blocked -----------------------------------

#[test]
fn closed_server_with_pipelining_gets_each_connections_probes_in_one_batch() {
    let run = closed_postfix();

    assert_eq!(run.report.verdict, Verdict::Closed);
    assert_all(&run, ProbeVerdict::Denied);
    for p in &run.report.probes {
        assert_eq!(p.code, Some(554), "{}", p.id);
        assert_eq!(p.reply.as_deref(), Some("554 5.7.1 Relay access denied"), "{}", p.id);
    }
    assert_reason(&run, &["prohibited", "refused", "554 5.7.1"]);

    // The first connection, byte for byte: EHLO alone, then the four
    // probes' RSET/MAIL/RCPT and QUIT in ONE write (RFC 2920 lets QUIT end
    // a group): a whole connection in three round trips.
    let first = run.conns[0].transmit_texts();
    assert_eq!(
        first,
        [
            "EHLO relaycheck.invalid\r\n",
            "RSET\r\nMAIL FROM:<relaycheck@example.com>\r\nRCPT TO:<relaycheck@example.net>\r\n\
             RSET\r\nMAIL FROM:<>\r\nRCPT TO:<relaycheck@example.net>\r\n\
             RSET\r\nMAIL FROM:<relaycheck>\r\nRCPT TO:<relaycheck@example.net>\r\n\
             RSET\r\nMAIL FROM:<relaycheck@mx.example.org>\r\nRCPT TO:<relaycheck@example.net>\r\n\
             QUIT\r\n",
        ]
    );
    // Every other connection does the same with its own probes.
    let mut probing = 0;
    for (i, conn) in run.probing_conns() {
        probing += 1;
        let batch = probe_commands(&run, i) + "QUIT\r\n";
        let ehlo = format!("EHLO {}\r\n", run.greeting_of(i));
        assert_eq!(conn.transmit_texts(), [ehlo.as_str(), batch.as_str()], "connection {i}");
        assert_eq!(conn.transmits[1].unanswered_before, 0, "the batch waits for the EHLO reply");
    }
    assert!(probing >= 2, "the probes are spread over connections");
}

#[test]
fn closed_server_without_pipelining_gets_one_command_at_a_time() {
    let run = run(Config::default(), |_| postfix_without_pipelining());

    assert_eq!(run.report.verdict, Verdict::Closed);
    assert_all(&run, ProbeVerdict::Denied);
    for (i, conn) in run.conns.iter().enumerate() {
        for t in &conn.transmits {
            assert_eq!(t.data.matches("\r\n").count(), 1, "connection {i}: one command per write: {:?}", t.data);
            assert_eq!(t.unanswered_before, 0, "connection {i}: {:?} went before the previous reply", t.data);
        }
    }
    assert_eq!(
        run.commands(0),
        [
            "EHLO relaycheck.invalid",
            "RSET",
            "MAIL FROM:<relaycheck@example.com>",
            "RCPT TO:<relaycheck@example.net>",
            "RSET",
            "MAIL FROM:<>",
            "RCPT TO:<relaycheck@example.net>",
            "RSET",
            "MAIL FROM:<relaycheck>",
            "RCPT TO:<relaycheck@example.net>",
            "RSET",
            "MAIL FROM:<relaycheck@mx.example.org>",
            "RCPT TO:<relaycheck@example.net>",
            "QUIT",
        ]
    );
}

#[test]
fn open_server_is_open() {
    let run = run(Config::default(), |_| postfix().on("RCPT", "250 2.1.5 Ok"));

    assert_eq!(run.report.verdict, Verdict::Open);
    assert_all(&run, ProbeVerdict::Accepted);
    assert_reason(&run, &["accepted", "The manual test", "250 2.1.5 Ok"]);
    // Accepting the recipient is the whole question: never DATA (the
    // harness fails any test that sends it), and every connection QUITs.
    for (i, conn) in run.conns.iter().enumerate() {
        assert_eq!(conn.commands.last().map(String::as_str), Some("QUIT"), "connection {i}");
    }
}

#[test]
fn one_accepted_trick_makes_the_server_open() {
    // Relay refused, except for the percent hack via the server's address.
    let run = run(Config::default(), |_| postfix().on("RCPT TO:<relaycheck%example.net@[192.0.2.25]>", "250 2.1.5 Ok"));

    assert_eq!(run.report.verdict, Verdict::Open);
    assert_eq!(run.probe("percent-ip").verdict, ProbeVerdict::Accepted);
    assert_eq!(run.probe("manual").verdict, ProbeVerdict::Denied);
    let accepted: Vec<_> =
        run.report.probes.iter().filter(|p| p.verdict == ProbeVerdict::Accepted).map(|p| &p.id).collect();
    assert_eq!(accepted, ["percent-ip"]);
    assert_reason(&run, &["Percent hack via the server's address"]);
}

#[test]
fn greylisting_is_inconclusive_never_closed() {
    let run = run(Config::default(), |_| postfix().on("RCPT", "451 4.7.1 Greylisted, try again later"));

    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    assert_all(&run, ProbeVerdict::Inconclusive);
    for p in &run.report.probes {
        assert_eq!(p.code, Some(451), "{}", p.id);
        assert_eq!(p.outcome, Outcome::Deferred { at: Stage::Recipient }, "{}", p.id);
    }
    assert_reason(&run, &["451 4.7.1 Greylisted", "greylisting", "again later"]);
    // Greylisting is a choice, not a mistake: no advice to change relay rules.
    assert!(!run.report.reason.contains("defer_unauth_destination"), "{}", run.report.reason);
    assert!(!run.probe("manual").explanation.contains("defer_unauth_destination"));
}

#[test]
fn deferring_postfix_is_closed_and_told_how_to_make_it_permanent() {
    // Debian's stock defer_unauth_destination: the relay refusal, but 4xx,
    // the same on every retry. A refusal by policy, not greylisting.
    let run =
        run(Config::default(), |_| postfix().on("RCPT", "454 4.7.1 <relaycheck@example.net>: Relay access denied"));

    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_all(&run, ProbeVerdict::Denied);
    assert!(run.report.probes.iter().all(|p| p.outcome == Outcome::RelayDeferred));
    assert_reason(&run, &["prohibited", "454 4.7.1", "temporary code", "reject_unauth_destination"]);
    assert!(run.probe("manual").explanation.contains("reject_unauth_destination"));
}

#[test]
fn one_deferral_among_refusals_keeps_the_audit_from_closed() {
    // Every relay attempt is refused for good, except the plain outside
    // recipient, which is greylisted: that one might still be accepted.
    let run = run(Config::default(), |_| {
        postfix().on("RCPT TO:<relaycheck@example.net>", "451 4.7.1 Greylisted, try again later")
    });

    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    assert_eq!(run.probe("manual").verdict, ProbeVerdict::Inconclusive);
    assert_eq!(run.probe("percent-ip").verdict, ProbeVerdict::Denied);
    assert_reason(&run, &["not an open relay as far as we could see", "refused", "could not be finished"]);
}

#[test]
fn starttls_required_is_blocked_when_told_never_to_use_tls() {
    // Postfix with smtpd_tls_security_level = encrypt; the pipelined RCPT
    // after the refused MAIL gets "need MAIL". With --tls never, as before
    // TLS: nothing can be asked (tests/tls.rs has the audit inside TLS).
    let run = run(Config { tls: TlsMode::Never, ..Config::default() }, |_| {
        postfix()
            .on("MAIL", "530 5.7.0 Must issue a STARTTLS command first")
            .on("RCPT", "503 5.5.1 Error: need MAIL command")
    });

    assert_eq!(run.report.verdict, Verdict::Blocked);
    assert_all(&run, ProbeVerdict::Blocked);
    for p in &run.report.probes {
        assert_eq!(p.code, Some(530), "{}: the 503 to RCPT must not replace the 530", p.id);
        assert_eq!(p.outcome, Outcome::Blocked { at: Stage::Sender }, "{}", p.id);
    }
    assert_reason(&run, &["STARTTLS", "530 5.7.0"]);
}

// ----- the dialogue ---------------------------------------------------------

#[test]
fn multi_line_banner_in_pieces_is_awaited_to_its_last_line() {
    // Three writes over five seconds; the second ends in the middle of the
    // last line. Speaking before the end gets a client dropped by many MTAs.
    let run = run(Config::default(), |_| {
        postfix().banner_in_pieces(&[
            (ms(0), "220-mx.example.org ESMTP Postfix\r\n"),
            (secs(2), "220-No unsolicited bulk mail\r\n220 mx.exam"),
            (secs(3), "ple.org ready\r\n"),
        ])
    });

    for (i, conn) in run.conns.iter().enumerate() {
        let connected = conn.connected_at.expect("connected");
        let done = conn.banner_done_at.expect("whole banner sent");
        assert_eq!(done - connected, secs(5), "connection {i}");
        let first = &conn.transmits[0];
        assert_eq!(first.at, done, "connection {i}: EHLO right when the last banner line arrives, not before");
        assert_eq!(first.data, format!("EHLO {}\r\n", run.greeting_of(i)));
    }
    assert_eq!(
        run.report.server.banner.as_deref(),
        Some("220-mx.example.org ESMTP Postfix\n220-No unsolicited bulk mail\n220 mx.example.org ready")
    );
    assert_eq!(run.report.server.name.as_deref(), Some("mx.example.org"));
    assert_eq!(run.report.timings.banner_ms, Some(5000.0));
    assert_eq!(run.report.verdict, Verdict::Closed);
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let run = run(Config::default(), |_| postfix().on("EHLO", "502 5.5.2 Error: command not recognized"));

    assert!(run.report.server.helo_fallback);
    assert!(run.report.server.capabilities.extensions.is_empty());
    assert_eq!(run.report.verdict, Verdict::Closed);
    assert_all(&run, ProbeVerdict::Denied);
    for (i, conn) in run.probing_conns() {
        let name = run.greeting_of(i);
        assert_eq!(
            conn.commands[..3],
            [format!("EHLO {name}"), format!("HELO {name}"), "RSET".into()],
            "connection {i}"
        );
        for t in &conn.transmits {
            assert_eq!(t.data.matches("\r\n").count(), 1, "connection {i}: no pipelining after HELO: {:?}", t.data);
        }
    }
}

// ----- servers that fight back ----------------------------------------------

#[test]
fn dropped_connection_is_replaced_and_the_audit_goes_on() {
    // The first connection answers EHLO and the first two probes (commands
    // 2 to 7), then the server hangs up; the others behave.
    let run = run(Config::default(), |conn| match conn {
        0 => postfix().close_after(7),
        _ => postfix(),
    });

    assert!(run.conns[0].closed_by_server.is_some());
    assert_eq!(run.conns[0].commands.len(), 14, "EHLO and one batch of four probes and QUIT were sent");
    assert_eq!(run.probe("manual").connection, 1);
    assert_eq!(run.probe("null-sender").connection, 1);
    // The unanswered two went to a connection opened after the drop.
    let dropped_at = run.conns[0].closed_by_server.unwrap();
    for id in ["unqualified-sender", "sender-at-server"] {
        let p = run.probe(id);
        assert_eq!(p.verdict, ProbeVerdict::Denied, "{id}");
        assert!(p.connection > 1, "{id} was retried on a new connection");
        let retry = &run.conns[p.connection as usize - 1];
        assert!(retry.connected_at.unwrap() > dropped_at, "{id}: connection {} opened after the drop", p.connection);
        assert!(retry.commands.contains(&format!("MAIL FROM:<{}>", p.mail_from)), "{id}");
    }
    let retry = &run.conns[run.probe("sender-at-server").connection as usize - 1];
    assert_eq!(
        retry.transmit_texts()[1],
        "RSET\r\nMAIL FROM:<relaycheck>\r\nRCPT TO:<relaycheck@example.net>\r\n\
         RSET\r\nMAIL FROM:<relaycheck@mx.example.org>\r\nRCPT TO:<relaycheck@example.net>\r\n\
         QUIT\r\n"
    );
    assert_eq!(run.report.verdict, Verdict::Closed);
    assert_all(&run, ProbeVerdict::Denied);
}

#[test]
fn too_many_errors_421_then_the_rest_on_a_new_connection() {
    // The first connection gives up at its 5th command (the second probe's
    // RSET), as Postfix does at its hard error limit, and closes.
    let run = run(Config::default(), |conn| match conn {
        0 => postfix().nth(5, "421 4.7.0 mx.example.org Error: too many errors"),
        _ => postfix(),
    });

    // The 421 ends the connection: nothing more is said on it.
    assert_eq!(run.conns[0].transmits.len(), 2, "EHLO, the batch, and nothing after the 421");
    assert!(run.conns[0].closed_by_client.is_some() || run.conns[0].closed_by_server.is_some());
    assert!(run.report.transcript.iter().any(|l| l.text == "421 4.7.0 mx.example.org Error: too many errors"));
    assert_eq!(run.probe("manual").connection, 1);
    assert_eq!(run.probe("manual").verdict, ProbeVerdict::Denied);
    for id in ["null-sender", "unqualified-sender", "sender-at-server"] {
        let p = run.probe(id);
        assert!(p.connection > 1, "{id} was retried on a new connection");
        assert_eq!(p.verdict, ProbeVerdict::Denied, "{id}");
    }
    assert_eq!(run.report.verdict, Verdict::Closed);
}

#[test]
fn a_server_that_always_says_421_still_gets_a_verdict() {
    // Every connection is cut at its 6th command: one probe per connection
    // gets its answer. The session learns that this server takes one probe
    // per connection, regroups the rest accordingly, and finishes; each
    // probe is retried once at most, so the connections stay bounded.
    let config = Config::default();
    let run = run(config.clone(), |_| postfix().nth(6, "421 4.7.0 mx.example.org Error: too many errors"));

    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_all(&run, ProbeVerdict::Denied);
    let bound = run.report.probes.len() * 2 + config.spare_connections;
    assert!(run.connect_events() <= bound, "{} connections, more than {bound}", run.connect_events());
    // Once learned, no connection is asked more than it takes.
    let late = &run.conns[run.conns.len() - 1];
    assert!(late.commands.iter().filter(|c| c.starts_with("RCPT")).count() <= 1, "{:?}", late.commands);
}

#[test]
fn a_server_that_421s_every_connection_at_once_still_gets_a_verdict() {
    // Every connection is cut right after EHLO: nothing can ever be asked,
    // and the audit must still end, within its budget.
    let config = Config::default();
    let run = run(config.clone(), |_| postfix().nth(2, "421 4.7.0 mx.example.org Error: too many errors"));

    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    let bound = run.report.probes.len() * 2 + config.spare_connections;
    assert!(run.connect_events() <= bound, "{} connections, more than {bound}", run.connect_events());
    assert_reason(&run, &["could not be finished"]);
}

#[test]
fn a_server_that_never_speaks_times_out_at_poll_timeout() {
    let config = Config { reply_timeout: secs(7), ..Config::default() };
    let run = run(config, |_| Script::silent());

    assert_eq!(run.connect_events(), 1, "no second connection to a mute server");
    let connected = run.conns[0].connected_at.unwrap();
    assert_eq!(run.timeouts, [connected + secs(7)], "one timeout, exactly reply_timeout after connecting");
    assert_eq!(run.finished_at, connected + secs(7));
    assert!(run.conns[0].transmits.is_empty());
    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    assert!(run.report.probes.len() >= 20, "the report still lists what could not be tried");
    for p in &run.report.probes {
        assert_eq!(p.outcome, Outcome::TimedOut { at: Stage::Banner }, "{}", p.id);
        assert_eq!(p.verdict, ProbeVerdict::Inconclusive);
        assert_eq!(p.code, None);
    }
    assert!(run.report.elapsed_ms <= 7_000.0 + 10.0, "{}", run.report.elapsed_ms);
    assert_reason(&run, &["did not answer in time"]);
}

#[test]
fn a_server_that_hangs_at_rcpt_times_out_there() {
    let config = Config { reply_timeout: secs(9), ..Config::default() };
    let run = run(config, |_| postfix().hang_on("RCPT"));

    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    let manual = run.probe("manual");
    assert_eq!(manual.outcome, Outcome::TimedOut { at: Stage::Recipient });
    assert_all(&run, ProbeVerdict::Inconclusive);
    for (i, conn) in run.probing_conns() {
        let spoke = conn.transmits.last().expect("something was sent").at;
        let closed = conn.closed_by_client.expect("the client gave up on the connection");
        assert_eq!(closed - spoke, secs(9), "connection {i}");
    }
}

#[test]
fn refused_first_connection_finishes_without_an_address() {
    let run = run(Config::default(), |_| Script::refuse("connection refused"));

    assert_eq!(run.connect_events(), 1);
    assert!(run.events.iter().any(|e| matches!(e, Event::Finished)));
    assert_eq!(run.report.server.address, None);
    assert_eq!(run.report.server.host, HOST);
    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    assert!(run.report.probes.is_empty());
    assert_reason(&run, &["could not connect", "connection refused"]);
}

#[test]
fn connections_the_driver_could_not_make_say_why() {
    // The first connection works; the bridge refuses every other (its
    // per-client rate), in its own words.
    const WHY: &str = "You started too many audits in a short time; try again in a minute.";
    let run = run(Config::default(), |conn| if conn == 0 { postfix() } else { Script::refuse(WHY) });

    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    let unasked: Vec<_> =
        run.report.probes.iter().filter(|p| matches!(p.outcome, Outcome::NotConnected { .. })).collect();
    assert!(!unasked.is_empty(), "no probe went unasked: {:?}", run.report.probes);
    for probe in unasked {
        assert_eq!(probe.outcome, Outcome::NotConnected { reason: WHY.into() });
        assert_eq!(probe.verdict, ProbeVerdict::Inconclusive);
    }
    // The report says why in the bridge's words, not just that a connection was lost.
    assert_reason(&run, &["could not be made", "too many audits"]);
}

#[test]
fn a_connection_limit_of_two_is_lived_with() {
    // The server takes two connections at a time from us and turns the rest
    // away at the banner; the session must go on one at a time and still
    // ask every probe.
    let run = run(Config::default(), |conn| match conn {
        2..=7 => postfix().banner("421 4.7.0 mx.example.org Error: too many connections from 198.51.100.1"),
        _ => postfix(),
    });

    for i in 2..=7 {
        assert!(run.conns[i].transmits.is_empty(), "connection {i}: nothing is said after a 421 banner");
    }
    // The groups meant for the six turned-away connections were asked on
    // the connections the server took: the first two, carrying more, and
    // later ones.
    for p in &run.report.probes {
        assert!(!(3..=8).contains(&p.connection), "{} answered on a turned-away connection {}", p.id, p.connection);
    }
    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_all(&run, ProbeVerdict::Denied);
}

#[test]
fn a_connection_limit_of_one_is_lived_with() {
    // As above, but only one connection at a time is allowed: the five
    // connections turned away at the banner must not use up the budget.
    let run = run(Config::default(), |conn| match conn {
        1..=5 => postfix().banner("421 4.7.0 mx.example.org Error: too many connections from 198.51.100.1"),
        _ => postfix(),
    });

    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_all(&run, ProbeVerdict::Denied);
}

// ----- spreading ------------------------------------------------------------

#[test]
fn default_config_spreads_probes_below_postfix_error_limits() {
    let config = Config::default();
    let per = config.probes_per_connection;
    let run = run(config.clone(), |_| postfix());

    let probes = &run.report.probes;
    assert!(probes.len() >= 20, "only {} probes", probes.len());
    assert_eq!(probes[0].id, "manual");
    assert_eq!(probes[0].mail_from, "relaycheck@example.com");
    assert_eq!(probes[0].rcpt_to, "relaycheck@example.net");
    for (i, conn) in run.probing_conns() {
        let rcpts = conn.commands.iter().filter(|l| l.starts_with("RCPT")).count();
        assert!(rcpts <= per, "connection {i} carried {rcpts} probes");
        // smtpd_soft_error_limit = 10: one more error and Postfix sleeps 1 s
        // before every reply.
        assert!(conn.errors < 10, "connection {i} made {} errors", conn.errors);
    }
    let used = run.probing_conns().count();
    assert!(used >= probes.len().div_ceil(per), "{} probes on only {used} connections", probes.len());
    for c in 1..=run.conns.len() as u32 {
        let n = probes.iter().filter(|p| p.connection == c).count();
        assert!(n <= per, "the report puts {n} probes on connection {c}");
    }
}

#[test]
fn refused_senders_cost_two_errors_and_still_stay_below_the_limit() {
    let run = run(Config::default(), |_| {
        postfix()
            .on("MAIL", "553 5.7.1 <x>: Sender address rejected: not logged in")
            .on("RCPT", "503 5.5.1 Error: need MAIL command")
    });

    for (i, conn) in run.probing_conns() {
        assert!(conn.errors < 10, "connection {i} made {} errors", conn.errors);
    }
    // A probe about its sender is answered by the refusal; every other one
    // was never asked, since no sender was left to ask it with.
    for p in &run.report.probes {
        let want = if p.kind == ProbeKind::Sender { Outcome::SenderDenied } else { Outcome::SenderRefused };
        assert_eq!(p.outcome, want, "{}", p.id);
    }
    assert_eq!(run.report.verdict, Verdict::Inconclusive);
    assert_reason(&run, &["refused every sender"]);
}

// ----- the report as JSON ---------------------------------------------------

#[test]
fn report_serialises_with_its_public_field_names() {
    let run = closed_postfix();
    let json = serde_json::to_value(&run.report).expect("serialises");

    assert_eq!(json["verdict"], "closed");
    assert!(json["reason"].as_str().unwrap().contains("prohibited"));
    let server = &json["server"];
    assert_eq!(server["host"], HOST);
    assert_eq!(server["address"], PEER);
    assert_eq!(server["port"], 25);
    assert_eq!(server["banner"], "220 mx.example.org ESMTP Postfix (Debian/GNU)");
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes.len(), run.report.probes.len());
    let manual = &probes[0];
    assert_eq!(manual["id"], "manual");
    assert!(manual["name"].as_str().unwrap().contains("manual test"));
    assert_eq!(manual["mail_from"], "relaycheck@example.com");
    assert_eq!(manual["rcpt_to"], "relaycheck@example.net");
    assert_eq!(manual["verdict"], "denied");
    assert_eq!(manual["code"], 554);
    assert_eq!(manual["reply"], "554 5.7.1 Relay access denied");
    let transcript = json["transcript"].as_array().unwrap();
    assert!(transcript.iter().any(|l| l["text"] == "EHLO relaycheck.invalid" && l["direction"] == "sent"));
    assert!(transcript.iter().any(|l| l["text"] == "554 5.7.1 Relay access denied" && l["direction"] == "received"));
    assert!(json["elapsed_ms"].as_f64().unwrap() > 0.0);

    // It reads back as the same report.
    let back: relay_core::Report = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, run.report);
}

#[test]
fn verdicts_serialise_in_lowercase() {
    let cases: [(Script, &str, &str); 4] = [
        (postfix().on("RCPT", "250 2.1.5 Ok"), "open", "accepted"),
        (postfix(), "closed", "denied"),
        (postfix().on("RCPT", "451 4.7.1 Greylisted, try again later"), "inconclusive", "inconclusive"),
        (postfix().on("MAIL", "530 5.7.0 Must issue a STARTTLS command first"), "blocked", "blocked"),
    ];
    for (script, verdict, probe) in cases {
        let run = run(Config::default(), |_| script.clone());
        let json = serde_json::to_value(&run.report).unwrap();
        assert_eq!(json["verdict"], verdict);
        assert_eq!(json["probes"][0]["verdict"], probe, "{verdict}");
    }
}

#[test]
fn later_connections_go_through_the_bridge_to_the_first_address() {
    let mut session = Session::new(Config::default(), "mx.example.org", 25, std::time::Duration::ZERO);
    let first = session.bridge_target();
    assert_eq!((first.host.as_str(), first.port, first.tls_name), ("mx.example.org", 25, None));
    let connect = std::iter::from_fn(|| session.poll_event()).find_map(|e| match e {
        Event::Connect(id) => Some(id),
        _ => None,
    });
    session.handle_connected(
        connect.expect("a first connection"),
        "192.0.2.7".parse().unwrap(),
        std::time::Duration::ZERO,
    );
    // The bridge never resolves the name again; TLS still checks the name asked for.
    let later = session.bridge_target();
    assert_eq!(later.host, "192.0.2.7");
    assert_eq!(later.tls_name.as_deref(), Some("mx.example.org"));
    assert_eq!(session.server_address(), Some("192.0.2.7".parse().unwrap()));
}

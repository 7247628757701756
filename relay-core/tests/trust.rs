//! Verdicts you can trust on the mail servers people run: every probe asks
//! its question (a refused sender is replaced, never the end of a trick), an
//! acceptance is proof only where a mailbox that cannot exist is refused,
//! commands stay well-formed whatever the banner says, silent connection
//! limits are learned, and the answer does not depend on how the driver's
//! bytes travel.

mod common;

use common::{exim, postfix, run, run_with, Delivery, Run, Script};
use relay_core::{Command, Config, Decision, Guard, GuardLimits, Outcome, ProbeKind, ProbeVerdict, Verdict};

const DELIVERIES: [Delivery; 3] = [Delivery::Whole, Delivery::Bytewise, Delivery::ResetOnClose];

fn assert_reason(run: &Run, words: &[&str]) {
    let reason = run.report.reason.to_lowercase();
    for w in words {
        assert!(reason.contains(&w.to_lowercase()), "reason lacks {w:?}: {}", run.report.reason);
    }
}

/// Every relay probe's question reached the server: no probe ended lost,
/// timed out, or without a sender.
fn assert_every_question_asked(run: &Run) {
    for p in &run.report.probes {
        assert!(
            !matches!(p.outcome, Outcome::SenderRefused | Outcome::ConnectionLost { .. } | Outcome::TimedOut { .. }),
            "probe {} was never asked: {:?} ({:?})\nreason: {}",
            p.id,
            p.outcome,
            p.reply,
            run.report.reason
        );
    }
}

/// (probe id, outcome) of every relay probe and control, in order.
fn outcomes(run: &Run) -> Vec<(String, Outcome)> {
    run.report.probes.iter().chain(&run.report.controls).map(|p| (p.id.clone(), p.outcome.clone())).collect()
}

// ----- every probe asks its question ----------------------------------------

#[test]
fn stock_exim_is_closed_and_every_trick_is_asked_with_a_sender_it_takes() {
    let run = run(Config::default(), |_| exim());

    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_every_question_asked(&run);
    for p in &run.report.probes {
        assert_eq!(p.verdict, ProbeVerdict::Denied, "{}: {:?}", p.id, p);
    }
    // The sender probes at a literal and without a domain are answered by
    // the refusal itself: that relay path is closed.
    for id in ["sender-at-ip", "unqualified-sender"] {
        let p = run.report.probes.iter().find(|p| p.id == id).unwrap();
        assert_eq!(p.outcome, Outcome::SenderDenied, "{id}");
        assert_eq!(p.code, Some(501), "{id}");
    }
    // Every trick was sent from <relaycheck@[ip]> first, refused, and asked
    // again from the manual test's sender; both are reported.
    let tricks: Vec<_> = run
        .report
        .probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Recipient && p.id != "manual" && p.helo.is_none())
        .collect();
    assert_eq!(tricks.len(), 16);
    for p in tricks {
        let refused = p.refused_sender.as_ref().unwrap_or_else(|| panic!("{} has no refused sender", p.id));
        assert_eq!(refused.mail_from, "relaycheck@[192.0.2.25]", "{}", p.id);
        assert!(refused.reply.contains("domain literals not allowed"), "{}", p.id);
        assert_eq!(p.mail_from, "relaycheck@example.com", "{}", p.id);
        assert!(matches!(p.outcome, Outcome::Denied), "{}: {:?}", p.id, p.outcome);
    }
    // postmaster at its own name is taken, as RFC 5321 asks.
    let postmaster = run.report.controls.iter().find(|c| c.id == "postmaster").unwrap();
    assert_eq!(postmaster.verdict, ProbeVerdict::Accepted);
    assert!(run.report.findings.iter().all(|f| f.id != "postmaster-refused"));
}

#[test]
fn exim_that_refuses_literal_senders_but_relays_the_percent_hack_is_open() {
    // The false negative that a checker without sender retries makes: the
    // trick is relayed, but only ever asked from a refused sender.
    let run = run(Config::default(), |_| exim().on("RCPT TO:<relaycheck%example.net@mx.example.org>", "250 Accepted"));

    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    let p = run.report.probes.iter().find(|p| p.id == "percent-server").unwrap();
    assert_eq!(p.outcome, Outcome::Accepted, "the control nonexistent@mx.example.org was refused, so this is proof");
    assert_eq!(p.mail_from, "relaycheck@example.com");
    assert_reason(&run, &["percent hack via the server's name"]);
}

#[test]
fn the_answer_is_the_same_however_the_bytes_travel() {
    // Exim hangs up after its fourth syntax error; whether its 421 reaches
    // the client, or a reset swallows it with the replies before it, or it
    // trickles in a byte at a time, must not change a single probe.
    for (name, farewell) in [("421", true), ("silent", false)] {
        let script = |_: usize| {
            let s = exim();
            if farewell {
                s
            } else {
                s.error_limit("500 501 503", 3, None)
            }
        };
        let runs: Vec<Run> = DELIVERIES.iter().map(|&d| run_with(Config::default(), d, script)).collect();
        for (d, r) in DELIVERIES.iter().zip(&runs) {
            assert_eq!(r.report.verdict, Verdict::Closed, "{name}, {d:?}: {}", r.report.reason);
            assert_every_question_asked(r);
        }
        for (d, r) in DELIVERIES.iter().zip(&runs).skip(1) {
            assert_eq!(outcomes(r), outcomes(&runs[0]), "{name}: {d:?} differs from {:?}", DELIVERIES[0]);
        }
    }
}

// ----- controls: an acceptance is proof only where nonsense is refused ------

fn catch_all_exim() -> Script {
    // Closed to relaying, but it takes any local part at its own name and
    // would bounce later: no recipient verification.
    exim().rcpt_ending("@mx.example.org", "250 Accepted")
}

#[test]
fn a_server_that_takes_any_recipient_at_its_name_is_not_called_open() {
    for delivery in DELIVERIES {
        let run = run_with(Config::default(), delivery, |_| catch_all_exim());

        assert_eq!(run.report.verdict, Verdict::Closed, "{delivery:?}: {}", run.report.reason);
        for id in ["percent-server", "double-at-server", "bang-server"] {
            let p = run.report.probes.iter().find(|p| p.id == id).unwrap();
            assert_eq!(p.verdict, ProbeVerdict::Accepted, "{id}");
            assert!(
                matches!(&p.outcome, Outcome::Unconfirmed { catch_all: true, control } if control.ends_with("@mx.example.org")),
                "{id}: {:?}",
                p.outcome
            );
            assert!(p.explanation.contains("proves nothing"), "{id}: {}", p.explanation);
        }
        assert_reason(&run, &["prohibited", "takes any recipient"]);
        let finding = run.report.findings.iter().find(|f| f.id == "accepts-any-recipient").expect("a finding");
        assert!(finding.text.contains("mx.example.org") && finding.text.contains("backscatter"), "{}", finding.text);
        assert!(finding.advice.iter().any(|a| a.contains("verify = recipient")), "Exim advice: {:?}", finding.advice);
    }
}

#[test]
fn a_catch_all_does_not_hide_a_real_relay_elsewhere() {
    // Anything at its name is taken (not evidence), but the percent hack at
    // its address literal relays while nonsense there is refused: open.
    let run = run(Config::default(), |_| {
        postfix()
            .rcpt_ending("@mx.example.org", "250 2.1.5 Ok")
            .on("RCPT TO:<relaycheck%example.net@[192.0.2.25]>", "250 2.1.5 Ok")
    });

    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    assert_eq!(run.report.probes.iter().find(|p| p.id == "percent-ip").unwrap().outcome, Outcome::Accepted);
    assert!(matches!(
        run.report.probes.iter().find(|p| p.id == "percent-server").unwrap().outcome,
        Outcome::Unconfirmed { catch_all: true, .. }
    ));
    assert_reason(&run, &["percent hack via the server's address"]);
}

#[test]
fn an_acceptance_whose_control_gets_no_firm_answer_is_inconclusive() {
    let run = run(Config::default(), |_| {
        postfix()
            .on("RCPT TO:<relaycheck-nx-", "451 4.7.1 Greylisted, please try again later")
            .on("RCPT TO:<relaycheck%example.net@mx.example.org>", "250 2.1.5 Ok")
    });

    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    let p = run.report.probes.iter().find(|p| p.id == "percent-server").unwrap();
    assert!(matches!(p.outcome, Outcome::Unconfirmed { catch_all: false, .. }), "{:?}", p.outcome);
    assert_reason(&run, &["percent hack via the server's name", "could not be told"]);
}

#[test]
fn an_accepted_outside_recipient_needs_no_control() {
    // The manual test accepted: an outside domain is proof by itself, even
    // on a server that also takes anything at its own name.
    let run = run(Config::default(), |_| postfix().on("RCPT", "250 2.1.5 Ok"));

    assert_eq!(run.report.verdict, Verdict::Open);
    assert_eq!(run.report.probes[0].outcome, Outcome::Accepted);
}

#[test]
fn postmaster_refused_is_reported() {
    let run = run(Config::default(), |_| postfix());

    let finding = run.report.findings.iter().find(|f| f.id == "postmaster-refused").expect("a finding");
    assert!(finding.text.contains("postmaster@mx.example.org") && finding.text.contains("4.5.1"), "{}", finding.text);
    assert_eq!(run.report.verdict, Verdict::Closed);
}

#[test]
fn the_controls_cost_no_round_trip_on_a_pipelining_server() {
    // Every connection, controls' included, opens at once and asks its
    // whole group in one write: EHLO, then the batch.
    let run = run(Config::default(), |_| postfix());

    assert!(!run.report.controls.is_empty());
    let first_batch = run.conns.iter().filter_map(|c| c.transmits.get(1)).map(|t| t.at).max().unwrap();
    let opened_late = run.conns.iter().filter(|c| c.connected_at.is_some_and(|t| t > first_batch)).count();
    assert_eq!(opened_late, 0, "a connection waited for another to finish");
    for (i, conn) in run.probing_conns() {
        assert_eq!(conn.transmits.len(), 2, "connection {i}: EHLO, then one batch");
    }
}

// ----- well-formed whatever the banner says ----------------------------------

#[test]
fn a_one_label_banner_name_gives_well_formed_commands() {
    // `220 vm ESMTP Postfix (Debian/GNU)`: the engine once cut a "local
    // domain" out of [192.0.2.25] and sent MAIL FROM:<postmaster@0.2.25]>.
    let run = run(Config::default(), |_| {
        postfix().banner("220 vm ESMTP Postfix (Debian/GNU)").on("EHLO", "250-vm\n250-PIPELINING\n250 8BITMIME")
    });

    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    for conn in &run.conns {
        for line in &conn.commands {
            assert_well_formed(line);
        }
    }
    let spoofed = run.report.probes.iter().find(|p| p.id == "spoofed-local-sender").unwrap();
    assert_eq!(spoofed.mail_from, "postmaster@example.org", "the name the user typed stands in");
    let finding = run.report.findings.iter().find(|f| f.id == "probes-adapted");
    assert!(finding.is_none(), "the typed host name was a domain: nothing was adapted");
}

/// A command line as the guard reads it: allowed, unchanged, and every
/// address literal in it a real address.
fn assert_well_formed(line: &str) {
    let wire = format!("{line}\r\n");
    let decisions = Guard::new(GuardLimits::default()).push(wire.as_bytes());
    assert_eq!(decisions, vec![Decision::Forward(wire.clone().into_bytes())], "the guard would not forward {line:?}");
    let command = Command::parse(wire.as_bytes()).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
    assert_eq!(command.to_string(), wire, "{line:?} does not parse back to itself");
    if let Command::Mail { path, .. } | Command::Rcpt { path, .. } = &command {
        assert_literals_are_addresses(path);
    }
}

fn assert_literals_are_addresses(path: &str) {
    let mut rest = path;
    while let Some(open) = rest.find(['[', ']']) {
        assert_eq!(&rest[open..=open], "[", "an unopened ] in {path:?}");
        let close = rest[open..].find(']').unwrap_or_else(|| panic!("an unclosed [ in {path:?}")) + open;
        let inside = &rest[open + 1..close];
        let ok = match inside.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => inside.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        assert!(ok, "[{inside}] is not an address literal in {path:?}");
        rest = &rest[close + 1..];
    }
}

#[test]
fn a_nameless_server_gets_its_address_literal_and_says_so() {
    // Asked by address, greeted by one label: no name anywhere.
    let config = Config::default();
    let mut session = relay_core::Session::new(config, "192.0.2.25", 25, common::START);
    let commands = drive_to_first_batch(&mut session, "220 vm ESMTP Postfix (Debian/GNU)", "192.0.2.25");
    for line in &commands {
        assert_well_formed(line);
    }
    assert!(commands.iter().any(|l| l == "MAIL FROM:<postmaster@[192.0.2.25]>"), "{commands:#?}");
    let report = session.report();
    let finding = report.findings.iter().find(|f| f.id == "probes-adapted").expect("a finding");
    assert!(finding.text.contains("\"vm\"") && finding.text.contains("[192.0.2.25]"), "{}", finding.text);
}

/// Connects every connection the session asks for, greets them with
/// `banner` and a PIPELINING EHLO reply, and returns every command line
/// sent, without answering the probes.
fn drive_to_first_batch(session: &mut relay_core::Session, banner: &str, peer: &str) -> Vec<String> {
    use relay_core::Event;
    let now = common::START;
    let mut sent = Vec::new();
    let mut pending = Vec::new();
    for _ in 0..4 {
        while let Some(event) = session.poll_event() {
            if let Event::Connect(id) = event {
                pending.push(id);
            }
        }
        for id in pending.drain(..) {
            session.handle_connected(id, peer.parse().unwrap(), now);
            session.handle_input(id, format!("{banner}\r\n").as_bytes(), now);
            session.handle_input(id, b"250-vm\r\n250 PIPELINING\r\n", now);
        }
        while let Some(t) = session.poll_transmit() {
            let text = String::from_utf8(t.data).unwrap();
            sent.extend(text.split_terminator("\r\n").map(str::to_string));
        }
    }
    sent
}

// ----- silent connection limits ----------------------------------------------

#[test]
fn a_server_that_hangs_up_after_its_third_rcpt_is_audited_to_the_end() {
    for delivery in DELIVERIES {
        let run = run_with(Config::default(), delivery, |_| postfix().close_after_rcpts(3));

        assert_eq!(run.report.verdict, Verdict::Closed, "{delivery:?}: {}", run.report.reason);
        assert_every_question_asked(&run);
        for (i, conn) in run.conns.iter().enumerate() {
            assert!(conn.rcpts_answered <= 3, "{delivery:?}: connection {i} got {} answers", conn.rcpts_answered);
        }
        // The limit is learned once: after the first wave, no connection
        // loses a probe again.
        let lossy_after_learning = run
            .conns
            .iter()
            .skip(8)
            .filter(|c| c.commands.iter().filter(|l| l.starts_with("RCPT")).count() > 3)
            .count();
        assert_eq!(lossy_after_learning, 0, "{delivery:?}");
    }
}

#[test]
fn a_server_that_hangs_up_silently_after_its_error_limit_is_audited_to_the_end() {
    for delivery in DELIVERIES {
        let run = run_with(Config::default(), delivery, |_| postfix().error_limit("554", 2, None));

        assert_eq!(run.report.verdict, Verdict::Closed, "{delivery:?}: {}", run.report.reason);
        assert_every_question_asked(&run);
    }
}

mod property {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::{assert_well_formed, drive_to_first_batch};

    fn address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u16; 8]>().prop_map(IpAddr::from)]
    }

    /// What a user may type as the host: a name, an address, or nonsense.
    fn typed_host() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){0,3}", address().prop_map(|a| a.to_string()), "[^\r\n ]{1,40}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// For any banner and any address, every command of the plan passes
        /// the bridge's guard unchanged and every address literal in it is a
        /// real address.
        #[test]
        fn every_command_is_well_formed_whatever_the_banner_says(
            banner in "[^\r\n]{0,300}",
            first_word in prop_oneof![
                "[a-z0-9-]{1,63}",
                "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,30}){1,4}",
                "\\[[0-9.:a-fA-F]{1,40}\\]",
                "[^\r\n ]{1,80}",
            ],
            host in typed_host(),
            peer in address(),
        ) {
            let mut session = relay_core::Session::new(relay_core::Config::default(), host, 25, crate::common::START);
            let line = format!("220 {first_word} {banner}");
            for command in drive_to_first_batch(&mut session, &line, &peer.to_string()) {
                assert_well_formed(&command);
            }
        }
    }
}

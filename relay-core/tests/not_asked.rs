//! A verdict only from an answer to the relay question (issue 22): servers
//! that refuse the recipient's domain, the checker itself or its greeting
//! before they judge relaying are never called closed, and the reason says
//! what was refused and what to do.

mod common;

use common::{postfix, run, Run};
use relay_core::refusal::Refusal;
use relay_core::{Config, Outcome, ProbeVerdict, Verdict};

fn assert_reason(run: &Run, words: &[&str]) {
    let reason = run.report.reason.to_lowercase();
    for w in words {
        assert!(reason.contains(&w.to_lowercase()), "reason lacks {w:?}: {}", run.report.reason);
    }
}

/// No relay probe was called denied, and every one that got a refusal says
/// it was `refused`, never asked.
fn assert_never_denied(run: &Run, refused: Refusal) {
    for p in &run.report.probes {
        assert_ne!(p.verdict, ProbeVerdict::Denied, "{} denied on {:?}", p.id, p.reply);
        assert_eq!(p.refused, Some(refused), "{}: {:?} ({:?})", p.id, p.outcome, p.reply);
    }
}

const NULL_MX: &str =
    "556 5.1.10 <relaycheck@example.net>: Recipient address rejected: Domain example.net does not accept mail (nullMX)";

#[test]
fn an_open_relay_that_refuses_a_null_mx_domain_is_not_closed() {
    // Postfix with reject_unknown_recipient_domain: it would relay to any
    // real domain, but example.net publishes "MX 0 ." (RFC 7505).
    let run = run(Config::default(), |_| postfix().on("RCPT", NULL_MX).on("RCPT TO:<postmaster@", "250 2.1.5 Ok"));
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert_reason(&run, &["recipient's domain", "--to-domain"]);
    assert_never_denied(&run, Refusal::RecipientDomain);
    let manual = &run.report.probes[0];
    assert_eq!(
        manual.outcome,
        Outcome::NotAsked { refused: Refusal::RecipientDomain, at: relay_core::Stage::Recipient }
    );

    // With a recipient domain that has a working MX, the same server is
    // seen for what it is.
    let config = Config { to_domain: "relay-target.test".into(), ..Config::default() };
    let run = common::run(config, |_| {
        postfix()
            .on("RCPT", NULL_MX)
            .on("RCPT TO:<relaycheck@relay-target.test>", "250 2.1.5 Ok")
            .on("RCPT TO:<postmaster@", "250 2.1.5 Ok")
    });
    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
}

#[test]
fn a_server_that_refuses_the_checker_itself_says_so_and_names_the_list() {
    let blocked = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1";
    let run = run(Config::default(), |_| postfix().on("RCPT", blocked));
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert_reason(&run, &["refused our checker itself", "zen.spamhaus.org", "from an address it does not block"]);
    assert_never_denied(&run, Refusal::Client);
}

#[test]
fn a_refused_greeting_is_not_a_refused_relay() {
    let helo = "550 5.7.1 <relaycheck.invalid>: Helo command rejected: Host not found";
    let run = run(Config::default(), |_| postfix().on("RCPT", helo));
    assert_ne!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert_ne!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    assert_reason(&run, &["greeting", "--helo"]);
    for p in run.report.probes.iter().filter(|p| p.id != "manual" && !p.id.starts_with("helo-")) {
        assert_ne!(p.verdict, ProbeVerdict::Denied, "{}", p.id);
    }
}

#[test]
fn a_refusal_without_words_counts_only_when_postmaster_is_taken() {
    // Every recipient, postmaster too, refused without a reason: it may be
    // the checker that is refused.
    let run = run(Config::default(), |_| postfix().on("RCPT", "550 Access denied"));
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert_reason(&run, &["without saying why", "postmaster"]);
    assert_never_denied(&run, Refusal::Unspecified);

    // The same words, from a server that takes postmaster: the refusal is
    // of these recipients, and the relay is closed.
    let run = common::run(Config::default(), |_| {
        postfix().on("RCPT", "550 Access denied").on("RCPT TO:<postmaster@", "250 2.1.5 Ok")
    });
    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    for p in &run.report.probes {
        assert_eq!(p.verdict, ProbeVerdict::Denied, "{}", p.id);
        assert_eq!(p.refused, Some(Refusal::Unspecified), "{}", p.id);
    }
}

#[test]
fn a_blocklisted_client_turned_away_at_the_banner_is_not_blocked_but_unasked() {
    let run = run(Config::default(), |_| {
        postfix().banner("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using bl.example.test")
    });
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert_reason(&run, &["bl.example.test", "from an address it does not block"]);
}

#[test]
fn relay_refusals_still_close() {
    let run = run(Config::default(), |_| postfix());
    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert!(run.report.probes.iter().all(|p| p.refused == Some(Refusal::Relay)));
}

#[test]
fn a_server_that_allows_five_connections_gets_every_question_on_those() {
    // Postfix's anvil at smtpd_client_connection_rate_limit = 5: every
    // connection after the fifth is turned away at the door.
    let run = run(Config::default(), |i| {
        if i >= 5 {
            postfix().banner("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1")
        } else {
            postfix()
        }
    });
    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    for p in run.report.probes.iter().chain(&run.report.controls) {
        assert_eq!(p.verdict, ProbeVerdict::Denied, "{} was not asked: {:?}", p.id, p.outcome);
    }
    // No connection carried more than twice the configured group, so none
    // reached Postfix's error slow-down at 10, and none asked more
    // recipients than the bridge's guard forwards in one session.
    for (i, conn) in run.conns.iter().enumerate() {
        let rcpts = conn.commands.iter().filter(|c| c.starts_with("RCPT")).count();
        assert!(rcpts <= relay_core::guard::MAX_RECIPIENTS as usize, "connection {i} asked {rcpts} recipients");
    }
    assert!(run.conns.iter().any(|c| c.commands.iter().filter(|c| c.starts_with("EHLO")).count() == 2));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Refusals of something other than the relay, as real servers word
    /// them (the table test `refusals.rs` has their sources).
    const NOT_THE_RELAY: &[&str] = &[
        NULL_MX,
        "450 4.1.2 <relaycheck@example.net>: Recipient address rejected: Domain not found",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]",
        "550 5.7.606 Access denied, banned sending IP [192.0.2.1]",
        "550 5.7.1 <relaycheck.invalid>: Helo command rejected: Host not found",
        "504 5.5.2 <relaycheck.invalid>: Helo command rejected: need fully-qualified hostname",
        "550 rejected because 192.0.2.1 is in a black list at zen.spamhaus.org",
        "452 4.5.3 Error: too many recipients",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever mix of such refusals a server gives, to whichever
        /// recipients, no probe is denied on one and the audit is never
        /// closed on them.
        #[test]
        fn no_refusal_of_something_else_makes_a_probe_denied(
            picks in proptest::collection::vec(0..NOT_THE_RELAY.len(), 1..6),
            postmaster_taken in any::<bool>(),
        ) {
            let run = run(Config::default(), |_| {
                let mut script = postfix().on("RCPT", NOT_THE_RELAY[picks[0]]);
                let prefixes = ["RCPT TO:<relaycheck@", "RCPT TO:<relaycheck%", "RCPT TO:<\"", "RCPT TO:<@"];
                for (prefix, &pick) in prefixes.iter().zip(&picks[1..]) {
                    script = script.on(prefix, NOT_THE_RELAY[pick]);
                }
                if postmaster_taken {
                    script = script.on("RCPT TO:<postmaster@", "250 2.1.5 Ok");
                }
                script
            });
            for p in &run.report.probes {
                // A forged greeting's question is the greeting: its refusal answers it.
                let greeting_refused = p.refused == Some(Refusal::Greeting) && p.id.starts_with("helo-");
                if !greeting_refused {
                    prop_assert_ne!(p.verdict, ProbeVerdict::Denied, "{} denied on {:?}", p.id, p.reply);
                }
            }
            prop_assert_ne!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
            prop_assert_ne!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
        }
    }
}

#[test]
fn an_open_relay_that_allows_few_connections_ends_open() {
    // The bridge or the server lets the first connections through and
    // refuses the rest: acceptances that wait for a control that can never
    // be asked must still settle, or the audit would never end.
    for allowed in 1..=3 {
        let run = run(Config::default(), |conn| {
            if conn < allowed {
                postfix().on("RCPT", "250 2.1.5 Ok")
            } else {
                common::Script::refuse("This mail server has been audited too often in a short time")
            }
        });
        assert_eq!(run.report.verdict, Verdict::Open, "{allowed} allowed: {}", run.report.reason);
    }
}

#[test]
fn exchange_is_told_apart_by_generation_and_advised_in_its_own_tool() {
    let banner = "220 mail.example.org Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Thu, 3 Dec 2026 10:00:00 +0000";
    let run = run(Config::default(), |_| postfix().banner(banner).on("RCPT", "250 2.1.5 Ok"));
    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    let identity = run.report.server.identity.as_ref().expect("recognised");
    assert_eq!(identity.version.as_deref(), Some("6.0.3790.3959"));
    assert!(run.report.advice.iter().any(|a| a.contains("System Manager")), "{:#?}", run.report.advice);
}

#[test]
fn a_refused_recipient_domain_is_asked_again_at_the_fallback_domain() {
    let config = Config { fallback_to_domain: Some("relay-target.test".into()), ..Config::default() };
    let run = run(config.clone(), |_| {
        postfix()
            .on("RCPT", NULL_MX)
            .on("RCPT TO:<relaycheck@relay-target.test>", "250 2.1.5 Ok")
            .on("RCPT TO:<postmaster@", "250 2.1.5 Ok")
    });
    assert_eq!(run.report.verdict, Verdict::Open, "{}", run.report.reason);
    let manual = &run.report.probes[0];
    assert_eq!((manual.rcpt_to.as_str(), &manual.outcome), ("relaycheck@relay-target.test", &Outcome::Accepted));
    assert!(run.report.transcript.iter().any(|l| l.text.contains("is asked again at relay-target.test")));

    // Refused there too, for the same reason: said, never closed.
    let run = common::run(config, |_| postfix().on("RCPT", NULL_MX).on("RCPT TO:<postmaster@", "250 2.1.5 Ok"));
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert!(run.report.probes.iter().all(|p| p.verdict != ProbeVerdict::Denied));
}

/// Connections the server of the rate-limit test turns away, from the
/// third on: more than the session opens before it waits (about 27), so
/// that only a wait gets the rest asked.
const REFUSED_BEFORE_THE_WAIT: usize = 30;

#[test]
fn a_server_whose_rate_limit_turns_everything_away_is_waited_for_once() {
    // Five connections a minute, then 421 for every new one until the
    // minute is over (Postfix's anvil). The first wave's probes are carried
    // on the five; what is left waits out the minute and is asked then.
    let run = run(Config::default(), |i| {
        if (2..REFUSED_BEFORE_THE_WAIT).contains(&i) {
            postfix().banner("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1")
        } else {
            postfix()
        }
    });
    assert_eq!(run.report.verdict, Verdict::Closed, "{}", run.report.reason);
    assert!(run.report.transcript.iter().any(|l| l.text.contains("waiting 61 s")), "no wait");
    // A server that never lets us in again is waited for once, then said.
    let run = common::run(Config::default(), |i| {
        if i >= 1 {
            postfix().banner("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1")
        } else {
            postfix()
        }
    });
    assert_eq!(run.report.verdict, Verdict::Inconclusive, "{}", run.report.reason);
    assert_eq!(run.report.transcript.iter().filter(|l| l.text.contains("waiting 61 s")).count(), 1);
}

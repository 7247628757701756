//! The sentences the audit speaks: what each step of the manual test means,
//! and how times are written. The terminal, the page and the hosted API all
//! say what this file says, so they never disagree in words.

use std::time::Duration;

use crate::reply::Reply;
use crate::report::{ProbeReport, Report};
use crate::software::Software;
use crate::step::Tone;
use crate::verdict::Outcome;

/// A banner slower than this gets a word of warning: tarpits and broken
/// reverse DNS show up here first.
pub const SLOW_BANNER: Duration = Duration::from_secs(5);

/// "0.4 ms", "312 ms", "2.1 s".
pub fn human_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// [`human_ms`] for the milliseconds a report holds.
pub fn human_millis(ms: f64) -> String {
    human_ms(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

/// Milliseconds, to the microsecond, as reports hold them.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

pub fn is_slow_banner(waited_ms: f64) -> bool {
    waited_ms >= SLOW_BANNER.as_secs_f64() * 1000.0
}

/// The audit's timings as short phrases: "connect 0.3 ms", "banner 6.0 s
/// (slow: …)", "22 probes over 6 connections in 14 ms".
pub fn timing_phrases(report: &Report) -> Vec<String> {
    let t = &report.timings;
    let mut phrases = Vec::new();
    if let Some(ms) = t.connect_ms {
        phrases.push(format!("connect {}", human_millis(ms)));
    }
    if let Some(ms) = t.banner_ms {
        let slow = if is_slow_banner(ms) { " (slow: a tarpit or slow reverse DNS)" } else { "" };
        phrases.push(format!("banner {}{slow}", human_millis(ms)));
    }
    if let Some(ms) = t.greeting_ms {
        phrases.push(format!("greeting {}", human_millis(ms)));
    }
    phrases.push(format!(
        "{} probes over {} connections in {}",
        report.probes.len(),
        report.connections,
        human_millis(report.elapsed_ms)
    ));
    phrases
}

pub(crate) fn connected(peer: std::net::IpAddr, port: u16, took: Duration) -> String {
    format!("Connected to {peer} port {port} in {}.", human_ms(took))
}

pub(crate) fn could_not_connect(reason: &str) -> String {
    format!("Could not connect: {reason}.")
}

pub(crate) fn banner(reply: &Reply, software: Software, waited: Duration) -> (Tone, String) {
    let who = match software {
        Software::Other => String::new(),
        s => format!(" ({})", s.name()),
    };
    if reply.is_positive() {
        if waited >= SLOW_BANNER {
            (
                Tone::Warning,
                format!(
                    "The server greeted us{who}, but only after {}: a deliberate delay (tarpit) or slow reverse DNS.",
                    human_ms(waited)
                ),
            )
        } else {
            (Tone::Good, format!("The server greeted us{who} after {}.", human_ms(waited)))
        }
    } else if reply.is_permanent() {
        (Tone::Bad, format!("The server refused to talk to this checker ({}).", reply.summary()))
    } else {
        (Tone::Warning, format!("The server is not taking connections just now ({}).", reply.summary()))
    }
}

pub(crate) fn greeted(helo_fallback: bool, extensions: usize) -> String {
    if helo_fallback {
        "The server refused EHLO but accepted HELO: it speaks plain SMTP without extensions.".to_string()
    } else {
        format!("The server accepted our greeting and offers {extensions} extensions.")
    }
}

pub(crate) fn greeting_refused(reply: &Reply) -> String {
    format!("The server refused both EHLO and HELO ({}).", reply.summary())
}

pub(crate) fn sender_refused(sender: &str, reply: &Reply) -> String {
    format!(
        "The server refused the sender <{sender}> ({}); that says nothing about relaying, so the recipient is asked again with a sender it takes.",
        reply.summary()
    )
}

pub(crate) fn sender_accepted(sender: &str) -> String {
    format!("The server accepted the outside sender <{sender}>; the recipient decides.")
}

/// A probe's verdict in one word, as tables show it: "unconfirmed" for an
/// acceptance that proves nothing, else the verdict itself.
pub fn verdict_word(probe: &ProbeReport) -> &'static str {
    match probe.outcome {
        Outcome::Unconfirmed { .. } => "unconfirmed",
        _ => match probe.verdict {
            crate::verdict::ProbeVerdict::Accepted => "accepted",
            crate::verdict::ProbeVerdict::Denied => "denied",
            crate::verdict::ProbeVerdict::Inconclusive => "inconclusive",
            crate::verdict::ProbeVerdict::Blocked => "blocked",
        },
    }
}

pub(crate) fn tls_demanded(reply: &Reply) -> String {
    format!(
        "The server wants TLS before it takes a sender ({}): relaycheck starts TLS with STARTTLS and asks again inside it, as any sender that can do TLS would.",
        reply.summary()
    )
}

pub(crate) fn greeted_in_tls() -> String {
    "Greeted again inside TLS, as RFC 3207 requires: the server forgets what was said before TLS.".to_string()
}

/// The TLS step's sentence and colour: good when the certificate is trusted
/// for the name asked for, a warning otherwise (mail still goes, but a
/// sender that checks certificates will not send it, or not safely).
pub(crate) fn tls_up(facts: &crate::tls::TlsFacts) -> (Tone, String) {
    let tone = if facts.trusted && facts.name_matches { Tone::Good } else { Tone::Warning };
    (tone, format!("TLS is up: {}", facts.describe()))
}

pub(crate) fn tls_failed(failure: &crate::tls::TlsFailure) -> String {
    format!("TLS could not be started: {}.", failure.reason.trim_end_matches('.'))
}

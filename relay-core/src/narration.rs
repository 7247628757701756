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
        format!("{} ms", fixed(ms, 1))
    } else if ms < 1000.0 {
        format!("{} ms", fixed(ms, 0))
    } else {
        format!("{} s", fixed(ms / 1000.0, 1))
    }
}

/// `x` with `decimals` (0 or 1) digits after the point, exactly as
/// `format!("{x:.1}")` or `{x:.0}` writes it (the exact binary value rounded,
/// ties to even), for `x` within ±2^63 (times and sizes; larger ones
/// saturate): the page then carries no float formatting code, only
/// integer formatting.
pub fn fixed(x: f64, decimals: u32) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_string();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    // x = mantissa × 2^shift exactly, and times 10 for one decimal.
    let (mantissa, shift) = if exponent == 0 { (fraction, -1074) } else { (fraction | 1 << 52, exponent - 1075) };
    let scaled = u128::from(mantissa) * if decimals == 0 { 1 } else { 10 };
    let n = if shift >= 0 {
        scaled << shift.min(64)
    } else if shift <= -120 {
        0
    } else {
        let down = (-shift) as u32;
        let (whole, rest, half) = (scaled >> down, scaled & ((1 << down) - 1), 1u128 << (down - 1));
        whole + u128::from(rest > half || rest == half && whole & 1 == 1)
    };
    let n = n.min(u128::from(u64::MAX)) as u64;
    if decimals == 0 {
        format!("{sign}{n}")
    } else {
        format!("{sign}{}.{}", n / 10, n % 10)
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

pub(crate) fn refusal_unexplained(reply: &Reply) -> String {
    format!(
        "The server refused this recipient ({}) without words that say why: it counts as a refusal to relay only if the server takes postmaster at its own name from us, which the audit asks too.",
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
        Outcome::NotAsked { .. } => "not asked",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_writes_what_float_formatting_writes() {
        let mut values = vec![0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.5, 1.5, 2.5, 9.95, 9.25, 0.125, 999.5, 1e15, 5e-324];
        let mut x = 1e-7_f64;
        while x < 1e7 {
            values.push(x);
            x *= 1.0009;
        }
        for n in 0..20_000u64 {
            values.push(n as f64 / 20.0);
            values.push(n as f64 / 1000.0 * 1000.0 / 1000.0);
            values.push(Duration::from_micros(n * 50).as_secs_f64() * 1000.0);
            values.push(Duration::from_nanos(n * 50_001).as_secs_f64() * 1000.0 / 1000.0);
        }
        values.extend([-0.0, -0.04, -0.05, -2.5, -312.25, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        for x in values {
            assert_eq!(fixed(x, 1), format!("{x:.1}"), "{x:e}");
            assert_eq!(fixed(x, 0), format!("{x:.0}"), "{x:e}");
        }
    }

    #[test]
    fn human_ms_reads_as_before() {
        for (ms, text) in [(0.4, "0.4 ms"), (312.0, "312 ms"), (2100.0, "2.1 s"), (9.96, "10.0 ms"), (999.6, "1000 ms")]
        {
            assert_eq!(human_millis(ms), text);
        }
    }
}

//! Findings: what the audit noticed besides the relay verdict, each in words
//! with what to change. Controls give most of them: a server that takes any
//! recipient at its own name, one that refuses `postmaster`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::probe::USES_SERVER_NAME;
use crate::report::{ProbeReport, Server, TlsReport};
use crate::software::Software;
use crate::step::Tone;
use crate::verdict::{Outcome, ProbeVerdict};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable name for scripts: `accepts-any-recipient`, `postmaster-refused`,
    /// `probes-adapted`.
    pub id: String,
    /// How the page should colour it.
    pub tone: Tone,
    /// What was found, in one or two sentences.
    pub text: String,
    /// What to change, for the software recognised; may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<String>,
}

/// What the control recipients showed: a place where any recipient is
/// taken (with the relay probes that landed there and were therefore not
/// counted), and `postmaster` refused at the server's name.
pub(crate) fn from_controls(probes: &[ProbeReport], controls: &[ProbeReport], software: Software) -> Vec<Finding> {
    let mut findings = Vec::new();
    let taken: Vec<&ProbeReport> =
        controls.iter().filter(|c| c.lands_at.is_some() && c.verdict == ProbeVerdict::Accepted).collect();
    if let Some(first) = taken.first() {
        let places: Vec<String> = taken
            .iter()
            .map(|c| match c.lands_at.as_deref() {
                Some("") => "a bare local part (no domain)".to_string(),
                other => other.unwrap_or_default().to_string(),
            })
            .collect();
        let said = first.reply.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        let tricks: Vec<&str> = probes
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::Unconfirmed { catch_all: true, .. }))
            .map(|p| p.id.as_str())
            .collect();
        let not_counted = if tricks.is_empty() {
            String::new()
        } else {
            format!(" The tricks accepted there ({}) are therefore not counted as relaying.", tricks.join(", "))
        };
        findings.push(Finding {
            id: "accepts-any-recipient".into(),
            tone: Tone::Warning,
            text: format!(
                "The server accepts mail for any recipient at {}: it took <{}>, a mailbox that cannot exist{said}, and the same at each of these. It checks recipients only later and bounces what it cannot deliver; those bounces go to forged senders (backscatter), which gets servers black-listed too.{not_counted}",
                places.join(", "),
                first.rcpt_to
            ),
            advice: software.catch_all_advice().iter().map(|s| s.to_string()).collect(),
        });
    }
    // postmaster refused for who we are (a blocklist, our greeting) says
    // nothing about how the server treats postmaster.
    if let Some(c) = controls.iter().find(|c| {
        c.lands_at.is_none()
            && c.verdict != ProbeVerdict::Accepted
            && c.reply.is_some()
            && !matches!(c.outcome, Outcome::NotAsked { .. })
    }) {
        let said = c.reply.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        let name = c.rcpt_to.trim_start_matches("postmaster@");
        findings.push(Finding {
            id: "postmaster-refused".into(),
            tone: Tone::Neutral,
            text: format!(
                "The server refused <{}>{said}. RFC 5321 §4.5.1 requires every domain a server takes mail for to accept postmaster; if {name}, the name in its banner, is not one of them, this is expected.",
                c.rcpt_to
            ),
            advice: Vec::new(),
        });
    }
    findings
}

/// The banner named no domain, so the server's address stood in for it.
pub(crate) fn probes_adapted(banner: &str, address: IpAddr) -> Finding {
    let first_word = banner.get(4..).and_then(|b| b.split_whitespace().next()).unwrap_or("");
    Finding {
        id: "probes-adapted".into(),
        tone: Tone::Neutral,
        text: format!(
            "The banner's first word \"{first_word}\" is not a domain name of two labels or more, so the probes that need the server's name used its address [{address}] instead: {}.",
            USES_SERVER_NAME.join(", ")
        ),
        advice: Vec::new(),
    }
}

/// What the greeting in plain text and the TLS handshake showed about the
/// server's encryption: a password that would cross in clear, STARTTLS not
/// offered, a certificate senders will not trust, one about to expire, or
/// TLS that cannot be started at all.
pub(crate) fn tls(server: &Server, tls: Option<&TlsReport>, implicit: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let greeted = !server.capabilities.extensions.is_empty();
    if !implicit && greeted {
        let clear: Vec<&str> = server
            .capabilities
            .params("AUTH")
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .filter(|m| m.eq_ignore_ascii_case("PLAIN") || m.eq_ignore_ascii_case("LOGIN"))
            .collect();
        if !clear.is_empty() {
            findings.push(Finding {
                id: "auth-before-tls".into(),
                tone: Tone::Bad,
                text: format!(
                    "The server offers AUTH {} before TLS: a client that logs in here sends its password in clear, readable by anyone on the path.",
                    clear.join(" and ")
                ),
                advice: vec![
                    "Postfix: smtpd_tls_auth_only = yes.".into(),
                    "Exim: auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}.".into(),
                ],
            });
        }
        if !server.capabilities.starttls() {
            findings.push(Finding {
                id: "starttls-missing".into(),
                tone: Tone::Warning,
                text: "The server does not offer STARTTLS: mail to it crosses the network in clear, and senders that insist on TLS cannot deliver.".into(),
                advice: vec![
                    "Postfix: smtpd_tls_cert_file, smtpd_tls_key_file and smtpd_tls_security_level = may.".into(),
                    "Exim: tls_certificate, tls_privatekey and tls_advertise_hosts = *.".into(),
                ],
            });
        }
    }
    let Some(tls) = tls else { return findings };
    if let Some(failure) = &tls.failure {
        findings.push(Finding {
            id: "tls-failed".into(),
            tone: Tone::Bad,
            text: format!("TLS could not be started with the server: {}.", failure.trim_end_matches('.')),
            advice: Vec::new(),
        });
    }
    if let Some(facts) = &tls.facts {
        if let Some(problem) = &facts.trust_problem {
            findings.push(Finding {
                id: "tls-certificate-untrusted".into(),
                tone: Tone::Warning,
                text: format!(
                    "The server's certificate is not trusted by Mozilla's roots: {}. Senders that check certificates (MTA-STS, DANE without a matching record) will not deliver to it.",
                    problem.trim_end_matches('.')
                ),
                advice: Vec::new(),
            });
        }
        if let Some(leaf) = facts.leaf().filter(|l| (0..=20).contains(&l.days_left)) {
            findings.push(Finding {
                id: "tls-certificate-expiring".into(),
                tone: Tone::Warning,
                text: format!(
                    "The server's certificate expires on {}, in {} days: renew it before senders that check certificates stop delivering.",
                    leaf.not_after, leaf.days_left
                ),
                advice: Vec::new(),
            });
        }
    }
    findings
}

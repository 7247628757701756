//! Findings: what the audit noticed besides the relay verdict, each in words
//! with what to change. Controls give most of them: a server that takes any
//! recipient at its own name, one that refuses `postmaster`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::probe::USES_SERVER_NAME;
use crate::report::ProbeReport;
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
    if let Some(c) =
        controls.iter().find(|c| c.lands_at.is_none() && c.verdict != ProbeVerdict::Accepted && c.reply.is_some())
    {
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

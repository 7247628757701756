//! The report of a finished audit. Its field names are a public API: the
//! CLI's `--json`, the hosted `/api/check` and the page's download all emit it.

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::finding::Finding;
use crate::probe::ProbeKind;
use crate::refusal::Refusal;
use crate::software::{Identity, Software};
use crate::step::Step;
use crate::tls::TlsFacts;
use crate::transcript::TranscriptLine;
use crate::verdict::{Outcome, ProbeVerdict, Verdict};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    /// The verdict in words.
    pub reason: String,
    pub server: Server,
    /// The relay attempts, the manual test first.
    pub probes: Vec<ProbeReport>,
    /// The control recipients: not relay attempts, but what tells whether an
    /// accepted trick proves anything (see `probe::controls`).
    #[serde(default)]
    pub controls: Vec<ProbeReport>,
    /// What the audit noticed besides the verdict.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The server's TLS, when TLS was tried (offered by the server, or at
    /// connect on port 465); `None` when it never was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsReport>,
    pub steps: Vec<Step>,
    pub transcript: Vec<TranscriptLine>,
    pub timings: Timings,
    /// Wall time of the whole audit.
    pub elapsed_ms: f64,
    /// Connections opened to the server.
    pub connections: u32,
    /// What to change, for the software recognised in the banner.
    pub advice: Vec<String>,
    pub from_domain: String,
    pub to_domain: String,
}

/// How TLS went with the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsReport {
    /// `starttls` (RFC 3207) or `implicit` (TLS from the first byte, RFC 8314).
    pub how: String,
    /// The server demanded TLS before it took a sender, so the relay test
    /// ran inside TLS.
    pub required: bool,
    /// What the first handshake showed; `None` if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<TlsFacts>,
    /// Why TLS could not be started, in words; `None` if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// The name or address the audit was asked to check.
    pub host: String,
    /// The address actually connected to; `None` if no connection was made.
    pub address: Option<String>,
    pub port: u16,
    /// The whole banner as sent, lines joined by `\n`.
    pub banner: Option<String>,
    /// The server's own name: the first word of its banner.
    pub name: Option<String>,
    pub software: Software,
    /// The software more closely: for Exchange its generation, and the
    /// version the banner gives; `None` when nothing was recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// EHLO extensions; empty if the server only speaks HELO.
    pub capabilities: Capabilities,
    /// The extensions in plain words.
    pub capabilities_described: Vec<String>,
    /// Whether EHLO was refused and HELO used instead.
    pub helo_fallback: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub id: String,
    pub name: String,
    /// The sender whose recipient was asked: the probe's own, or the one
    /// used instead when the server refused it (see `refused_sender`).
    pub mail_from: String,
    pub rcpt_to: String,
    /// Whether the probe is about its sender, its recipient, or a control.
    #[serde(default)]
    pub kind: ProbeKind,
    /// Where the recipient lands if the server reads it as local (see
    /// `probe::Probe::lands_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lands_at: Option<String>,
    /// The name this probe greeted with, when it forged one (the server's
    /// own name, its address, `localhost`) instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// The probe's own sender, when the server refused it and the recipient
    /// was asked again with `mail_from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_sender: Option<RefusedSender>,
    pub verdict: ProbeVerdict,
    /// The code of the reply the verdict rests on; `None` when there was no
    /// reply (timeout, lost connection).
    pub code: Option<u16>,
    /// That reply on one line, enhanced code and text included.
    pub reply: Option<String>,
    /// The reply to MAIL FROM, when it was answered.
    pub mail_reply: Option<String>,
    pub outcome: Outcome,
    /// What the reply refused, when it refused something: the relay, or
    /// something else first (the recipient's domain, the client, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
    /// What the outcome means, in one sentence.
    pub explanation: String,
    /// Which connection gave the final answer, from 1.
    pub connection: u32,
    /// Milliseconds from sending the probe's first command to its answer.
    pub elapsed_ms: f64,
}

/// A sender the server refused, and what it said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedSender {
    pub mail_from: String,
    pub reply: String,
}

/// Timings of the first connection: what a person would feel at a telnet
/// prompt. A slow banner often means a tarpit or reverse-DNS trouble.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub connect_ms: Option<f64>,
    pub banner_ms: Option<f64>,
    pub greeting_ms: Option<f64>,
}

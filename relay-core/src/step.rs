//! Step records: the manual test's steps (connect, banner, greeting, sender,
//! recipient, verdict), each with what was sent, what came back, a tone and
//! one sentence on what it means. The page draws one panel per step.

use serde::Serialize;

use crate::de::{deserialize_by_name, deserialize_from_map};
use crate::reply::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Connect,
    Banner,
    Greeting,
    /// STARTTLS and the handshake the driver did (or, on port 465, the
    /// handshake at connect): protocol, cipher, certificate.
    Tls,
    Sender,
    Recipient,
    Verdict,
}

/// How the page should colour a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// As it should be.
    Good,
    /// Neither good nor bad: a fact.
    Neutral,
    /// Worth a look, or the answer is not final.
    Warning,
    /// A problem: an open relay, or a step that failed.
    Bad,
}

impl StepKind {
    /// The step's name in JSON (`"connect"`, …), for scripts and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Connect => "connect",
            StepKind::Banner => "banner",
            StepKind::Greeting => "greeting",
            StepKind::Tls => "tls",
            StepKind::Sender => "sender",
            StepKind::Recipient => "recipient",
            StepKind::Verdict => "verdict",
        }
    }

    /// Its heading, as the manual test names it.
    pub fn title(self) -> &'static str {
        match self {
            StepKind::Connect => "Connect",
            StepKind::Banner => "Banner",
            StepKind::Greeting => "Greeting",
            StepKind::Tls => "TLS",
            StepKind::Sender => "Sender",
            StepKind::Recipient => "Recipient",
            StepKind::Verdict => "Verdict",
        }
    }

    /// What the audit does once this step is done, for a progress line.
    pub fn next_action(self) -> &'static str {
        match self {
            StepKind::Connect => "waiting for the banner",
            StepKind::Banner => "greeting the server",
            StepKind::Greeting => "sending the first sender",
            StepKind::Tls => "greeting the server again inside TLS",
            StepKind::Sender => "sending the first recipient",
            StepKind::Recipient => "trying the relay tricks",
            StepKind::Verdict => "done",
        }
    }
}

impl Tone {
    /// The tone's name in JSON (`"good"`, …), for scripts and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Neutral => "neutral",
            Tone::Warning => "warning",
            Tone::Bad => "bad",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// Connection number, from 1.
    pub connection: u32,
    /// The probe this step belongs to, for sender and recipient steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The command sent, without CRLF (`telnet host 25` for the connect step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    /// When the step began, in milliseconds since the audit began.
    pub at_ms: f64,
    /// How long the step took: from sending (or connecting) to the answer.
    pub took_ms: f64,
    pub tone: Tone,
    /// What the step means, in one sentence.
    pub meaning: String,
    /// Further facts (the addresses tried, capabilities in plain words).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

deserialize_from_map!(Step {
    kind, connection, probe, sent, reply, at_ms, took_ms, tone, meaning, details = Vec::new(),
});
deserialize_by_name!(StepKind {
    Connect = "connect", Banner = "banner", Greeting = "greeting", Tls = "tls",
    Sender = "sender", Recipient = "recipient", Verdict = "verdict",
});
deserialize_by_name!(Tone { Good = "good", Neutral = "neutral", Warning = "warning", Bad = "bad" });

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn unit_enums_read_back_every_name_serde_writes() {
        use crate::{Software, Verdict};
        fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(all: &[T]) {
            for v in all {
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v, "{json}");
            }
            let err = serde_json::from_str::<T>(r#""no-such-name""#).unwrap_err().to_string();
            assert!(err.starts_with("unknown variant `no-such-name`, expected one of `"), "{err}");
        }
        use StepKind::*;
        round_trip(&[Connect, Banner, Greeting, Tls, Sender, Recipient, StepKind::Verdict]);
        round_trip(&[Tone::Good, Tone::Neutral, Tone::Warning, Tone::Bad]);
        round_trip(&[Verdict::Open, Verdict::Closed, Verdict::Inconclusive, Verdict::Blocked]);
        use Software::*;
        round_trip(&[Postfix, Exim, Sendmail, Exchange, OpenSmtpd, Qmail, Other]);
    }
}

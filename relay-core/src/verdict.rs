//! Verdicts: what one probe's replies mean, and what all of them mean together.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::reply::Reply;

/// How one probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeVerdict {
    /// RCPT got 2xx: the server would relay (DATA was never tried).
    Accepted,
    /// A permanent (5xx) refusal of the recipient.
    Denied,
    /// A temporary refusal, no answer, a lost connection, or a refused
    /// sender: the relay question was not answered.
    Inconclusive,
    /// The server wants STARTTLS or authentication before any mail.
    Blocked,
}

/// The audit's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Open,
    Closed,
    Inconclusive,
    Blocked,
}

impl fmt::Display for ProbeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeVerdict::Accepted => "accepted",
            ProbeVerdict::Denied => "denied",
            ProbeVerdict::Inconclusive => "inconclusive",
            ProbeVerdict::Blocked => "blocked",
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Open => "open",
            Verdict::Closed => "closed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Blocked => "blocked",
        })
    }
}

/// Why a probe ended as it did, finer than its verdict: the overall verdict
/// needs to know whether an inconclusive probe might still relay later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// RCPT answered 2xx.
    Accepted,
    /// RCPT answered 5xx.
    Denied,
    /// RCPT or MAIL answered 4xx: try again later (greylisting, deferral).
    Deferred { at: Stage },
    /// MAIL answered 5xx, so the recipient was never tested. Permanent: this
    /// sender can never relay, whatever the recipient.
    SenderRefused,
    /// STARTTLS or AUTH required (530 and kin).
    Blocked { at: Stage },
    /// The server turned the whole connection away at the banner or greeting.
    Refused { at: Stage },
    /// No reply within the timeout.
    TimedOut { at: Stage },
    /// The connection closed (or could not be made) before the answer.
    ConnectionLost { at: Stage },
    /// The server sent something that is not SMTP; `detail` says what.
    Garbled { at: Stage, detail: String },
}

/// Where in the dialogue something happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Connect,
    Banner,
    Greeting,
    Sender,
    Recipient,
}

impl fmt::Display for Stage {
    /// When it happened, to end a sentence: "… lost while connecting".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "while connecting",
            Stage::Banner => "while waiting for the banner",
            Stage::Greeting => "after our greeting (EHLO/HELO)",
            Stage::Sender => "after MAIL FROM",
            Stage::Recipient => "after RCPT TO",
        })
    }
}

impl Outcome {
    pub fn verdict(&self) -> ProbeVerdict {
        match self {
            Outcome::Accepted => ProbeVerdict::Accepted,
            Outcome::Denied => ProbeVerdict::Denied,
            Outcome::Blocked { .. } => ProbeVerdict::Blocked,
            // A server that turns us away before any mail command cannot be
            // asked about relaying: like STARTTLS-only, we were stopped first.
            Outcome::Refused { .. } => ProbeVerdict::Blocked,
            Outcome::Deferred { .. }
            | Outcome::SenderRefused
            | Outcome::TimedOut { .. }
            | Outcome::ConnectionLost { .. }
            | Outcome::Garbled { .. } => ProbeVerdict::Inconclusive,
        }
    }

    /// Whether asking again could turn this probe into "accepted". Such a
    /// probe keeps an audit from being called closed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Outcome::Deferred { .. }
                | Outcome::TimedOut { .. }
                | Outcome::ConnectionLost { .. }
                | Outcome::Garbled { .. }
        )
    }

    /// Classifies the reply to RCPT TO.
    pub fn from_rcpt(reply: &Reply) -> Outcome {
        if reply.needs_tls_or_auth() {
            Outcome::Blocked { at: Stage::Recipient }
        } else if reply.is_positive() {
            Outcome::Accepted
        } else if reply.is_permanent() {
            Outcome::Denied
        } else {
            Outcome::Deferred { at: Stage::Recipient }
        }
    }

    /// Classifies a negative reply to MAIL FROM; `None` if the sender was taken.
    pub fn from_mail(reply: &Reply) -> Option<Outcome> {
        if reply.needs_tls_or_auth() {
            Some(Outcome::Blocked { at: Stage::Sender })
        } else if reply.is_positive() {
            None
        } else if reply.is_permanent() {
            Some(Outcome::SenderRefused)
        } else {
            Some(Outcome::Deferred { at: Stage::Sender })
        }
    }

    /// One sentence on what this outcome means, given the reply it rests on.
    pub fn explain(&self, reply: Option<&Reply>) -> String {
        let said = reply.map(|r| format!(" ({})", r.summary())).unwrap_or_default();
        match self {
            Outcome::Accepted => format!("The server accepted an outside recipient from an outside sender{said}: it would relay this message."),
            Outcome::Denied => format!("The server refused to relay{said}: this is the answer you want."),
            Outcome::Deferred { at: Stage::Recipient } if is_relay_deferral(reply) => format!(
                "The server refused to relay, but only for now{said}: a temporary refusal is not a final no. Make it permanent (in Postfix: reject_unauth_destination instead of defer_unauth_destination)."
            ),
            Outcome::Deferred { at } => format!("The server said \"not now\" {at}{said}, as greylisting does; the relay question stays open until it answers for good."),
            Outcome::SenderRefused => format!("The server refused this sender{said}, so the recipient was never tested."),
            Outcome::Blocked { .. } => format!("The server requires encryption (STARTTLS) or a login before it takes mail{said}, so relaying by strangers could not be tested in plain SMTP."),
            Outcome::Refused { at } => format!("The server turned the connection away {at}{said}; it will not talk to this checker."),
            Outcome::TimedOut { at } => format!("The server did not answer in time {at}."),
            Outcome::ConnectionLost { at } => format!("The connection was lost {at}{said} before the server answered."),
            Outcome::Garbled { at, detail } => format!("{detail} ({at})."),
        }
    }
}

/// A 4xx that says "relay access denied" in words: Postfix's
/// `defer_unauth_destination` safety net, the default on fresh installs.
/// The enhanced code alone does not tell: greylisting says 4.7.1 too.
fn is_relay_deferral(reply: Option<&Reply>) -> bool {
    reply.is_some_and(|r| r.is_transient() && r.text().to_ascii_lowercase().contains("relay"))
}

/// Combines the probes' outcomes into the audit's verdict and its reason.
///
/// - open: any probe was accepted;
/// - inconclusive: some probe might still be accepted on another try
///   (a 4xx, no answer, a lost connection) — 4xx is never "closed";
/// - blocked: nothing was denied, and STARTTLS/AUTH (or a refusal to talk)
///   stopped us before the question could be asked;
/// - closed: at least one relay attempt was refused for good and none of
///   the others can still succeed;
/// - inconclusive otherwise (every sender refused: no recipient tested).
pub fn overall(outcomes: &[(&str, &Outcome, Option<&Reply>)]) -> (Verdict, String) {
    let total = outcomes.len();
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o, _)| f(o)).count();
    let first = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().find(|(_, o, _)| f(o));
    let reply_of = |r: Option<&Reply>| r.map(|r| format!(" ({})", r.summary())).unwrap_or_default();

    if total == 0 {
        return (Verdict::Inconclusive, "No probe could be run.".into());
    }
    let accepted = count(&|o| *o == Outcome::Accepted);
    if let Some((name, _, reply)) = first(&|o| *o == Outcome::Accepted) {
        let more = if accepted > 1 { format!(" {accepted} of {total} probes were accepted.") } else { String::new() };
        return (
            Verdict::Open,
            format!("The server accepted mail for an outside domain from an outside sender in the probe \"{name}\"{}.{more}", reply_of(*reply)),
        );
    }
    let denied = count(&|o| *o == Outcome::Denied);
    let transient = count(&|o| o.is_transient());
    let relay_deferrals = outcomes
        .iter()
        .filter(|(_, o, r)| matches!(o, Outcome::Deferred { at: Stage::Recipient }) && is_relay_deferral(*r))
        .count();
    if transient > 0 && relay_deferrals == transient {
        let (_, _, reply) = first(&|o| o.is_transient()).unwrap();
        return (
            Verdict::Inconclusive,
            format!(
                "Not an open relay right now, but the refusals are only temporary: {relay_deferrals} of {total} relay attempts got a 4xx reply{}, which means \"try again later\", never a final no. Make the refusal permanent (in Postfix: reject_unauth_destination instead of defer_unauth_destination).",
                reply_of(*reply)
            ),
        );
    }
    if let Some((name, outcome, reply)) = first(&|o| o.is_transient()) {
        let what = outcome.explain(*reply);
        let head = if denied > 0 {
            format!("Not an open relay as far as we could see ({denied} of {total} relay attempts were refused), but {transient} could not be finished")
        } else {
            format!("{transient} of {total} probes could not be finished")
        };
        return (
            Verdict::Inconclusive,
            format!("{head}. First of them, \"{name}\": {what} Run the check again later."),
        );
    }
    let blocked = count(&|o| matches!(o, Outcome::Blocked { .. } | Outcome::Refused { .. }));
    if denied == 0 && blocked > 0 {
        let (_, outcome, reply) = first(&|o| matches!(o, Outcome::Blocked { .. } | Outcome::Refused { .. })).unwrap();
        return (Verdict::Blocked, outcome.explain(*reply));
    }
    if denied > 0 {
        let (_, _, reply) = first(&|o| *o == Outcome::Denied).unwrap();
        let mut reason = if denied == total {
            format!(
                "Relaying is prohibited: all {total} relay attempts were refused{}. Your restrictions work.",
                reply_of(*reply)
            )
        } else {
            format!("Relaying is prohibited: {denied} of {total} relay attempts were refused{}.", reply_of(*reply))
        };
        let refused_senders = count(&|o| *o == Outcome::SenderRefused);
        if refused_senders > 0 {
            reason.push_str(&format!(
                " {refused_senders} more could not be tried because the server refused their sender for good."
            ));
        }
        if blocked > 0 {
            reason.push_str(&format!(" {blocked} more were stopped by a demand for STARTTLS or a login."));
        }
        return (Verdict::Closed, reason);
    }
    (Verdict::Inconclusive, "The server refused every sender we tried, so no recipient was ever tested.".into())
}

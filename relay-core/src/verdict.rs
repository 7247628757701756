//! Verdicts: what one probe's replies mean, and what all of them mean together.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::refusal::{self, Refusal};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Open,
    Closed,
    Inconclusive,
    Blocked,
}

crate::de::deserialize_by_name!(Verdict {
    Open = "open", Closed = "closed", Inconclusive = "inconclusive", Blocked = "blocked",
});

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
    /// RCPT answered 4xx in words that refuse relaying ("454 4.7.1 Relay
    /// access denied", stock Postfix's `defer_unauth_destination`). A policy
    /// that says the same on every retry: a refusal, with a temporary code.
    RelayDeferred,
    /// A probe about its sender got 5xx to MAIL: this sender may not send
    /// through the server at all, so that relay path is refused.
    SenderDenied,
    /// RCPT answered 2xx, but the recipient lands at a place where the server
    /// takes any local part (`catch_all`: a mailbox that cannot exist was
    /// accepted there too), or where that could not be checked. It proves
    /// nothing about relaying. `control` is the control recipient.
    Unconfirmed { control: String, catch_all: bool },
    /// RCPT or MAIL answered 4xx: try again later (greylisting, deferral).
    Deferred { at: Stage },
    /// MAIL answered 5xx to every sender tried, so the recipient was never
    /// tested.
    SenderRefused,
    /// STARTTLS or AUTH required (530 and kin).
    Blocked { at: Stage },
    /// The probe was to go inside TLS (the server demands it, TLS was asked
    /// for, or the port speaks it from the first byte), and TLS could not be
    /// started: the handshake failed, or STARTTLS was refused; `reason` says
    /// how.
    TlsFailed { reason: String },
    /// The server turned the whole connection away at the banner or greeting.
    Refused { at: Stage },
    /// No reply within the timeout.
    TimedOut { at: Stage },
    /// The connection closed before the answer.
    ConnectionLost { at: Stage },
    /// The connection could not be made; `reason` says why in the driver's
    /// words (refused, unreachable, or the bridge's sentence: a limit, most
    /// often).
    NotConnected { reason: String },
    /// The server sent something that is not SMTP; `detail` says what.
    Garbled { at: Stage, detail: String },
    /// The server refused something other than the relay before it judged
    /// relaying (the recipient's domain, the checker itself, its greeting,
    /// or it did not say why and refused postmaster too): the probe's
    /// question was never asked. `refused` says what was refused, `at` when.
    NotAsked { refused: Refusal, at: Stage },
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
            Outcome::Accepted | Outcome::Unconfirmed { .. } => ProbeVerdict::Accepted,
            Outcome::Denied | Outcome::RelayDeferred | Outcome::SenderDenied => ProbeVerdict::Denied,
            Outcome::Blocked { .. } | Outcome::TlsFailed { .. } => ProbeVerdict::Blocked,
            // A server that turns us away before any mail command cannot be
            // asked about relaying: like STARTTLS-only, we were stopped first.
            Outcome::Refused { .. } => ProbeVerdict::Blocked,
            Outcome::Deferred { .. }
            | Outcome::SenderRefused
            | Outcome::TimedOut { .. }
            | Outcome::ConnectionLost { .. }
            | Outcome::NotConnected { .. }
            | Outcome::Garbled { .. }
            | Outcome::NotAsked { .. } => ProbeVerdict::Inconclusive,
        }
    }

    /// What the reply this outcome rests on refused, if it refused anything.
    pub fn refused(&self, reply: Option<&Reply>) -> Option<Refusal> {
        if let Outcome::NotAsked { refused, .. } = self {
            return Some(*refused);
        }
        let reply = reply.filter(|r| !r.is_positive())?;
        let stage = match self {
            Outcome::SenderDenied | Outcome::SenderRefused => Stage::Sender,
            Outcome::Deferred { at }
            | Outcome::Blocked { at }
            | Outcome::Refused { at }
            | Outcome::TimedOut { at }
            | Outcome::ConnectionLost { at }
            | Outcome::Garbled { at, .. } => *at,
            _ => Stage::Recipient,
        };
        Some(refusal::classify(stage, reply))
    }

    /// Whether asking again could turn this probe into "accepted". Such a
    /// probe keeps an audit from being called closed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Outcome::Deferred { .. }
                | Outcome::TimedOut { .. }
                | Outcome::ConnectionLost { .. }
                | Outcome::NotConnected { .. }
                | Outcome::Garbled { .. }
        )
    }

    /// Whether this outcome refuses relaying for good (or by a policy that
    /// never changes its mind).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Denied | Outcome::RelayDeferred | Outcome::SenderDenied)
    }

    /// Classifies the reply to RCPT TO.
    pub fn from_rcpt(reply: &Reply) -> Outcome {
        if reply.needs_tls_or_auth() {
            Outcome::Blocked { at: Stage::Recipient }
        } else if reply.is_positive() {
            Outcome::Accepted
        } else if reply.is_permanent() {
            Outcome::Denied
        } else if is_relay_refusal(reply) {
            Outcome::RelayDeferred
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
        self.explain_asked(reply, &Asked::default())
    }

    /// [`Outcome::explain`], naming what the probe asked with: servers do
    /// not always quote the domain or greeting they refuse.
    pub fn explain_asked(&self, reply: Option<&Reply>, asked: &Asked) -> String {
        if let Outcome::NotAsked { refused, .. } = self {
            return not_asked(*refused, reply, asked);
        }
        let said = reply.map(|r| format!(" ({})", r.summary())).unwrap_or_default();
        match self {
            Outcome::Accepted => format!("The server accepted an outside recipient from an outside sender{said}: it would relay this message."),
            Outcome::Denied => format!("The server refused to relay{said}: this is the answer you want."),
            Outcome::RelayDeferred => format!(
                "The server refused to relay{said}, with a temporary code: it says the same on every retry, so relaying is refused, but a permanent 5xx is the clearer answer (in Postfix: reject_unauth_destination instead of defer_unauth_destination)."
            ),
            Outcome::SenderDenied => format!("The server refused this sender for good{said}: it cannot relay through this server at all."),
            Outcome::Unconfirmed { control, catch_all: true } => format!(
                "The server accepted this recipient{said}, but it also accepted <{control}>, a mailbox that cannot exist: it takes any recipient there without checking, and would bounce this mail later. That proves nothing about relaying."
            ),
            Outcome::Unconfirmed { control, catch_all: false } => format!(
                "The server accepted this recipient{said}, but whether it takes any recipient there could not be checked (the control <{control}> got no firm answer), so this acceptance is not proof of relaying."
            ),
            Outcome::Deferred { at } if reply.is_some_and(|r| is_limit_not_greylisting(*at, r)) => format!(
                "The server said \"not now\" {at}{said}: it limits what it takes from us (connections, a rate) or is busy, and this probe could not be asked within what it allowed."
            ),
            Outcome::Deferred { at } => format!("The server said \"not now\" {at}{said}, as greylisting does; the relay question stays open until it answers for good."),
            Outcome::SenderRefused => format!("The server refused every sender we could use{said}, so the recipient was never tested."),
            Outcome::Blocked { .. } => format!("The server requires encryption (STARTTLS) or a login before it takes mail{said}, so relaying by strangers could not be tested in plain SMTP."),
            Outcome::TlsFailed { reason } => format!(
                "TLS could not be started with the server, so relaying could not be asked inside it: {}.",
                reason.trim_end_matches('.')
            ),
            Outcome::Refused { at } => format!("The server turned the connection away {at}{said}; it will not talk to this checker."),
            Outcome::TimedOut { at } => format!("The server did not answer in time {at}."),
            Outcome::ConnectionLost { at } => format!("The connection was lost {at}{said} before the server answered."),
            Outcome::NotConnected { reason } => {
                format!("The connection could not be made: {}.", reason.trim_end_matches('.'))
            }
            Outcome::Garbled { at, detail } => format!("{detail} ({at})."),
            Outcome::NotAsked { refused, .. } => not_asked(*refused, reply, &Asked::default()),
        }
    }
}

/// A limit on what the server takes from us (connections, recipients, a
/// rate), said apart from greylisting, which is a "not yet" of its own.
fn is_limit_not_greylisting(at: Stage, reply: &Reply) -> bool {
    let text = reply.text().to_ascii_lowercase();
    refusal::classify(at, reply) == Refusal::Limit && !text.contains("greylist") && !text.contains("graylist")
}

/// What a probe asked with, for sentences that name it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asked<'a> {
    /// The outside domain its recipient is (or hides).
    pub to_domain: Option<&'a str>,
    /// The name it greeted with.
    pub helo: Option<&'a str>,
}

/// Why a probe was never asked, and what to do, in words.
fn not_asked(refused: Refusal, reply: Option<&Reply>, asked: &Asked) -> String {
    let said = reply.map(|r| format!(" ({})", r.summary())).unwrap_or_default();
    let domain = asked.to_domain.map(|d| format!(", {d}")).unwrap_or_default();
    let helo = asked.helo.map(|h| format!(", {h}")).unwrap_or_default();
    match refused {
        Refusal::Client => {
            let listed = reply
                .and_then(refusal::blocklist_named)
                .map(|zone| format!(": its address is listed on {zone}"))
                .unwrap_or_default();
            format!(
                "The server refused our checker itself{listed}{said}, before it judged relaying, so the relay question was never asked: for a client it does not block, the same server may relay. Run the check again from an address it does not block (another network; if this was a hosted check, a host of your own outside your network)."
            )
        }
        Refusal::RecipientDomain => format!(
            "The server refused the recipient's domain{domain}{said}, not the relay: that domain accepts no mail (the reserved example domains publish a null MX), so relaying was never judged. Run the check again with an outside recipient domain that has a working MX, for instance a domain of your own (the outside recipient's domain under Advanced on the page, --to-domain in the terminal, \"to_domain\" in the API)."
        ),
        Refusal::Greeting => format!(
            "The server refused our greeting name{helo}{said} before it judged relaying, so the relay question was never asked. Run the check again greeting with a name that resolves, such as this machine's own host name (--helo in the terminal), or from a host whose name the server knows."
        ),
        Refusal::Sender => format!(
            "The server refused every sender we could use{said}, so the recipient was never tested."
        ),
        Refusal::Unspecified => format!(
            "The server refused this recipient without saying why{said}, and it did not accept postmaster@ its own name either, so the refusal may be of this checker rather than of relaying: the relay question may never have been asked."
        ),
        Refusal::Limit => format!(
            "The server limits connections from us and would not take this probe's own greeting on one already open{said}, so it could not be asked. Run the check again later."
        ),
        other => format!("The server refused {}{said} before it judged relaying, so the relay question was never asked.", other.what()),
    }
}

/// A 4xx that refuses relaying in words: Postfix's `defer_unauth_destination`
/// ("454 4.7.1 <…>: Relay access denied"), the default on fresh installs, or
/// a "relaying denied" of another server. The enhanced code alone does not
/// tell: greylisting says 4.7.1 too, and greylisting is a "not yet", not a no.
pub fn is_relay_refusal(reply: &Reply) -> bool {
    let text = reply.text().to_ascii_lowercase();
    reply.is_transient()
        && text.contains("relay")
        && ["denied", "not permitted", "not allowed", "prohibited", "refused", "rejected"]
            .iter()
            .any(|w| text.contains(w))
        && !text.contains("greylist")
        && !text.contains("try again")
}

/// One relay attempt's answer, as the overall verdict weighs it.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The probe's name, for people.
    pub name: &'a str,
    pub outcome: &'a Outcome,
    /// The reply the outcome rests on.
    pub reply: Option<&'a Reply>,
    /// What the probe asked with.
    pub asked: Asked<'a>,
}

/// Combines the relay attempts' outcomes (never the controls') into the
/// audit's verdict and its reason.
///
/// - open: a probe was accepted, and the acceptance is evidence (the
///   recipient is outside, or a mailbox that cannot exist is refused where
///   it lands);
/// - inconclusive: some probe might still be accepted on another try (a 4xx
///   that is not a relay refusal, no answer, a lost connection), or an
///   acceptance could not be confirmed or refuted;
/// - blocked: nothing was refused, and STARTTLS/AUTH (or a refusal to talk)
///   stopped us before the question could be asked;
/// - closed: relaying was refused and nothing else can still succeed;
///   acceptances at a place that takes any recipient are named, not counted;
/// - inconclusive otherwise (every sender refused: no recipient tested).
pub fn overall(answers: &[Answer]) -> (Verdict, String) {
    let total = answers.len();
    let count = |f: &dyn Fn(&Outcome) -> bool| answers.iter().filter(|a| f(a.outcome)).count();
    let first = |f: &dyn Fn(&Outcome) -> bool| answers.iter().find(|a| f(a.outcome)).copied();
    let reply_of = |r: Option<&Reply>| r.map(|r| format!(" ({})", r.summary())).unwrap_or_default();

    if total == 0 {
        return (Verdict::Inconclusive, "No probe could be run.".into());
    }
    let accepted = count(&|o| *o == Outcome::Accepted);
    if let Some(a) = first(&|o| *o == Outcome::Accepted) {
        let more = if accepted > 1 { format!(" {accepted} of {total} probes were accepted.") } else { String::new() };
        return (
            Verdict::Open,
            format!(
                "The server accepted mail for an outside domain in the probe \"{}\"{}: it would relay for anyone who sends like that.{more}",
                a.name,
                reply_of(a.reply)
            ),
        );
    }
    if let Some(a) = first(&|o| matches!(o, Outcome::Unconfirmed { catch_all: false, .. })) {
        return (
            Verdict::Inconclusive,
            format!(
                "The server accepted the probe \"{}\"{}, and whether that is relaying could not be told: {} Run the check again.",
                a.name,
                reply_of(a.reply),
                a.outcome.explain(None)
            ),
        );
    }
    let denied = count(&Outcome::is_refusal);
    let is_not_asked = |o: &Outcome| matches!(o, Outcome::NotAsked { .. });
    if let Some(a) = first(&is_not_asked) {
        // Never "closed" on a refusal of something else: say what was
        // refused and what to do.
        let not_asked = count(&is_not_asked);
        let head = if denied > 0 {
            format!("Not an open relay as far as we could ask ({denied} of {total} relay attempts were refused), but {not_asked} were never asked")
        } else if not_asked == total {
            format!("The relay question was never answered: all {total} probes were refused for something other than relaying")
        } else {
            format!(
                "The relay question was never answered: {not_asked} of {total} probes were refused for something other than relaying, and the other {} got no firm answer",
                total - not_asked
            )
        };
        return (
            Verdict::Inconclusive,
            format!("{head}. First of them, \"{}\": {}", a.name, a.outcome.explain_asked(a.reply, &a.asked)),
        );
    }
    let transient = count(&Outcome::is_transient);
    let no_sender = count(&|o| matches!(o, Outcome::SenderRefused | Outcome::SenderDenied));
    if no_sender == total && count(&|o| *o == Outcome::SenderRefused) > 0 {
        // Sender probes were refused, and no sender was left for the rest:
        // not one recipient was ever asked.
        return (
            Verdict::Inconclusive,
            "The server refused every sender we tried, so no recipient was ever tested.".into(),
        );
    }
    if let Some(a) = first(&Outcome::is_transient) {
        let what = a.outcome.explain(a.reply);
        let head = if denied > 0 {
            format!("Not an open relay as far as we could see ({denied} of {total} relay attempts were refused), but {transient} could not be finished")
        } else {
            format!("{transient} of {total} probes could not be finished")
        };
        return (
            Verdict::Inconclusive,
            format!("{head}. First of them, \"{}\": {what} Run the check again later.", a.name),
        );
    }
    let blocked =
        count(&|o| matches!(o, Outcome::Blocked { .. } | Outcome::Refused { .. } | Outcome::TlsFailed { .. }));
    if denied == 0 && blocked > 0 {
        let a = first(&|o| matches!(o, Outcome::Blocked { .. } | Outcome::Refused { .. } | Outcome::TlsFailed { .. }))
            .expect("counted");
        return (Verdict::Blocked, a.outcome.explain(a.reply));
    }
    if denied == 0 {
        let reason = if count(&|o| matches!(o, Outcome::Unconfirmed { .. })) > 0 {
            "The server accepted some tricks, but only at places where it takes any recipient without checking, and refused nothing else we could ask: no firm answer."
        } else {
            "The server refused every sender we tried, so no recipient was ever tested."
        };
        return (Verdict::Inconclusive, reason.into());
    }
    let a = first(&|o| *o == Outcome::Denied || *o == Outcome::RelayDeferred).or_else(|| first(&Outcome::is_refusal));
    let shown = reply_of(a.and_then(|a| a.reply));
    let mut reason = if denied == total {
        format!("Relaying is prohibited: all {total} relay attempts were refused{shown}. Your restrictions work.")
    } else {
        format!("Relaying is prohibited: {denied} of {total} relay attempts were refused{shown}.")
    };
    let deferred = count(&|o| *o == Outcome::RelayDeferred);
    if deferred > 0 {
        reason.push_str(&format!(
            " {deferred} of these refusals used a temporary code (4xx), which the server repeats on every retry; a permanent 5xx is the clearer answer (in Postfix: reject_unauth_destination instead of defer_unauth_destination)."
        ));
    }
    let unconfirmed = count(&|o| matches!(o, Outcome::Unconfirmed { catch_all: true, .. }));
    if unconfirmed > 0 {
        reason.push_str(&format!(
            " {unconfirmed} more were accepted, but only where the server takes any recipient without checking (a mailbox that cannot exist was accepted there too): not proof of relaying, but a source of backscatter."
        ));
    }
    let refused_senders = count(&|o| *o == Outcome::SenderRefused);
    if refused_senders > 0 {
        reason.push_str(&format!(
            " {refused_senders} more could not be tried because the server refused every sender we could use."
        ));
    }
    if blocked > 0 {
        reason.push_str(&format!(" {blocked} more were stopped by a demand for STARTTLS or a login."));
    }
    (Verdict::Closed, reason)
}

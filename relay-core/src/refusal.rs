//! What a refusal refuses.
//!
//! A server says no for many reasons before it ever judges relaying: the
//! recipient's domain accepts no mail (the reserved example domains publish
//! a null MX, RFC 7505), the checker's own address is on a blocklist, its
//! greeting name does not resolve, it opened too many connections. Only a
//! refusal of the relay, or of the recipient address itself, answers a
//! probe's question; any other means the question was never asked, and the
//! audit must say so instead of calling the server closed.
//!
//! [`classify`] reads a negative reply: the enhanced status code first
//! (RFC 3463 and IANA's registry), then the words real servers use (the
//! table test `tests/refusals.rs` lists them with their sources, and
//! `docs/mtas.md` says which setting of each server sends which).

use std::fmt;

use serde::Serialize;

use crate::reply::{EnhancedCode, Reply};
use crate::verdict::Stage;

/// What a negative reply refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Relaying itself: "Relay access denied", "relay not permitted",
    /// "Unable to relay", qmail's rcpthosts.
    Relay,
    /// The recipient address: no such mailbox, an invalid recipient, an
    /// address form the server will not take.
    Recipient,
    /// The recipient's domain: a null MX, a domain not found, unroutable.
    RecipientDomain,
    /// The sender address or its domain (including SPF and DMARC).
    Sender,
    /// The client itself: its address, its reverse DNS, a blocklist.
    Client,
    /// The name the client greeted with (HELO/EHLO).
    Greeting,
    /// A limit: too many connections, recipients or errors, or a rate.
    Limit,
    /// TLS or a login first.
    Security,
    /// A refusal whose words say nothing we can read.
    Unspecified,
}

crate::de::deserialize_by_name!(Refusal {
    Relay = "relay", Recipient = "recipient", RecipientDomain = "recipient_domain", Sender = "sender",
    Client = "client", Greeting = "greeting", Limit = "limit", Security = "security", Unspecified = "unspecified",
});

impl Refusal {
    /// The name scripts see in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Relay => "relay",
            Refusal::Recipient => "recipient",
            Refusal::RecipientDomain => "recipient_domain",
            Refusal::Sender => "sender",
            Refusal::Client => "client",
            Refusal::Greeting => "greeting",
            Refusal::Limit => "limit",
            Refusal::Security => "security",
            Refusal::Unspecified => "unspecified",
        }
    }

    /// What was refused, to follow "the server refused …".
    pub fn what(self) -> &'static str {
        match self {
            Refusal::Relay => "to relay",
            Refusal::Recipient => "the recipient address",
            Refusal::RecipientDomain => "the recipient's domain",
            Refusal::Sender => "the sender",
            Refusal::Client => "our checker itself",
            Refusal::Greeting => "our greeting name",
            Refusal::Limit => "more from us for now (a limit)",
            Refusal::Security => "plain, anonymous mail (it wants TLS or a login)",
            Refusal::Unspecified => "without saying why",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a negative reply given at `stage` (to MAIL: [`Stage::Sender`], to
/// RCPT: [`Stage::Recipient`]) for what it refuses.
///
/// The order matters: what names its object outright decides first
/// (Postfix's "Sender address rejected", a blocklist named for the greeting),
/// then what says the cause is the client, then limits (retrying is the
/// right answer to those), then relay words, and only then the stage.
pub fn classify(stage: Stage, reply: &Reply) -> Refusal {
    let text = words_of(reply);
    let text = text.as_str();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let code = reply.enhanced.map(|EnhancedCode { class, subject, detail }| (class, subject, detail));
    let permanent = reply.is_permanent();

    if let Some(named) = postfix_object(text) {
        return named;
    }
    if is_listed(text) {
        // "Helo domain is listed in Spamhaus": the greeting's name is listed.
        return if has(&["helo", "ehlo"]) { Refusal::Greeting } else { Refusal::Client };
    }
    // Microsoft's 4.7.500–699 say "not now" whatever the words give as cause.
    if matches!(code, Some((4, 7, 500..=699))) {
        return Refusal::Limit;
    }
    if is_client_cause(code, text) || permanent && has(&["unsolicited"]) {
        return Refusal::Client;
    }
    if is_limit(code, text) {
        return Refusal::Limit;
    }
    if has(&["relay recipient table", "relay_recipient"]) {
        // Postfix's relay_recipient_maps: a domain it does relay for, and
        // no such user there.
        return Refusal::Recipient;
    }
    // A relay refusal may give its reason ("Relaying denied. IP name lookup
    // failed"): it still refuses the relay.
    if is_relay(code, text) {
        return Refusal::Relay;
    }
    if is_client(text) {
        return Refusal::Client;
    }
    if has(&["sender rejected"]) {
        // OpenSMTPD's "530 Sender rejected", despite its code.
        return Refusal::Sender;
    }
    if is_security(reply, code, text) {
        return Refusal::Security;
    }
    if stage == Stage::Greeting || has(&["helo", "ehlo"]) {
        return Refusal::Greeting;
    }
    if is_sender(code, text) {
        return Refusal::Sender;
    }
    if is_recipient_domain(code, text) {
        return Refusal::RecipientDomain;
    }
    match stage {
        // Whatever else MAIL gets refused for with the sender quoted is
        // about the sender (Sendmail writes "<addr>... " before sender
        // refusals, and not before "Access denied" to the client).
        Stage::Sender if reply.text().contains('<') || matches!(reply.code, 501 | 553 | 555) => return Refusal::Sender,
        Stage::Sender | Stage::Banner | Stage::Connect => return Refusal::Unspecified,
        _ => {}
    }
    if is_recipient(code, text) || (reply.code == 501 || reply.code == 553) && stage == Stage::Recipient {
        return Refusal::Recipient;
    }
    Refusal::Unspecified
}

/// What the engine acts on: [`classify`], except that a limit announced
/// after the answer does not hide it. Exim closes on its fourth syntax
/// error with `501-<a@[192.0.2.1]>: domain literals not allowed` /
/// `501 Too many syntax or protocol errors`: the first line answers.
pub fn classify_answer(stage: Stage, reply: &Reply) -> Refusal {
    let whole = classify(stage, reply);
    if whole == Refusal::Limit && reply.lines.len() > 1 {
        let first = Reply::new(reply.code, vec![reply.lines[0].clone()]);
        let answer = classify(stage, &first);
        if answer != Refusal::Unspecified {
            return answer;
        }
    }
    whole
}

/// What Postfix (and the servers built on it) names as the object of a
/// refusal: "<a@b>: Sender address rejected: …", "Helo command [x] blocked
/// using …", a policy server's SPF verdict on the HELO or MAIL identity.
fn postfix_object(text: &str) -> Option<Refusal> {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["why?s=helo"]) {
        return Some(Refusal::Greeting);
    }
    if has(&["why?s=mfrom"]) {
        return Some(Refusal::Sender);
    }
    if has(&["improper use of smtp command pipelining"]) {
        // reject_unauth_pipelining judges how the client talks.
        return Some(Refusal::Client);
    }
    if has(&["client host rejected", "client host blocked", "client host ["]) {
        return Some(Refusal::Client);
    }
    if has(&["helo command rejected", "ehlo command rejected", "helo command ["]) {
        return Some(Refusal::Greeting);
    }
    if has(&["sender address rejected", "sender address refused", "sender address ["]) {
        return Some(Refusal::Sender);
    }
    if has(&["recipient address ["]) {
        // reject_rhsbl_recipient: the recipient's domain is listed.
        return Some(Refusal::RecipientDomain);
    }
    None
}

/// The reply's words in lower case, without the addresses it quotes: an
/// address such as `<relaycheck@example.net>` is no word of the server's.
fn words_of(reply: &Reply) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in reply.text().chars() {
        match c {
            '<' => quoted = true,
            '>' if quoted => {
                quoted = false;
                out.push_str("<>");
            }
            _ if quoted => {}
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    if quoted {
        // An unclosed '<' quotes nothing.
        return reply.text().to_ascii_lowercase();
    }
    out
}

/// The blocklist a client refusal names ("blocked using zen.spamhaus.org",
/// "listed at bl.spamcop.net"), if it names one.
pub fn blocklist_named(reply: &Reply) -> Option<String> {
    let text = reply.text();
    let lower = text.to_ascii_lowercase();
    for marker in ["blocked using ", "listed at ", "listed in ", "listed on ", "black list at ", "blacklist at "] {
        if let Some(i) = lower.find(marker) {
            let rest = &text[i + marker.len()..];
            let zone: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).collect();
            let zone = zone.trim_end_matches('.');
            if zone.contains('.') {
                return Some(zone.to_string());
            }
        }
    }
    None
}

fn is_limit(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // X.5.3 too many recipients; X.7.28 Gmail's rate limit; X.3.1 system
    // full; X.4.5 system congestion; 5.7.508 Microsoft's per-/64 limit;
    // 4.3.2 not accepting messages now; 4.7.500–699 Microsoft's "try again
    // later".
    matches!(code, Some((_, 5, 3) | (_, 7, 28) | (_, 3, 1) | (_, 4, 5) | (5, 7, 508) | (4, 3, 2) | (4, 7, 500..=699)))
        || has(&[
            "too many",
            "too much",
            "too quickly",
            "too busy",
            "connection rate",
            "rate limit",
            "rate-limit",
            "ratelimit",
            "rate exceeds",
            "unusual rate",
            "connection limit",
            "limit exceeded",
            "exceeded the",
            "exceeded permitted",
            "excessive volume",
            "unexpected volume",
            "greylist",
            "graylist",
            "try again later",
            "try later",
            "please try again",
            "come back later",
            "server busy",
            "max message",
            "insufficient system resources",
            "temporarily unavailable",
        ])
}

/// A blocklist named: what is listed is refused (the client, unless the
/// reply says the greeting's name).
fn is_listed(text: &str) -> bool {
    [
        "blocked using",
        "listed at",
        "listed in",
        "listed on",
        "listed by",
        "listing in",
        "is in a black list",
        "blacklist",
        "black list",
        "blocklist",
        "block list",
        "dnsbl",
        "spamhaus",
        "spamcop",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// Words that give the client as the cause, whatever else the reply says:
/// its reverse DNS, its reputation, where it connects from.
fn is_client_cause(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    // 5.7.25 no reverse DNS (RFC 7372); Microsoft 365's 5.7.507 (rejected
    // by the recipient's organisation), 5.7.510/511 and 5.7.606–649 (banned
    // or unlisted sending addresses); 5.3.2 postscreen's denylist.
    matches!(code, Some((5, 7, 25 | 507 | 510 | 511 | 606..=649) | (5, 3, 2)))
        || [
            "ptr record",
            "reverse dns",
            "reverse lookup",
            "cannot find your hostname",
            "cannot find your reverse hostname",
            "does not resolve",
            "possibly forged hostname",
            "not in whitelist",
            "ip you're using",
            "not authorized to send email directly",
            "permanently deferred",
            "connections will not be accepted",
            "connections not accepted",
            "host network not allowed",
            "external client",
            "over ipv6",
            "reputation",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// Weaker words about the client, read after limits and relay refusals.
fn is_client(text: &str) -> bool {
    [
        "barracuda",
        "sending ip",
        "your ip",
        "client ip",
        "ip address",
        "mail from ip",
        "banned",
        "not authorized to connect",
        "not allowed to connect",
        "connection refused",
        "blocked - see",
    ]
    .iter()
    .any(|w| text.contains(w))
}

fn is_security(reply: &Reply, code: Option<(u8, u16, u16)>, text: &str) -> bool {
    // 5.7.57: Exchange's "Client was not authenticated to send anonymous
    // mail during MAIL FROM".
    reply.needs_tls_or_auth()
        || matches!(code, Some((_, 7, 57)))
        || [
            "starttls",
            "tls required",
            "encryption is required",
            "encryption required",
            "must issue an auth",
            "authentication is required",
            "authentication required",
        ]
        .iter()
        .any(|w| text.contains(w))
}

fn is_sender(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // X.1.7 bad sender mailbox syntax, X.1.8 bad sender's system, X.7.27
    // sender domain with a null MX (RFC 7505), X.7.23 SPF, X.7.26 and
    // Microsoft's 5.7.509 DMARC.
    matches!(code, Some((_, 1, 7 | 8) | (_, 7, 23 | 26 | 27 | 509)))
        || has(&[
            "sender",
            "mail from",
            "return path",
            "return-path",
            "envelope from",
            "spf",
            "dmarc",
            "not logged in",
            "sender verify",
            "verification failed for <",
        ])
}

fn is_recipient_domain(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.1.2 bad destination system address, 5.1.10 recipient address has a
    // null MX (RFC 7505).
    let microsofts_not_found = has(&["recipientnotfound", "recipient not found"]);
    // Microsoft says 5.1.10 for a mailbox not found, not for a null MX.
    matches!(code, Some((_, 1, 2 | 10))) && !microsofts_not_found
        || has(&[
            "does not accept mail",
            "nullmx",
            "null mx",
            "domain not found",
            "domain does not exist",
            "unknown domain",
            "no such domain",
            "unrouteable address",
            "unroutable address",
            "unrouteable domain",
            "unroutable domain",
            "undeliverable address",
            "unverified address",
            "no mx",
            "indicated no smtp service",
            "mail loops back to myself",
        ])
}

fn is_relay(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.7.54: Exchange's "Unable to relay recipient in non-accepted domain";
    // 5.7.64: Exchange Online's "TenantAttribution; Relay Access Denied".
    matches!(code, Some((_, 7, 54 | 64)))
        || has(&[
            "relay access",
            "relaying",
            "relay not",
            "relay denied",
            "relay prohibited",
            "relay refused",
            "relay rejected",
            "unable to relay",
            "cannot relay",
            "can't relay",
            "not relay",
            "no relay",
            "relay is",
            "relay to",
            "relay for",
            "relay from",
            "relay attempt",
            "relay permission",
            "cannot deliver mail for",
            "delivery is not allowed",
            "rcpthosts",
            "not a gateway",
            "not local host",
            "not permitted to send to",
            "we do not relay",
            "non-accepted domain",
            "not accepting mail for",
            "not our customer",
            "not in my list of allowed",
            "is not a local domain",
            "not hosted here",
        ])
}

fn is_recipient(code: Option<(u8, u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.1.1 bad destination mailbox, 5.1.3 bad destination syntax, 5.1.6
    // mailbox moved, 5.2.1 mailbox disabled, 5.1.0 other address status.
    matches!(code, Some((_, 1, 0 | 1 | 3 | 6) | (_, 2, 1)))
        || has(&[
            "user unknown",
            "unknown user",
            "no such user",
            "no such mailbox",
            "mailbox unavailable",
            "mailbox not found",
            "mailbox does not exist",
            "invalid recipient",
            "unknown recipient",
            "recipient not found",
            "recipient unknown",
            "recipient address rejected",
            "address rejected",
            "does not exist",
            "restricted characters",
            "malformed address",
            "syntax error",
            "must contain a domain",
            "domain literals not allowed",
            "bad recipient",
            "not a valid",
            "doesn't have a",
            "no such account",
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, line: &str) -> Reply {
        Reply::new(code, vec![line.to_string()])
    }

    #[test]
    fn the_words_that_name_what_postfix_rejects_decide() {
        let cases = [
            (Stage::Recipient, 554, "5.7.1 <a@example.net>: Relay access denied", Refusal::Relay),
            (Stage::Recipient, 454, "4.7.1 <a@example.net>: Relay access denied", Refusal::Relay),
            (
                Stage::Recipient,
                556,
                "5.1.10 <a@example.net>: Recipient address rejected: Domain example.net does not accept mail (nullMX)",
                Refusal::RecipientDomain,
            ),
            (
                Stage::Recipient,
                550,
                "5.7.27 <a@example.com>: Sender address rejected: Domain example.com does not accept mail (nullMX)",
                Refusal::Sender,
            ),
            (
                Stage::Recipient,
                554,
                "5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org",
                Refusal::Client,
            ),
            (
                Stage::Recipient,
                550,
                "5.7.1 <relaycheck.invalid>: Helo command rejected: Host not found",
                Refusal::Greeting,
            ),
            (Stage::Banner, 421, "4.7.0 mx.example Error: too many connections from 203.0.113.9", Refusal::Limit),
            (
                Stage::Recipient,
                550,
                "5.1.1 <nx@mx.example>: Recipient address rejected: User unknown",
                Refusal::Recipient,
            ),
            (Stage::Sender, 501, "<a@[192.0.2.1]>: domain literals not allowed", Refusal::Sender),
            (Stage::Recipient, 501, "domain literals not allowed", Refusal::Recipient),
            (Stage::Recipient, 550, "Access denied", Refusal::Unspecified),
            (Stage::Sender, 530, "5.7.0 Must issue a STARTTLS command first", Refusal::Security),
        ];
        for (stage, code, line, want) in cases {
            assert_eq!(classify(stage, &reply(code, line)), want, "{code} {line}");
        }
    }
}

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

use serde::{Deserialize, Serialize};

use crate::reply::{EnhancedCode, Reply};
use crate::verdict::Stage;

/// What a negative reply refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// Whether a refusal of a probe's recipient answers the relay question:
    /// the server judged this recipient and said no. A refusal of anything
    /// else (the domain, the client, the greeting) leaves it unasked.
    pub fn answers_recipient(self) -> bool {
        matches!(self, Refusal::Relay | Refusal::Recipient)
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
pub fn classify(stage: Stage, reply: &Reply) -> Refusal {
    let text = words_of(reply);
    let text = text.as_str();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let code = reply.enhanced.map(|EnhancedCode { subject, detail, .. }| (subject, detail));

    // Postfix names what it rejects ("<a@b>: Recipient address rejected:
    // …"), and so do the servers built on it; that word decides first,
    // except where the reason names the recipient's domain.
    if has(&["client host rejected", "client host blocked", "client host ["]) {
        return Refusal::Client;
    }
    if has(&["helo command rejected", "ehlo command rejected"]) {
        return Refusal::Greeting;
    }
    if has(&["sender address rejected", "sender address refused"]) {
        return Refusal::Sender;
    }
    if is_limit(code, text) {
        return Refusal::Limit;
    }
    if has(&["relay recipient table", "relay_recipient"]) {
        // Postfix's relay_recipient_maps: a domain it does relay for, and
        // no such user there.
        return Refusal::Recipient;
    }
    // A blocklist named: the client is refused, whatever else is said
    // ("listed as an open relay" is about the client's own address).
    if is_listed(text) {
        return Refusal::Client;
    }
    // A relay refusal may give its reason ("Relaying denied. IP name lookup
    // failed"): it still refuses the relay.
    if is_relay(code, text) {
        return Refusal::Relay;
    }
    if is_client(code, text) {
        return Refusal::Client;
    }
    if reply.needs_tls_or_auth() || code == Some((7, 57)) || has(&["must issue a starttls", "starttls first"]) {
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
        // Whatever else MAIL gets refused for is about the sender.
        Stage::Sender => return Refusal::Sender,
        Stage::Banner | Stage::Connect => return Refusal::Unspecified,
        _ => {}
    }
    if is_recipient(code, text) || (reply.code == 501 || reply.code == 553) && stage == Stage::Recipient {
        return Refusal::Recipient;
    }
    Refusal::Unspecified
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

fn is_limit(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 4.5.3/5.5.3 too many recipients; 4.7.28/5.7.28 Gmail's rate limit;
    // 4.3.2 Exchange's "system not accepting network messages"; 4.4.5
    // system congestion.
    matches!(code, Some((5, 3) | (7, 28) | (3, 2) | (4, 5)))
        || has(&[
            "too many connection",
            "too many concurrent",
            "too many recipients",
            "too many errors",
            "too many messages",
            "too many simultaneous",
            "too many sessions",
            "connection rate",
            "rate limit",
            "rate-limit",
            "ratelimit",
            "connection limit",
            "limit exceeded",
            "exceeded the",
            "too many smtp",
            "unusual rate",
        ])
}

fn is_listed(text: &str) -> bool {
    [
        "blocked using",
        "listed at",
        "listed in",
        "listed on",
        "listed by",
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

fn is_client(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.7.25: no reverse DNS (RFC 7372); 5.7.606–649: Microsoft 365's
    // banned or unlisted sending addresses; 5.7.510 and 5.7.511 too.
    matches!(code, Some((7, 25) | (7, 606..=649) | (7, 510 | 511)))
        || has(&[
            "barracuda",
            "sending ip",
            "your ip",
            "client ip",
            "reverse dns",
            "reverse lookup",
            "ptr record",
            "cannot find your hostname",
            "cannot find your reverse hostname",
            "poor reputation",
            "bad reputation",
            "low reputation",
            "banned",
            "not authorized to connect",
            "not allowed to connect",
            "connection refused",
            "unsolicited",
        ])
}

fn is_sender(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.1.7 bad sender mailbox syntax, 5.1.8 bad sender's system, 5.7.27
    // sender domain with a null MX (RFC 7505), 5.7.23 SPF, 5.7.26 and
    // Microsoft's 5.7.508/509 DMARC and SPF.
    matches!(code, Some((1, 7 | 8) | (7, 23 | 26 | 27 | 508 | 509)))
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

fn is_recipient_domain(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.1.2 bad destination system address, 5.1.10 recipient address has a
    // null MX (RFC 7505).
    let microsofts_not_found = has(&["recipientnotfound", "recipient not found"]);
    // Microsoft says 5.1.10 for a mailbox not found, not for a null MX.
    matches!(code, Some((1, 2 | 10))) && !microsofts_not_found
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
            "mail loops back to myself",
        ])
}

fn is_relay(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.7.54: Exchange's "Unable to relay recipient in non-accepted domain";
    // 5.7.64: Exchange Online's "TenantAttribution; Relay Access Denied".
    matches!(code, Some((7, 54 | 64)))
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

fn is_recipient(code: Option<(u16, u16)>, text: &str) -> bool {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    // 5.1.1 bad destination mailbox, 5.1.3 bad destination syntax, 5.1.6
    // mailbox moved, 5.2.1 mailbox disabled, 5.1.0 other address status.
    matches!(code, Some((1, 0 | 1 | 3 | 6) | (2, 1)))
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

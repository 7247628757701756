//! The probe plan: which sender and recipient pairs the audit tries.
//!
//! The first probe is the manual test. Then come the address forms of nmap's
//! `smtp-open-relay` and more. Each trick dresses an outside recipient up as
//! a local one, hoping the server's relay check and its router disagree.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// What a probe asks the server about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Whether this sender may relay to a plain outside recipient. A refused
    /// sender answers the question: that relay path is closed.
    Sender,
    /// Whether this recipient form relays. A refused sender says nothing
    /// about the trick: it is asked again with a sender the server took.
    #[default]
    Recipient,
    /// Not a relay attempt: a recipient whose answer tells what an accepted
    /// trick means (see [`controls`]).
    Control,
}

/// One sender/recipient pair to try, never followed by DATA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// A stable name for scripts: `manual`, `percent-ip`, …
    pub id: String,
    /// What the probe tries, for people.
    pub name: String,
    /// The path inside `MAIL FROM:<…>`.
    pub mail_from: String,
    /// The path inside `RCPT TO:<…>`.
    pub rcpt_to: String,
    pub kind: ProbeKind,
    /// Where the recipient lands if the server reads it as local rather than
    /// as the outside address it hides: the server's name, its address
    /// literal, `localhost`, or `""` for a bare local part. An acceptance
    /// there proves relaying only if the server refuses a mailbox that
    /// cannot exist at the same place. `None`: the recipient is outside.
    pub lands_at: Option<String>,
    /// The name to greet with instead of the configured one: probes of a
    /// relay hole opened by who the client claims to be, each asked on a
    /// connection of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
}

/// The id of the control that asks for `postmaster` at the server's name.
pub const POSTMASTER: &str = "postmaster";

/// What the plan is made from: facts learned on the first connection.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub config: &'a Config,
    /// The address actually connected to: the target of `[ip]` tricks.
    pub address: IpAddr,
    /// The server's own name (the first word of its banner) when that is a
    /// domain name of two labels or more; `None` otherwise, and the address
    /// literal stands in for it.
    pub server_name: Option<&'a str>,
    /// The domain the audit is for, when there is one: a domain audit's
    /// domain, or the name typed for a host. A provider's MX serving it may
    /// trust senders in it (Postfix `check_sender_access … OK`, Sendmail's
    /// `relay_local_from`), so a sender is forged there too.
    pub audited_domain: Option<&'a str>,
}

impl PlanInput<'_> {
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
    pub fn literal(&self) -> String {
        match self.address {
            IpAddr::V4(a) => format!("[{a}]"),
            IpAddr::V6(a) => format!("[IPv6:{a}]"),
        }
    }

    /// The same address written as IPv6: itself for IPv6, v4-mapped for IPv4.
    fn literal_v6(&self) -> String {
        match self.address {
            IpAddr::V4(a) => format!("[IPv6:{}]", a.to_ipv6_mapped()),
            IpAddr::V6(a) => format!("[IPv6:{a}]"),
        }
    }

    /// The server's name, or its address literal when it has no usable name.
    pub fn server(&self) -> String {
        self.server_name.map_or_else(|| self.literal(), str::to_string)
    }

    /// The domain the server probably serves: its name without the host part
    /// (`mx1.example.org` → `example.org`), used to forge a local sender.
    /// Without a name, its address literal.
    fn local_domain(&self) -> String {
        match self.server_name {
            Some(name) => match name.split_once('.') {
                Some((_, rest)) if rest.contains('.') => rest.to_string(),
                _ => name.to_string(),
            },
            None => self.literal(),
        }
    }
}

/// The probes that need the server's name, which its address literal
/// replaces when the banner names none.
pub const USES_SERVER_NAME: &[&str] = &[
    "sender-at-server",
    "spoofed-local-sender",
    "percent-server",
    "double-at-server",
    "source-route-server",
    "bang-server",
];

/// The probes that greet with a name of their own, each on a connection
/// of its own.
pub const FORGED_GREETINGS: &[&str] = &["helo-server-name", "helo-address-literal", "helo-localhost"];

/// Every probe of an audit, the manual test first.
pub fn plan(input: &PlanInput) -> Vec<Probe> {
    let c = input.config;
    let user = c.local_part.as_str();
    let from = format!("{user}@{}", c.from_domain);
    let to_domain = c.to_domain.as_str();
    let to = format!("{user}@{to_domain}");
    let ip = input.literal();
    let ip6 = input.literal_v6();
    let srv = input.server();
    // As nmap does, recipient tricks come from a sender at the server's own
    // address first: some servers relay for any sender that looks local.
    // Servers that refuse such senders are asked again with one they took.
    let at_ip = format!("{user}@{ip}");

    let sender = |id: &str, name: &str, mail_from: &str| Probe {
        id: id.into(),
        name: name.into(),
        mail_from: mail_from.into(),
        rcpt_to: to.clone(),
        kind: ProbeKind::Sender,
        lands_at: None,
        helo: None,
    };
    let trick = |id: &str, name: &str, rcpt_to: String, lands_at: Option<&str>| Probe {
        id: id.into(),
        name: name.into(),
        mail_from: at_ip.clone(),
        rcpt_to,
        kind: ProbeKind::Recipient,
        lands_at: lands_at.map(str::to_string),
        helo: None,
    };
    let (ip, ip6, srv) = (ip.as_str(), ip6.as_str(), srv.as_str());
    let bare = Some("");
    // Who the client claims to be opens holes the address forms do not: a
    // greeting as the server itself, as its address or as localhost
    // (Postfix `check_helo_access … OK`), and a sender in the audited domain.
    let greeting = |id: &str, name: &str, helo: String| Probe {
        id: id.into(),
        name: name.into(),
        mail_from: from.clone(),
        rcpt_to: to.clone(),
        kind: ProbeKind::Recipient,
        lands_at: None,
        helo: Some(helo),
    };
    let mut forged = Vec::new();
    if let Some(domain) = input.audited_domain.filter(|d| *d != input.local_domain() && *d != c.from_domain) {
        forged.push(sender(
            "sender-in-audited-domain",
            &format!("Sender forged in the audited domain, {domain}"),
            &format!("{user}@{domain}"),
        ));
    }
    if let Some(name) = input.server_name {
        let what = format!("Greeting forged as the server's own name, {name}");
        forged.push(greeting(FORGED_GREETINGS[0], &what, name.to_string()));
    }
    let what = format!("Greeting forged as the server's own address, {ip}");
    forged.push(greeting(FORGED_GREETINGS[1], &what, ip.to_string()));
    forged.push(greeting(FORGED_GREETINGS[2], "Greeting forged as localhost", "localhost".into()));
    let mut probes = vec![
        Probe {
            mail_from: from.clone(),
            ..trick("manual", "The manual test: outside sender to outside recipient", to.clone(), None)
        },
        sender("null-sender", "Null sender (as bounces use)", ""),
        sender("unqualified-sender", "Sender without a domain", user),
        sender("sender-at-server", "Sender at the server's own name", &format!("{user}@{srv}")),
        sender("sender-at-ip", "Sender at the server's own address", &at_ip),
        sender(
            "spoofed-local-sender",
            "Sender forged in the server's own domain",
            &format!("postmaster@{}", input.local_domain()),
        ),
        trick("percent-ip", "Percent hack via the server's address", format!("{user}%{to_domain}@{ip}"), Some(ip)),
        trick("percent-server", "Percent hack via the server's name", format!("{user}%{to_domain}@{srv}"), Some(srv)),
        trick(
            "percent-localhost",
            "Percent hack via localhost",
            format!("{user}%{to_domain}@localhost"),
            Some("localhost"),
        ),
        trick("quoted", "Quoted recipient", format!("\"{to}\""), bare),
        trick("quoted-percent", "Quoted percent-hack recipient", format!("\"{user}%{to_domain}\""), bare),
        trick("double-at-ip", "Two @ signs, ending at the server's address", format!("{to}@{ip}"), Some(ip)),
        trick("quoted-at-ip", "Quoted outside address at the server's address", format!("\"{to}\"@{ip}"), Some(ip)),
        trick("double-at-server", "Two @ signs, ending at the server's name", format!("{to}@{srv}"), Some(srv)),
        // A source route names the outside address as the destination
        // (RFC 5321 §4.1.1.3): accepting it is accepting outside mail.
        trick("source-route-ip", "Source route through the server's address", format!("@{ip}:{to}"), None),
        trick("source-route-server", "Source route through the server's name", format!("@{srv}:{to}"), None),
        trick("bang", "UUCP bang path", format!("{to_domain}!{user}"), bare),
        trick("bang-ip", "Bang path at the server's address", format!("{to_domain}!{user}@{ip}"), Some(ip)),
        trick("bang-server", "Bang path at the server's name", format!("{to_domain}!{user}@{srv}"), Some(srv)),
        trick("trailing-at", "Outside recipient with a trailing @", format!("{to}@"), bare),
        trick("trailing-dot", "Outside domain with a trailing dot", format!("{to}."), None),
        trick(
            "ipv6-literal",
            "Percent hack via the server's address as IPv6",
            format!("{user}%{to_domain}@{ip6}"),
            Some(ip6),
        ),
    ];
    probes.extend(forged);
    probes
}

/// The control recipients for a plan: `postmaster` at the server's name
/// (RFC 5321 §4.5.1 requires every domain to take it), and a mailbox that
/// cannot exist at each place a trick lands. Where such a mailbox is
/// accepted, the server takes any local part there without checking, and an
/// accepted trick landing there proves nothing. They come from the manual
/// test's outside sender, as the tricks' answers would.
pub fn controls(input: &PlanInput, probes: &[Probe]) -> Vec<Probe> {
    let c = input.config;
    let nonexistent = format!("{}-nx-{:016x}", c.local_part, c.nonce);
    let from = format!("{}@{}", c.local_part, c.from_domain);
    let control = |id: String, name: String, rcpt_to: String, lands_at: Option<String>| Probe {
        id,
        name,
        mail_from: from.clone(),
        rcpt_to,
        kind: ProbeKind::Control,
        lands_at,
        helo: None,
    };
    let mut out = Vec::new();
    if let Some(name) = input.server_name {
        out.push(control(
            POSTMASTER.into(),
            format!("postmaster at the server's own name, {name}"),
            format!("postmaster@{name}"),
            None,
        ));
    }
    let mut places: Vec<&str> = Vec::new();
    for place in probes.iter().filter_map(|p| p.lands_at.as_deref()) {
        if !places.contains(&place) {
            places.push(place);
        }
    }
    for place in places {
        let (id, name, rcpt_to) = if place.is_empty() {
            (
                "nonexistent-bare".to_string(),
                "A mailbox that cannot exist, without a domain".to_string(),
                nonexistent.clone(),
            )
        } else {
            (
                format!("nonexistent@{place}"),
                format!("A mailbox that cannot exist at {place}"),
                format!("{nonexistent}@{place}"),
            )
        };
        out.push(control(id, name, rcpt_to, Some(place.to_string())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_uses_address_and_server_name() {
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "192.0.2.7".parse().unwrap(),
            server_name: Some("mx1.example.org"),
            audited_domain: None,
        };
        let probes = plan(&input);
        assert!(probes.len() >= 20);
        assert_eq!(probes[0].id, "manual");
        assert_eq!(probes[0].mail_from, "relaycheck@example.com");
        assert_eq!(probes[0].rcpt_to, "relaycheck@example.net");
        let by_id = |id: &str| probes.iter().find(|p| p.id == id).unwrap().clone();
        assert_eq!(by_id("percent-ip").rcpt_to, "relaycheck%example.net@[192.0.2.7]");
        assert_eq!(by_id("source-route-server").rcpt_to, "@mx1.example.org:relaycheck@example.net");
        assert_eq!(by_id("spoofed-local-sender").mail_from, "postmaster@example.org");
        assert_eq!(by_id("ipv6-literal").rcpt_to, "relaycheck%example.net@[IPv6:::ffff:192.0.2.7]");
        let mut ids: Vec<_> = probes.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), probes.len(), "probe ids are unique");
    }

    #[test]
    fn forged_greetings_and_a_sender_in_the_audited_domain() {
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "192.0.2.7".parse().unwrap(),
            server_name: Some("smtp.provider.example"),
            audited_domain: Some("customer.example"),
        };
        let probes = plan(&input);
        let by_id = |id: &str| probes.iter().find(|p| p.id == id).unwrap().clone();
        let helos: Vec<_> = FORGED_GREETINGS.iter().map(|id| by_id(id).helo.unwrap()).collect();
        assert_eq!(helos, ["smtp.provider.example", "[192.0.2.7]", "localhost"]);
        for id in FORGED_GREETINGS {
            let p = by_id(id);
            assert_eq!(
                (p.mail_from.as_str(), p.rcpt_to.as_str()),
                ("relaycheck@example.com", "relaycheck@example.net")
            );
        }
        let forged = by_id("sender-in-audited-domain");
        assert_eq!((forged.kind, forged.mail_from.as_str()), (ProbeKind::Sender, "relaycheck@customer.example"));
        assert!(probes
            .iter()
            .filter(|p| p.id != "sender-in-audited-domain")
            .all(|p| !p.mail_from.contains("customer")));
        // The banner's own domain is forged already: not twice.
        let input = PlanInput { audited_domain: Some("provider.example"), ..input };
        assert!(plan(&input).iter().all(|p| p.id != "sender-in-audited-domain"));
        // Without a name, no greeting as the name.
        let input = PlanInput { server_name: None, audited_domain: None, ..input };
        assert!(plan(&input).iter().all(|p| p.id != "helo-server-name"));
    }

    #[test]
    fn ipv6_targets_use_ipv6_literals() {
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "2001:db8::25".parse().unwrap(),
            server_name: None,
            audited_domain: None,
        };
        let probes = plan(&input);
        assert!(probes.iter().any(|p| p.rcpt_to == "relaycheck%example.net@[IPv6:2001:db8::25]"));
        assert!(probes.iter().any(|p| p.mail_from == "postmaster@[IPv6:2001:db8::25]"));
    }

    #[test]
    fn a_server_without_a_name_gets_its_address_literal_never_a_piece_of_it() {
        // `220 vm ESMTP Postfix`: one label is no domain; the literal stands in.
        let config = Config::default();
        let input = PlanInput {
            config: &config,
            address: "127.0.0.1".parse().unwrap(),
            server_name: None,
            audited_domain: None,
        };
        let probes = plan(&input);
        let by_id = |id: &str| probes.iter().find(|p| p.id == id).unwrap().clone();
        assert_eq!(by_id("spoofed-local-sender").mail_from, "postmaster@[127.0.0.1]");
        assert_eq!(by_id("percent-server").rcpt_to, "relaycheck%example.net@[127.0.0.1]");
        for id in USES_SERVER_NAME {
            assert!(probes.iter().any(|p| p.id == *id), "{id} is not a probe");
        }
    }

    #[test]
    fn controls_cover_every_place_a_trick_lands_and_nothing_twice() {
        let config = Config { nonce: 0xabc, ..Config::default() };
        let input = PlanInput {
            config: &config,
            address: "192.0.2.7".parse().unwrap(),
            server_name: Some("mx1.example.org"),
            audited_domain: None,
        };
        let probes = plan(&input);
        let controls = controls(&input, &probes);
        let rcpts: Vec<&str> = controls.iter().map(|c| c.rcpt_to.as_str()).collect();
        assert_eq!(
            rcpts,
            [
                "postmaster@mx1.example.org",
                "relaycheck-nx-0000000000000abc@[192.0.2.7]",
                "relaycheck-nx-0000000000000abc@mx1.example.org",
                "relaycheck-nx-0000000000000abc@localhost",
                "relaycheck-nx-0000000000000abc",
                "relaycheck-nx-0000000000000abc@[IPv6:::ffff:192.0.2.7]",
            ]
        );
        assert!(controls.iter().all(|c| c.kind == ProbeKind::Control && c.mail_from == "relaycheck@example.com"));
        for p in probes.iter().filter(|p| p.lands_at.is_some()) {
            assert!(controls.iter().any(|c| c.lands_at == p.lands_at), "no control for {}", p.id);
        }
        // Without a name, no postmaster: the address literal is not a domain it serves.
        let input = PlanInput { server_name: None, ..input };
        let controls = super::controls(&input, &plan(&input));
        assert!(controls.iter().all(|c| c.id != "postmaster"));
        assert_eq!(controls.iter().filter(|c| c.lands_at.as_deref() == Some("[192.0.2.7]")).count(), 1);
    }
}

//! The probe plan: which sender and recipient pairs the audit tries.
//!
//! The first probe is the manual test. Then come the address forms of nmap's
//! `smtp-open-relay` and more. Each trick dresses an outside recipient up as
//! a local one, hoping the server's relay check and its router disagree.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::Config;

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
}

/// What the plan is made from: facts learned on the first connection.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub config: &'a Config,
    /// The address actually connected to: the target of `[ip]` tricks.
    pub address: IpAddr,
    /// The server's own name: the first word of its banner.
    pub server_name: &'a str,
}

impl PlanInput<'_> {
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
    fn literal(&self) -> String {
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

    /// The domain the server probably serves: its name without the host part
    /// (`mx1.example.org` → `example.org`), used to forge a local sender.
    fn local_domain(&self) -> &str {
        let name = self.server_name;
        match name.split_once('.') {
            Some((_, rest)) if rest.contains('.') => rest,
            _ => name,
        }
    }
}

/// Every probe of an audit, the manual test first.
pub fn plan(input: &PlanInput) -> Vec<Probe> {
    let c = input.config;
    let user = c.local_part.as_str();
    let from = format!("{user}@{}", c.from_domain);
    let to_domain = c.to_domain.as_str();
    let to = format!("{user}@{to_domain}");
    let ip = input.literal();
    let ip6 = input.literal_v6();
    let srv = input.server_name;
    // As nmap does, recipient tricks come from a sender at the server's own
    // address: some servers relay for any sender that looks local.
    let at_ip = format!("{user}@{ip}");

    let p = |id: &str, name: &str, mail_from: &str, rcpt_to: String| Probe {
        id: id.into(),
        name: name.into(),
        mail_from: mail_from.into(),
        rcpt_to,
    };
    vec![
        p("manual", "The manual test: outside sender to outside recipient", &from, to.clone()),
        p("null-sender", "Null sender (as bounces use)", "", to.clone()),
        p("unqualified-sender", "Sender without a domain", user, to.clone()),
        p("sender-at-server", "Sender at the server's own name", &format!("{user}@{srv}"), to.clone()),
        p("sender-at-ip", "Sender at the server's own address", &at_ip, to.clone()),
        p(
            "spoofed-local-sender",
            "Sender forged in the server's own domain",
            &format!("postmaster@{}", input.local_domain()),
            to.clone(),
        ),
        p("percent-ip", "Percent hack via the server's address", &at_ip, format!("{user}%{to_domain}@{ip}")),
        p("percent-server", "Percent hack via the server's name", &at_ip, format!("{user}%{to_domain}@{srv}")),
        p("percent-localhost", "Percent hack via localhost", &at_ip, format!("{user}%{to_domain}@localhost")),
        p("quoted", "Quoted recipient", &at_ip, format!("\"{to}\"")),
        p("quoted-percent", "Quoted percent-hack recipient", &at_ip, format!("\"{user}%{to_domain}\"")),
        p("double-at-ip", "Two @ signs, ending at the server's address", &at_ip, format!("{to}@{ip}")),
        p("quoted-at-ip", "Quoted outside address at the server's address", &at_ip, format!("\"{to}\"@{ip}")),
        p("double-at-server", "Two @ signs, ending at the server's name", &at_ip, format!("{to}@{srv}")),
        p("source-route-ip", "Source route through the server's address", &at_ip, format!("@{ip}:{to}")),
        p("source-route-server", "Source route through the server's name", &at_ip, format!("@{srv}:{to}")),
        p("bang", "UUCP bang path", &at_ip, format!("{to_domain}!{user}")),
        p("bang-ip", "Bang path at the server's address", &at_ip, format!("{to_domain}!{user}@{ip}")),
        p("bang-server", "Bang path at the server's name", &at_ip, format!("{to_domain}!{user}@{srv}")),
        p("trailing-at", "Outside recipient with a trailing @", &at_ip, format!("{to}@")),
        p("trailing-dot", "Outside domain with a trailing dot", &at_ip, format!("{to}.")),
        p("ipv6-literal", "Percent hack via the server's address as IPv6", &at_ip, format!("{user}%{to_domain}@{ip6}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_uses_address_and_server_name() {
        let config = Config::default();
        let input =
            PlanInput { config: &config, address: "192.0.2.7".parse().unwrap(), server_name: "mx1.example.org" };
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
    fn ipv6_targets_use_ipv6_literals() {
        let config = Config::default();
        let input = PlanInput { config: &config, address: "2001:db8::25".parse().unwrap(), server_name: "mx" };
        let probes = plan(&input);
        assert!(probes.iter().any(|p| p.rcpt_to == "relaycheck%example.net@[IPv6:2001:db8::25]"));
        assert!(probes.iter().any(|p| p.mail_from == "postmaster@mx"));
    }
}

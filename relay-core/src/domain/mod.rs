//! The domain audit: every mail server of a domain, at every address.
//!
//! Relays open only on a backup MX, or only over IPv6, are a known way
//! domains get black-listed (docs/architecture.md, "The domain audit"). So a domain's
//! answer is the worst over every MX host × every A/AAAA address:
//! open > inconclusive > blocked > closed, and its reason names the host and
//! the address that decided it.
//!
//! This module is pure: the driver resolves the MX hosts and their
//! addresses, asks [`plan`] what to audit (within [`MAX_HOSTS`] and
//! [`MAX_ADDRESSES_PER_HOST`]), audits each address with a [`Session`] of
//! its own, and hands the results to [`DomainReport::new`]. Addresses that
//! are not audited (beyond a cap, refused by a policy, a host that did not
//! resolve) stay in the report as targets with the reason, never dropped.
//!
//! [`Session`]: crate::Session

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::verdict::Verdict;

pub mod progress;
pub mod summary;

/// How many MX hosts of a domain are audited, in order of preference.
pub const MAX_HOSTS: usize = 10;
/// How many addresses of one host are audited, in the resolver's order
/// (IPv4 then IPv6).
pub const MAX_ADDRESSES_PER_HOST: usize = 4;

/// One mail server of a domain, as DNS gave it: what the bridge's resolver
/// returns, `/api/mx` lists and the domain plan is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MxHost {
    /// Lower is tried first (RFC 5321 §5.1); 0 for an implicit MX.
    pub preference: u16,
    /// The host's name; for an implicit MX, the domain itself.
    pub exchange: String,
    /// Its addresses, IPv4 then IPv6; empty when `error` says why.
    pub addresses: Vec<IpAddr>,
    /// The domain has no MX records and its own addresses stand in for one.
    pub implicit: bool,
    /// Why `addresses` is empty, when it is.
    pub error: Option<String>,
}

/// What DNS said about the domain's mail servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailServers {
    /// MX records (or an implicit MX: see [`MxHost::implicit`]).
    Hosts(Vec<MxHost>),
    /// A null MX (RFC 7505): the domain accepts no mail.
    NullMx,
    /// A host audit: one name or address, at every address, whatever its MX.
    Host(MxHost),
}

/// One host × address of the domain: the single-server report as it is,
/// plus where it stands in the domain; or, for an address (or a host) that
/// was not audited, no report and the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The MX host's name (the domain itself for an implicit MX).
    pub mx_host: String,
    /// Its MX preference; 0 for an implicit MX or a host audit.
    pub preference: u16,
    /// The domain has no MX record: this is its implicit MX (RFC 5321 §5.1).
    #[serde(default)]
    pub implicit: bool,
    /// The address audited; `None` when the host gave none. A policy that
    /// will not show an address may write `"hidden"`.
    pub address: Option<String>,
    /// Why this target was not audited; `None` when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// Its audit was started but not finished (the bridge's time for one
    /// audit ran out): unlike an address left out by a cap or a policy, it
    /// leaves the domain without a firm answer unless another is open.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// The single-server report, as `check --json` prints it for one address.
    #[serde(flatten)]
    pub report: Option<Report>,
}

impl Target {
    /// A target that was audited.
    pub fn audited(mx_host: &str, preference: u16, implicit: bool, address: IpAddr, report: Report) -> Target {
        Target {
            mx_host: mx_host.to_string(),
            preference,
            implicit,
            address: Some(address.to_string()),
            not_checked: None,
            unfinished: false,
            report: Some(report),
        }
    }

    /// A target still being audited: what a streamed domain audit lists
    /// first ([`progress::Progress::Planned`]).
    pub fn pending(planned: &Planned) -> Target {
        Target {
            mx_host: planned.mx_host.clone(),
            preference: planned.preference,
            implicit: planned.implicit,
            address: Some(planned.address.to_string()),
            not_checked: None,
            unfinished: false,
            report: None,
        }
    }

    /// A target whose audit was started and cut short, and why (a sentence
    /// that starts "not finished").
    pub fn unfinished(planned: &Planned, why: &str) -> Target {
        Target { not_checked: Some(why.to_string()), unfinished: true, ..Target::pending(planned) }
    }

    /// A target that was not audited, and why (a sentence).
    pub fn skipped(mx_host: &str, preference: u16, implicit: bool, address: Option<String>, why: &str) -> Target {
        Target {
            mx_host: mx_host.to_string(),
            preference,
            implicit,
            address,
            not_checked: Some(why.to_string()),
            unfinished: false,
            report: None,
        }
    }

    /// The verdict of this target's audit; `None` when it was not audited.
    pub fn verdict(&self) -> Option<Verdict> {
        self.report.as_ref().map(|r| r.verdict)
    }

    /// Whether a TCP connection to the server was made.
    pub fn connected(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.server.address.is_some())
    }

    /// `mx.example.org [2001:db8::25]`: how reasons name a target.
    pub fn label(&self) -> String {
        match &self.address {
            Some(a) if *a != self.mx_host => format!("{} [{a}]", self.mx_host),
            _ => self.mx_host.clone(),
        }
    }
}

/// One address to audit, as [`plan`] lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub mx_host: String,
    pub preference: u16,
    pub implicit: bool,
    pub address: IpAddr,
}

/// Either an address to audit, or a target already settled without one.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Audit(Planned),
    Skip(Box<Target>),
}

/// What to audit for these hosts, in order: at most [`MAX_HOSTS`] hosts and
/// [`MAX_ADDRESSES_PER_HOST`] addresses each; everything else is a
/// [`Item::Skip`] saying why.
pub fn plan(hosts: &[MxHost]) -> Vec<Item> {
    let mut steps = Vec::new();
    for (index, host) in hosts.iter().enumerate() {
        let (name, pref, implicit) = (host.exchange.as_str(), host.preference, host.implicit);
        if index >= MAX_HOSTS {
            let why =
                format!("not audited: only the first {MAX_HOSTS} mail servers of a domain are, in order of preference");
            steps.push(Item::Skip(Box::new(Target::skipped(name, pref, implicit, None, &why))));
            continue;
        }
        if host.addresses.is_empty() {
            let error = host.error.clone().unwrap_or_else(|| format!("the name {name} has no IP address"));
            let why = format!("not audited: the mail server's name did not resolve ({error})");
            steps.push(Item::Skip(Box::new(Target::skipped(name, pref, implicit, None, &why))));
            continue;
        }
        for (i, &address) in host.addresses.iter().enumerate() {
            if i >= MAX_ADDRESSES_PER_HOST {
                let why =
                    format!("not audited: only the first {MAX_ADDRESSES_PER_HOST} addresses of a mail server are");
                steps.push(Item::Skip(Box::new(Target::skipped(
                    name,
                    pref,
                    implicit,
                    Some(address.to_string()),
                    &why,
                ))));
            } else {
                steps.push(Item::Audit(Planned { mx_host: name.to_string(), preference: pref, implicit, address }));
            }
        }
    }
    steps
}

/// How bad a verdict is for the domain: the higher, the worse.
pub fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Closed => 0,
        Verdict::Blocked => 1,
        Verdict::Inconclusive => 2,
        Verdict::Open => 3,
    }
}

/// The report of a domain audit. Its field names are a public API, like
/// [`Report`]'s: `check --json` for a domain and the hosted API emit it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainReport {
    /// The domain (or, for a host audit, the host) asked about.
    pub domain: String,
    /// The worst verdict over every target audited.
    pub verdict: Verdict,
    /// The verdict in words, naming the host and address that decided it.
    pub reason: String,
    /// Every host × address, in order of preference then address; the ones
    /// not audited too, with the reason.
    pub targets: Vec<Target>,
    /// What else the reader must know: an implicit MX, caps that cut the
    /// list, hosts that did not resolve.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl DomainReport {
    /// The domain's report from its targets (in [`plan`]'s order).
    pub fn new(domain: &str, servers: &MailServers, targets: Vec<Target>) -> DomainReport {
        let mut notes = Vec::new();
        match servers {
            MailServers::NullMx => {
                return DomainReport {
                    domain: domain.to_string(),
                    verdict: Verdict::Closed,
                    reason: null_mx(domain),
                    targets,
                    notes: Vec::new(),
                };
            }
            MailServers::Host(host) => {
                if host.implicit {
                    notes.push(implicit_mx(domain));
                }
                cut_addresses(std::iter::once(host), &mut notes);
            }
            MailServers::Hosts(hosts) => {
                if hosts.first().is_some_and(|h| h.implicit) {
                    notes.push(implicit_mx(domain));
                }
                if hosts.len() > MAX_HOSTS {
                    notes.push(format!(
                        "The domain has {} mail servers: only the first {MAX_HOSTS}, in order of preference, were \
                         audited; the other {} are listed, not audited.",
                        hosts.len(),
                        hosts.len() - MAX_HOSTS
                    ));
                }
                for h in hosts.iter().take(MAX_HOSTS).filter(|h| h.addresses.is_empty()) {
                    let error = h.error.clone().unwrap_or_else(|| "it has no IP address".into());
                    notes
                        .push(format!("The mail server {} does not resolve: {error}; it was not audited.", h.exchange));
                }
                cut_addresses(hosts.iter().take(MAX_HOSTS), &mut notes);
            }
        }
        let refused = targets
            .iter()
            .filter(|t| t.report.is_none() && t.address.is_some() && !t.unfinished)
            .filter(|t| !t.not_checked.as_deref().unwrap_or("").contains("only the first"))
            .count();
        if refused > 0 {
            notes.push(format!("{refused} address(es) could not be audited; each row says why."));
        }

        let audited: Vec<&Target> = targets.iter().filter(|t| t.report.is_some()).collect();
        // The worst verdict; among equals, the first target in order.
        let worst = audited.iter().filter_map(|t| t.verdict()).max_by_key(|&v| severity(v));
        let decider = worst.and_then(|v| audited.iter().copied().find(|t| t.verdict() == Some(v)));
        // An audit cut short may have been about to find an open relay: only
        // an open one elsewhere is a firm answer then.
        let unfinished: Vec<&Target> = targets.iter().filter(|t| t.unfinished).collect();
        if let (Some(first), false) = (unfinished.first(), worst == Some(Verdict::Open)) {
            let why = first.not_checked.as_deref().unwrap_or("not finished");
            let mut reason = format!("{} was {why}, so there is no firm answer for {domain}", first.label());
            if unfinished.len() > 1 {
                reason.push_str(&format!(" ({} addresses were not finished)", unfinished.len()));
            }
            reason.push('.');
            return DomainReport { domain: domain.to_string(), verdict: Verdict::Inconclusive, reason, targets, notes };
        }
        let (verdict, reason) = match decider {
            None => (
                Verdict::Inconclusive,
                match targets.len() {
                    0 => format!("No mail server of {domain} could be found to audit."),
                    _ => format!("No mail server of {domain} could be audited: every row says why."),
                },
            ),
            Some(t) => {
                let report = t.report.as_ref().expect("audited");
                let verdict = report.verdict;
                let others = audited.len() - 1;
                let label = t.label();
                let reason = match verdict {
                    Verdict::Open => format!("{label} is an open relay: {}", report.reason),
                    Verdict::Closed if audited.len() == 1 => format!("{label} is closed: {}", report.reason),
                    Verdict::Closed => format!(
                        "Every one of the {} addresses audited is closed, {label} included: {}",
                        audited.len(),
                        report.reason
                    ),
                    Verdict::Inconclusive if !t.connected() => {
                        format!("{label} could not be audited, so there is no firm answer: {}", report.reason)
                    }
                    Verdict::Inconclusive => format!("{label} gave no firm answer: {}", report.reason),
                    Verdict::Blocked => format!("{label} would not talk without TLS or a login: {}", report.reason),
                };
                let reason = if others > 0 && verdict != Verdict::Closed {
                    let worse_or_equal = audited.iter().filter(|o| o.verdict() == Some(verdict)).count() - 1;
                    match worse_or_equal {
                        0 => format!("{reason} (the worst of {} addresses audited)", audited.len()),
                        n => format!("{reason} (and {n} more of the {} addresses audited)", audited.len()),
                    }
                } else {
                    reason
                };
                (verdict, reason)
            }
        };
        DomainReport { domain: domain.to_string(), verdict, reason, targets, notes }
    }

    /// The target whose verdict is the domain's, if any was audited.
    pub fn decider(&self) -> Option<&Target> {
        self.targets.iter().filter(|t| t.report.is_some()).find(|t| t.verdict() == Some(self.verdict))
    }
}

fn cut_addresses<'a>(hosts: impl Iterator<Item = &'a MxHost>, notes: &mut Vec<String>) {
    for h in hosts.filter(|h| h.addresses.len() > MAX_ADDRESSES_PER_HOST) {
        notes.push(format!(
            "The mail server {} has {} addresses: only the first {MAX_ADDRESSES_PER_HOST} were audited.",
            h.exchange,
            h.addresses.len()
        ));
    }
}

/// The sentence for an implicit MX.
pub fn implicit_mx(domain: &str) -> String {
    format!(
        "The domain {domain} has no MX record, so mail goes to the domain's own addresses (its implicit MX, \
         RFC 5321 §5.1); those were audited."
    )
}

/// The sentence for a null MX.
pub fn null_mx(domain: &str) -> String {
    format!(
        "The domain {domain} accepts no mail: it publishes a null MX record (RFC 7505), so it has no mail server \
         to relay through, and nothing was audited."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Server, Timings};

    fn report(verdict: Verdict, connected: bool) -> Report {
        Report {
            verdict,
            reason: format!("reason {verdict:?}"),
            server: Server {
                host: "h".into(),
                address: connected.then(|| "192.0.2.1".into()),
                port: 25,
                ..Server::default()
            },
            probes: vec![],
            controls: vec![],
            findings: vec![],
            tls: None,
            steps: vec![],
            transcript: vec![],
            timings: Timings::default(),
            elapsed_ms: 1.0,
            connections: 1,
            advice: vec![],
            from_domain: "f.test".into(),
            to_domain: "t.test".into(),
        }
    }

    fn host(name: &str, pref: u16, addrs: &[&str]) -> MxHost {
        MxHost {
            preference: pref,
            exchange: name.into(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            implicit: false,
            error: None,
        }
    }

    fn audit(steps: Vec<Item>, verdict_of: impl Fn(&Planned) -> Verdict) -> Vec<Target> {
        steps
            .into_iter()
            .map(|s| match s {
                Item::Audit(p) => {
                    let v = verdict_of(&p);
                    Target::audited(&p.mx_host, p.preference, p.implicit, p.address, report(v, true))
                }
                Item::Skip(t) => *t,
            })
            .collect()
    }

    #[test]
    fn the_worst_verdict_wins_and_names_host_and_address() {
        let hosts = vec![host("mx1.a.test", 10, &["192.0.2.1"]), host("mx2.a.test", 20, &["192.0.2.2", "2001:db8::2"])];
        let steps = plan(&hosts);
        assert_eq!(steps.len(), 3);
        let targets = audit(steps, |p| if p.address.is_ipv6() { Verdict::Open } else { Verdict::Closed });
        let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        assert_eq!(r.verdict, Verdict::Open);
        assert!(r.reason.starts_with("mx2.a.test [2001:db8::2] is an open relay"), "{}", r.reason);
        assert_eq!(r.decider().unwrap().address.as_deref(), Some("2001:db8::2"));
    }

    #[test]
    fn the_order_is_open_inconclusive_blocked_closed() {
        let order = [Verdict::Closed, Verdict::Blocked, Verdict::Inconclusive, Verdict::Open];
        for (i, &worse) in order.iter().enumerate() {
            for &better in &order[..i] {
                let hosts = vec![host("mx1.a.test", 10, &["192.0.2.1"]), host("mx2.a.test", 20, &["192.0.2.2"])];
                let targets = audit(plan(&hosts), |p| if p.mx_host == "mx1.a.test" { better } else { worse });
                let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
                assert_eq!(r.verdict, worse, "{worse:?} beats {better:?}");
                assert!(r.reason.contains("mx2.a.test [192.0.2.2]"), "{}", r.reason);
            }
        }
    }

    #[test]
    fn every_address_closed_is_closed_and_ties_name_the_first() {
        let hosts = vec![host("mx1.a.test", 10, &["192.0.2.1", "2001:db8::1"])];
        let targets = audit(plan(&hosts), |_| Verdict::Closed);
        let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        assert_eq!(r.verdict, Verdict::Closed);
        assert!(r.reason.starts_with("Every one of the 2 addresses audited is closed"), "{}", r.reason);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        let hosts = vec![host("mx1.a.test", 10, &["192.0.2.1", "2001:db8::1"])];
        let targets = audit(plan(&hosts), |_| Verdict::Inconclusive);
        let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        assert!(r.reason.contains("mx1.a.test [192.0.2.1]") && r.reason.contains("1 more"), "{}", r.reason);
    }

    #[test]
    fn an_audit_cut_short_leaves_no_firm_answer_unless_another_is_open() {
        let hosts = vec![host("mx1.a.test", 10, &["192.0.2.1"]), host("mx2.a.test", 20, &["2001:db8::2"])];
        let cut = |other: Verdict| {
            let targets = plan(&hosts)
                .into_iter()
                .map(|item| match item {
                    Item::Audit(p) if p.address.is_ipv6() => {
                        Target::unfinished(&p, "not finished: this bridge gives one audit at most 5 min")
                    }
                    Item::Audit(p) => Target::audited(&p.mx_host, 10, false, p.address, report(other, true)),
                    Item::Skip(t) => *t,
                })
                .collect();
            DomainReport::new("a.test", &MailServers::Hosts(hosts.clone()), targets)
        };
        let r = cut(Verdict::Closed);
        assert_eq!(r.verdict, Verdict::Inconclusive, "a closed server beside an unfinished one is not a closed domain");
        assert!(r.reason.starts_with("mx2.a.test [2001:db8::2] was not finished"), "{}", r.reason);
        assert!(r.notes.is_empty(), "an unfinished audit is not an address refused: {:?}", r.notes);
        assert_eq!(cut(Verdict::Open).verdict, Verdict::Open);
        let json = serde_json::to_value(&r.targets[1]).unwrap();
        assert_eq!(json["unfinished"], true);
        assert!(serde_json::to_value(&r.targets[0]).unwrap().get("unfinished").is_none());
    }

    #[test]
    fn caps_cut_hosts_and_addresses_and_say_so() {
        let mut hosts: Vec<MxHost> = (0..12).map(|i| host(&format!("mx{i}.a.test"), 10 + i as u16, &[])).collect();
        for h in &mut hosts[..MAX_HOSTS] {
            h.addresses = vec!["192.0.2.1".parse().unwrap()];
        }
        hosts[0].addresses = (1..=6).map(|i| format!("192.0.2.{i}").parse().unwrap()).collect();
        hosts[10].error = Some("not looked up".into());
        let steps = plan(&hosts);
        let audited = steps.iter().filter(|s| matches!(s, Item::Audit(_))).count();
        assert_eq!(audited, MAX_ADDRESSES_PER_HOST + (MAX_HOSTS - 1));
        let targets = audit(steps, |_| Verdict::Closed);
        assert_eq!(targets.len(), 6 + 9 + 2, "nothing is dropped");
        let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        assert_eq!(r.verdict, Verdict::Closed);
        assert!(r.notes.iter().any(|n| n.contains("has 12 mail servers: only the first 10")), "{:?}", r.notes);
        assert!(r.notes.iter().any(|n| n.contains("mx0.a.test has 6 addresses: only the first 4")), "{:?}", r.notes);
        let skipped: Vec<&Target> = r.targets.iter().filter(|t| t.report.is_none()).collect();
        assert_eq!(skipped.len(), 4);
        assert!(skipped[0].not_checked.as_deref().unwrap().contains("only the first 4 addresses"));
        assert!(skipped[3].not_checked.as_deref().unwrap().contains("only the first 10 mail servers"));
    }

    #[test]
    fn null_implicit_and_unresolvable_mx_have_words() {
        let r = DomainReport::new("n.test", &MailServers::NullMx, vec![]);
        assert_eq!(r.verdict, Verdict::Closed);
        assert!(r.reason.contains("accepts no mail") && r.reason.contains("null MX"), "{}", r.reason);

        let mut implicit = host("i.test", 0, &["192.0.2.7"]);
        implicit.implicit = true;
        let targets = audit(plan(std::slice::from_ref(&implicit)), |_| Verdict::Closed);
        assert!(targets[0].implicit);
        let r = DomainReport::new("i.test", &MailServers::Hosts(vec![implicit]), targets);
        assert!(r.notes[0].contains("no MX record") && r.notes[0].contains("implicit MX"), "{:?}", r.notes);

        let mut gone = host("gone.test", 10, &[]);
        gone.error = Some("the name gone.test does not exist in DNS".into());
        let hosts = vec![gone, host("mx.u.test", 20, &["192.0.2.9"])];
        let targets = audit(plan(&hosts), |_| Verdict::Closed);
        assert!(targets[0].not_checked.as_deref().unwrap().contains("did not resolve"));
        let r = DomainReport::new("u.test", &MailServers::Hosts(hosts.clone()), targets);
        assert_eq!(r.verdict, Verdict::Closed);
        assert!(r.notes.iter().any(|n| n.contains("gone.test does not resolve")), "{:?}", r.notes);

        let targets = audit(plan(&hosts[..1]), |_| Verdict::Closed);
        let r = DomainReport::new("u.test", &MailServers::Hosts(hosts[..1].to_vec()), targets);
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(r.reason.contains("No mail server of u.test could be audited"), "{}", r.reason);
    }

    #[test]
    fn an_unreachable_address_is_inconclusive_and_said_so() {
        let hosts = vec![host("mx.a.test", 10, &["192.0.2.1", "2001:db8::1"])];
        let targets: Vec<Target> = plan(&hosts)
            .into_iter()
            .map(|s| match s {
                Item::Audit(p) => {
                    let r = report(
                        if p.address.is_ipv6() { Verdict::Inconclusive } else { Verdict::Closed },
                        p.address.is_ipv4(),
                    );
                    Target::audited(&p.mx_host, p.preference, p.implicit, p.address, r)
                }
                Item::Skip(t) => *t,
            })
            .collect();
        let r = DomainReport::new("a.test", &MailServers::Hosts(hosts), targets);
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(r.reason.starts_with("mx.a.test [2001:db8::1] could not be audited"), "{}", r.reason);
    }

    #[test]
    fn targets_are_the_single_server_report_plus_their_place() {
        let t = Target::audited("mx.a.test", 10, false, "2001:db8::1".parse().unwrap(), report(Verdict::Open, true));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["mx_host"], "mx.a.test");
        assert_eq!(json["preference"], 10);
        assert_eq!(json["address"], "2001:db8::1");
        assert_eq!(json["verdict"], "open");
        assert_eq!(json["server"]["port"], 25);
        assert!(json.get("not_checked").is_none());
        let back: Target = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);

        let s = Target::skipped("mx.a.test", 10, false, Some("hidden".into()), "refused by policy");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["not_checked"], "refused by policy");
        assert!(json.get("verdict").is_none());
        let back: Target = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);

        let r =
            DomainReport::new("a.test", &MailServers::Hosts(vec![host("mx.a.test", 10, &["2001:db8::1"])]), vec![t, s]);
        let json = serde_json::to_value(&r).unwrap();
        for key in ["domain", "verdict", "reason", "targets"] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}

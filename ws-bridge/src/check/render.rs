//! The report as text for a terminal: the probe table and the verdict.

use std::fmt::Write;

use relay_core::narration::verdict_word;
use relay_core::{DomainReport, ProbeReport, ProbeVerdict, Report, Target, Tone, Verdict};

/// Whether to colour the output (a terminal, and NO_COLOR unset).
#[derive(Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub fn for_stdout(is_terminal: bool) -> Style {
        Style { colour: is_terminal && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

pub fn summary(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let server = &report.server;
    if !report.probes.is_empty() {
        let _ = writeln!(out, "\nProbes ({}, over {} connections):", report.probes.len(), report.connections);
        let rows: Vec<[String; 6]> = report
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                [
                    (i + 1).to_string(),
                    p.id.clone(),
                    format!("<{}>{}", p.mail_from, if p.refused_sender.is_some() { "*" } else { "" }),
                    format!("<{}>", p.rcpt_to),
                    verdict_word(p).to_string(),
                    p.reply.clone().unwrap_or_else(|| p.explanation.clone()),
                ]
            })
            .collect();
        let header = ["#", "probe", "MAIL FROM", "RCPT TO", "verdict", "reply"].map(String::from);
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |row: &[String; 6], colour: Option<&str>| {
            let mut s = String::from("  ");
            for (i, cell) in row.iter().take(5).enumerate() {
                let padded = format!("{cell:<w$}  ", w = widths[i]);
                s.push_str(&match (i, colour) {
                    (4, Some(c)) => style.paint(c, &padded),
                    _ => padded,
                });
            }
            s.push_str(&row[5]);
            s
        };
        let _ = writeln!(out, "{}", line(&header, None));
        for (row, p) in rows.iter().zip(&report.probes) {
            let _ = writeln!(out, "{}", line(row, Some(probe_colour(p))));
        }
        refused_senders(&mut out, &report.probes);
    }
    if !report.controls.is_empty() {
        let _ = writeln!(out, "\nControls (not relay attempts: they tell whether an accepted trick proves anything):");
        let width = report.controls.iter().map(|c| c.rcpt_to.chars().count() + 2).max().unwrap_or(0);
        for c in &report.controls {
            let answer = c.reply.clone().unwrap_or_else(|| c.explanation.clone());
            let _ = writeln!(out, "  {:<width$}  {}", format!("<{}>", c.rcpt_to), answer);
        }
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for f in &report.findings {
            let mark = match f.tone {
                Tone::Bad => style.paint("31", "!"),
                Tone::Warning => style.paint("33", "!"),
                Tone::Good | Tone::Neutral => "-".to_string(),
            };
            let _ = writeln!(out, "  {mark} {}", f.text);
            for a in &f.advice {
                let _ = writeln!(out, "      {a}");
            }
        }
    }
    let mut facts = Vec::new();
    if let Some(name) = &server.name {
        facts.push(name.clone());
    }
    if server.software != relay_core::Software::Other {
        facts.push(server.software.name().to_string());
    }
    if let Some(addr) = &server.address {
        facts.push(format!("{addr} port {}", server.port));
    }
    if server.capabilities.pipelining() {
        facts.push("PIPELINING".into());
    }
    if server.capabilities.starttls() {
        facts.push("STARTTLS".into());
    }
    if server.helo_fallback {
        facts.push("HELO only".into());
    }
    let _ = writeln!(out);
    if !facts.is_empty() {
        let _ = writeln!(out, "Server:  {}", facts.join(", "));
    }
    if let Some(tls) = &report.tls {
        out.push_str(&tls_lines(tls, style));
    }
    let mut timing = vec![format!("{} probes in {:.1} ms", report.probes.len(), report.elapsed_ms)];
    if let Some(b) = report.timings.banner_ms {
        timing.push(format!("banner after {b:.1} ms"));
    }
    let _ = writeln!(out, "Timing:  {}", timing.join(", "));
    let word = match report.verdict {
        Verdict::Open => style.paint("1;31", "OPEN RELAY"),
        Verdict::Closed => style.paint("1;32", "CLOSED"),
        Verdict::Inconclusive => style.paint("1;33", "INCONCLUSIVE"),
        Verdict::Blocked => style.paint("1;33", "BLOCKED"),
    };
    let _ = writeln!(out, "Verdict: {word}: {}", report.reason);
    if report.verdict != Verdict::Closed && server.address.is_some() && !report.advice.is_empty() {
        let _ = writeln!(out, "\nWhat to do ({}):", server.software.name());
        for a in &report.advice {
            let _ = writeln!(out, "  - {a}");
        }
    }
    out
}

/// The server's TLS as an administrator checks it: how it was reached, the
/// protocol and cipher, the certificate (names, dates, issuer), the name
/// checked and whether Mozilla's roots trust it; or why TLS failed.
fn tls_lines(tls: &relay_core::TlsReport, style: Style) -> String {
    let mut out = String::new();
    let how = match (tls.how.as_str(), tls.required) {
        ("implicit", _) => "TLS from the first byte",
        (_, true) => "STARTTLS, required before MAIL",
        _ => "STARTTLS, offered",
    };
    let Some(facts) = &tls.facts else {
        let why = tls.failure.as_deref().unwrap_or("the handshake did not finish");
        let _ = writeln!(out, "TLS:     {how}: {}", style.paint("33", &format!("failed: {why}")));
        return out;
    };
    let _ = writeln!(out, "TLS:     {how}: {} with {}", facts.version, facts.cipher);
    if let Some(leaf) = facts.leaf() {
        let names = if leaf.names.is_empty() { String::new() } else { format!(" ({})", leaf.names.join(", ")) };
        let _ = writeln!(out, "         certificate  {}{names}", leaf.subject);
        let left = if leaf.days_left < 0 {
            style.paint("31", &format!("expired {} days ago", -leaf.days_left))
        } else {
            format!("{} days left", leaf.days_left)
        };
        let _ = writeln!(out, "         valid        {} to {}, {left}", leaf.not_before, leaf.not_after);
        let own = if leaf.self_signed { " (self-signed)" } else { "" };
        let _ = writeln!(out, "         issued by    {}{own}", leaf.issuer);
    }
    let matches = if facts.name_matches { "the certificate names it" } else { "the certificate does not name it" };
    let _ = writeln!(out, "         checked for  {}: {matches}", facts.checked_name);
    let trust = match &facts.trust_problem {
        None => style.paint("32", "yes, by Mozilla's roots"),
        Some(problem) => style.paint("33", &format!("no: {problem}")),
    };
    let _ = writeln!(out, "         trusted      {trust}");
    out
}

/// The footnote to the table's `*`: which senders were refused, so that
/// the recipients were asked with another.
fn refused_senders(out: &mut String, probes: &[ProbeReport]) {
    let mut seen: Vec<(&str, &str, usize)> = Vec::new();
    for r in probes.iter().filter(|p| p.kind != relay_core::ProbeKind::Sender).filter_map(|p| p.refused_sender.as_ref())
    {
        match seen.iter_mut().find(|(from, _, _)| *from == r.mail_from) {
            Some(entry) => entry.2 += 1,
            None => seen.push((&r.mail_from, &r.reply, 1)),
        }
    }
    for (from, reply, n) in seen {
        let _ = writeln!(
            out,
            "  * The server refused the sender <{from}> ({reply}), so {n} probe(s) asked their recipient again with the sender shown."
        );
    }
}

fn probe_colour(p: &ProbeReport) -> &'static str {
    if matches!(p.outcome, relay_core::Outcome::Unconfirmed { .. }) {
        return "33";
    }
    match p.verdict {
        ProbeVerdict::Accepted => "31",
        ProbeVerdict::Denied => "32",
        ProbeVerdict::Inconclusive | ProbeVerdict::Blocked => "33",
    }
}

fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Open => "open",
        Verdict::Closed => "closed",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Blocked => "blocked",
    }
}

fn verdict_colour(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Open => "31",
        Verdict::Closed => "32",
        Verdict::Inconclusive | Verdict::Blocked => "33",
    }
}

/// One line as a target of a domain audit finishes.
pub fn progress_line(target: &Target) -> String {
    match &target.report {
        Some(r) => format!(
            "=== {}: {} in {}",
            target.label(),
            verdict_text(r.verdict),
            relay_core::narration::human_millis(r.elapsed_ms)
        ),
        None => format!("=== {}: {}", target.label(), target.not_checked.as_deref().unwrap_or("not audited")),
    }
}

/// A domain audit: one row per host × address (verdict, banner name,
/// software, time, reason), the notes, then the domain's verdict.
/// `domain` says whether a domain (its MX hosts) or one host was audited.
pub fn domain_summary(report: &DomainReport, domain: bool, style: Style) -> String {
    let mut out = String::new();
    let header = ["host", "pref", "address", "verdict", "banner name", "software", "time", "reason"].map(String::from);
    let rows: Vec<([String; 8], Option<Verdict>)> = report
        .targets
        .iter()
        .map(|t| {
            let address = t.address.clone().unwrap_or_else(|| "-".into());
            let row = match &t.report {
                Some(r) => [
                    t.mx_host.clone(),
                    if t.implicit { "implicit".into() } else { t.preference.to_string() },
                    address,
                    verdict_text(r.verdict).to_string(),
                    r.server.name.clone().unwrap_or_else(|| "-".into()),
                    match r.server.software {
                        relay_core::Software::Other => "-".into(),
                        software => software.name().to_string(),
                    },
                    relay_core::narration::human_millis(r.elapsed_ms),
                    r.reason.clone(),
                ],
                None => [
                    t.mx_host.clone(),
                    if t.implicit { "implicit".into() } else { t.preference.to_string() },
                    address,
                    if t.unfinished { "not finished" } else { "not audited" }.into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    t.not_checked.clone().unwrap_or_default(),
                ],
            };
            (row, t.verdict())
        })
        .collect();
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(rows.iter().map(|(r, _)| r)) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 8], verdict: Option<Verdict>| {
        let mut s = String::from("  ");
        for (i, cell) in row.iter().take(7).enumerate() {
            let padded = format!("{cell:<w$}  ", w = widths[i]);
            s.push_str(&match (i, verdict) {
                (3, Some(v)) => style.paint(verdict_colour(v), &padded),
                _ => padded,
            });
        }
        s.push_str(&row[7]);
        s
    };
    if !rows.is_empty() {
        let title = if domain { "Mail servers of" } else { "Addresses of" };
        let _ = writeln!(out, "\n{title} {} (every host × address):", report.domain);
        let _ = writeln!(out, "{}", line(&header, None));
        for (row, verdict) in &rows {
            let _ = writeln!(out, "{}", line(row, *verdict));
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out);
        for n in &report.notes {
            let _ = writeln!(out, "Note:    {n}");
        }
    }
    let word = match report.verdict {
        Verdict::Open => style.paint("1;31", "OPEN RELAY"),
        Verdict::Closed => style.paint("1;32", "CLOSED"),
        Verdict::Inconclusive => style.paint("1;33", "INCONCLUSIVE"),
        Verdict::Blocked => style.paint("1;33", "BLOCKED"),
    };
    let label = if domain { "Domain: " } else { "Verdict:" };
    let _ = writeln!(out, "\n{label} {word}: {}", report.reason);
    if let Some(r) = report.decider().and_then(|t| t.report.as_ref()) {
        if r.verdict != Verdict::Closed && r.server.address.is_some() && !r.advice.is_empty() {
            let _ = writeln!(out, "\nWhat to do ({}):", r.server.software.name());
            for a in &r.advice {
                let _ = writeln!(out, "  - {a}");
            }
        }
    }
    out
}

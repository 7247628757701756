//! The report as text for a terminal: the probe table and the verdict.

use std::fmt::Write;

use relay_core::narration::verdict_word;
use relay_core::{ProbeReport, ProbeVerdict, Report, Tone, Verdict};

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

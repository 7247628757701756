//! The report as text for a terminal: the probe table and the verdict.

use std::fmt::Write;

use relay_core::{ProbeVerdict, Report, Verdict};

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
                    format!("<{}>", p.mail_from),
                    format!("<{}>", p.rcpt_to),
                    p.verdict.to_string(),
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
        let line = |row: &[String; 6], verdict: Option<ProbeVerdict>| {
            let mut s = String::from("  ");
            for (i, cell) in row.iter().take(5).enumerate() {
                let padded = format!("{cell:<w$}  ", w = widths[i]);
                s.push_str(&match (i, verdict) {
                    (4, Some(v)) => style.paint(probe_colour(v), &padded),
                    _ => padded,
                });
            }
            s.push_str(&row[5]);
            s
        };
        let _ = writeln!(out, "{}", line(&header, None));
        for (row, p) in rows.iter().zip(&report.probes) {
            let _ = writeln!(out, "{}", line(row, Some(p.verdict)));
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

fn probe_colour(v: ProbeVerdict) -> &'static str {
    match v {
        ProbeVerdict::Accepted => "31",
        ProbeVerdict::Denied => "32",
        ProbeVerdict::Inconclusive | ProbeVerdict::Blocked => "33",
    }
}

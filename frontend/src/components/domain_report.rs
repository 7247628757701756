//! A domain audit: one row per host × address, filling in as each audit
//! finishes, each opening into the step-by-step panels of that server; once
//! every row is in, the domain's verdict on top (the worst of them) and
//! what can be done with the report.

use relay_core::domain::summary::{DomainSummary, TargetSummary};
use relay_core::Verdict;
use yew::prelude::*;

use crate::components::error_notice::error_notice;
use crate::components::probe_matrix::column_heads;
use crate::components::step_panel::{human_ms, step_panel};
use crate::state::DomainView;

/// What can be done with a finished domain audit; `notice` ("Copied" after
/// a copy) is for the live region.
pub struct Actions<'a> {
    pub on_download: &'a Callback<()>,
    pub on_copy: &'a Callback<()>,
    pub permalink: &'a str,
    pub notice: Option<&'a str>,
}

fn verdict_section(r: &DomainSummary) -> Html {
    let word = match r.verdict {
        Verdict::Closed => "No open relay at any address",
        Verdict::Open => "Open relay",
        Verdict::Inconclusive => "No firm answer",
        Verdict::Blocked => "Could not be tested",
    };
    let (class, verdict) = (r.verdict.to_string(), r.verdict.to_string());
    html! {
        <>
            <section class={classes!("verdict", class)} data-testid="domain-verdict" data-verdict={verdict} aria-labelledby="domain-verdict-title">
                <h2 id="domain-verdict-title" tabindex="-1">{ format!("{}: {word}", r.domain) }</h2>
                <p class="reason" data-testid="domain-reason">{ &r.reason }</p>
                <p class="timings">{ "The worst of every mail server at every address: open, then no firm answer, then could not be tested, then closed." }</p>
            </section>
            if !r.notes.is_empty() {
                <ul class="details">{ for r.notes.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
            }
        </>
    }
}

fn row(t: &TargetSummary) -> Html {
    let address = t.address.clone().unwrap_or_else(|| "—".into());
    match (t.verdict, &t.server, &t.not_checked) {
        (Some(verdict), Some(server), _) => {
            let v = verdict.to_string();
            html! {
                <tr class={format!("v-{v}")} data-testid="domain-row" data-verdict={v.clone()}>
                    <td><code>{ &t.mx_host }</code></td><td><code>{ address }</code></td>
                    <td class="verdict-cell">{ v }</td>
                    <td>{ server.name.clone().unwrap_or_default() }</td>
                    <td>{ server.software.name() }</td>
                    <td>{ human_ms(t.elapsed_ms.unwrap_or_default()) }</td>
                    <td>
                        <details>
                            <summary>{ t.reason.clone().unwrap_or_default() }</summary>
                            <ol class="step-list">
                                { for t.steps.iter().map(step_panel) }
                            </ol>
                        </details>
                    </td>
                </tr>
            }
        }
        (_, _, None) => html! {
            <tr class="v-pending" data-testid="domain-row" data-verdict="pending">
                <td><code>{ &t.mx_host }</code></td><td><code>{ address }</code></td>
                <td class="verdict-cell">{ "checking…" }</td><td></td><td></td><td></td><td></td>
            </tr>
        },
        (_, _, Some(why)) => {
            let (word, state) =
                if t.unfinished { ("not finished", "unfinished") } else { ("not audited", "not-audited") };
            html! {
                <tr class="v-not-audited" data-testid="domain-row" data-verdict={state}>
                    <td><code>{ &t.mx_host }</code></td><td><code>{ address }</code></td>
                    <td class="verdict-cell">{ word }</td><td></td><td></td><td></td>
                    <td>{ why }</td>
                </tr>
            }
        }
    }
}

/// Every row so far, in the report's order; `done`, the whole report once
/// the audit is over.
fn domain_audit(domain: &str, rows: &[TargetSummary], done: Option<(&DomainSummary, &Actions)>) -> Html {
    let pending = rows.iter().filter(|t| t.verdict.is_none() && t.not_checked.is_none()).count();
    html! {
        <>
            if let Some((done, _)) = done {
                { verdict_section(done) }
            } else {
                <p class="help" role="status" data-testid="domain-progress">
                    { format!("Auditing {} addresses of {domain}: {} answered, {pending} to go…", rows.len(), rows.len() - pending) }
                </p>
            }
            <section class="batch domain" aria-labelledby="domain-title" data-testid="domain-targets">
                <h2 id="domain-title">{ format!("Every mail server of {domain}, at every address") }</h2>
                <table>
                    <thead><tr>
                        { column_heads(&["Server", "Address", "Verdict", "Banner name", "Software", "Time", "Why"]) }
                    </tr></thead>
                    <tbody>{ for rows.iter().map(row) }</tbody>
                </table>
                if let Some((_, actions)) = done {
                    <div class="buttons actions">
                        <button id="copy-domain" type="button" onclick={actions.on_copy.reform(|_: MouseEvent| ())}>{ "Copy the results" }</button>
                        <button id="download-domain-json" type="button" onclick={actions.on_download.reform(|_: MouseEvent| ())}>{ "Download the domain report (JSON)" }</button>
                        <a id="domain-permalink" class="button" href={actions.permalink.to_string()}>{ "Link to this check" }</a>
                        <span class="notice" role="status" aria-live="polite">{ actions.notice.unwrap_or_default() }</span>
                    </div>
                }
            </section>
        </>
    }
}

/// A domain audit in any of its states: starting, filling in, done, failed.
pub fn domain_report(view: Option<&DomainView>, actions: &Actions) -> Html {
    match view {
        Some(DomainView::Starting(text)) => {
            html! { <p class="help" role="status" data-testid="domain-progress">{ text }</p> }
        }
        Some(DomainView::Live(name, rows)) => domain_audit(name, rows, None),
        Some(DomainView::Done(answer)) => domain_audit(&answer.1.domain, &answer.1.targets, Some((&answer.1, actions))),
        Some(DomainView::Failed(message, rows)) => html! {
            <>
                { error_notice(message) }
                if let Some((name, rows)) = rows {
                    { domain_audit(name, rows, None) }
                }
            </>
        },
        None => html! {},
    }
}

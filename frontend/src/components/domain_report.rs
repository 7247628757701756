//! A domain audit: one row per host × address, filling in as each audit
//! finishes, each opening into the step-by-step panels of that server; once
//! every row is in, the domain's verdict on top (the worst of them) and
//! what can be done with the report.

use std::rc::Rc;

use relay_core::domain::summary::{DomainSummary, TargetSummary};
use relay_core::Verdict;
use yew::prelude::*;

use crate::components::error_notice::ErrorNotice;
use crate::components::step_panel::{human_ms, StepPanel};
use crate::state::DomainView;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub domain: String,
    /// Every row so far, in the report's order.
    pub rows: Rc<Vec<TargetSummary>>,
    /// The whole report, once the audit is over.
    #[prop_or_default]
    pub done: Option<Rc<DomainSummary>>,
    #[prop_or_default]
    pub on_download: Callback<()>,
    #[prop_or_default]
    pub on_copy: Callback<()>,
    #[prop_or_default]
    pub permalink: String,
    /// "Copied" after a copy, for the live region.
    #[prop_or_default]
    pub notice: Option<String>,
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
                                { for t.steps.iter().map(|s| html! { <StepPanel step={s.clone()} /> }) }
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

#[function_component(DomainAudit)]
pub fn domain_audit(props: &Props) -> Html {
    let pending = props.rows.iter().filter(|t| t.verdict.is_none() && t.not_checked.is_none()).count();
    html! {
        <>
            if let Some(done) = &props.done {
                { verdict_section(done) }
            } else {
                <p class="help" role="status" data-testid="domain-progress">
                    { format!("Auditing {} addresses of {}: {} answered, {pending} to go…", props.rows.len(), props.domain, props.rows.len() - pending) }
                </p>
            }
            <section class="batch domain" aria-labelledby="domain-title" data-testid="domain-targets">
                <h2 id="domain-title">{ format!("Every mail server of {}, at every address", props.domain) }</h2>
                <table>
                    <thead><tr>
                        <th scope="col">{ "Server" }</th><th scope="col">{ "Address" }</th><th scope="col">{ "Verdict" }</th>
                        <th scope="col">{ "Banner name" }</th><th scope="col">{ "Software" }</th><th scope="col">{ "Time" }</th><th scope="col">{ "Why" }</th>
                    </tr></thead>
                    <tbody>{ for props.rows.iter().map(row) }</tbody>
                </table>
                if props.done.is_some() {
                    <div class="buttons actions">
                        <button id="copy-domain" type="button" onclick={props.on_copy.reform(|_: MouseEvent| ())}>{ "Copy the results" }</button>
                        <button id="download-domain-json" type="button" onclick={props.on_download.reform(|_: MouseEvent| ())}>{ "Download the domain report (JSON)" }</button>
                        <a id="domain-permalink" class="button" href={props.permalink.clone()}>{ "Link to this check" }</a>
                        <span class="notice" role="status" aria-live="polite">{ props.notice.clone().unwrap_or_default() }</span>
                    </div>
                }
            </section>
        </>
    }
}

#[derive(Properties, PartialEq)]
pub struct ReportProps {
    pub view: Option<DomainView>,
    pub on_download: Callback<()>,
    pub on_copy: Callback<()>,
    pub permalink: String,
    pub notice: Option<String>,
}

/// A domain audit in any of its states: starting, filling in, done, failed.
#[function_component(DomainReport)]
pub fn domain_report(props: &ReportProps) -> Html {
    match &props.view {
        Some(DomainView::Starting(text)) => {
            html! { <p class="help" role="status" data-testid="domain-progress">{ text }</p> }
        }
        Some(DomainView::Live(name, rows)) => html! { <DomainAudit domain={name.clone()} rows={rows.clone()} /> },
        Some(DomainView::Done(answer)) => html! {
            <DomainAudit domain={answer.1.domain.clone()} rows={Rc::new(answer.1.targets.clone())}
                done={Rc::new(answer.1.clone())} on_download={props.on_download.clone()} on_copy={props.on_copy.clone()}
                permalink={props.permalink.clone()} notice={props.notice.clone()} />
        },
        Some(DomainView::Failed(message, rows)) => html! {
            <>
                <ErrorNotice message={message.clone()} />
                if let Some((name, rows)) = rows {
                    <DomainAudit domain={name.clone()} rows={rows.clone()} />
                }
            </>
        },
        None => html! {},
    }
}

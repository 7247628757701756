//! A domain audit: the domain's verdict on top (the worst of every mail
//! server at every address), then one row per host × address, each opening
//! into the step-by-step panels of that server.

use std::rc::Rc;

use relay_core::domain::summary::DomainSummary;
use relay_core::Verdict;
use yew::prelude::*;

use crate::components::step_panel::{human_ms, StepPanel};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub report: Rc<DomainSummary>,
    pub on_download: Callback<()>,
    pub permalink: String,
}

fn class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Closed => "closed",
        Verdict::Open => "open",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Blocked => "blocked",
    }
}

#[function_component(DomainAudit)]
pub fn domain_audit(props: &Props) -> Html {
    let r = &props.report;
    let word = match r.verdict {
        Verdict::Closed => "No open relay at any address",
        Verdict::Open => "Open relay",
        Verdict::Inconclusive => "No firm answer",
        Verdict::Blocked => "Could not be tested",
    };
    html! {
        <>
            <section class={classes!("verdict", class(r.verdict))} data-testid="domain-verdict" data-verdict={class(r.verdict)} aria-labelledby="domain-verdict-title">
                <h2 id="domain-verdict-title" tabindex="-1">{ format!("{}: {word}", r.domain) }</h2>
                <p class="reason" data-testid="domain-reason">{ &r.reason }</p>
                <p class="timings">{ "The worst of every mail server at every address: open, then no firm answer, then could not be tested, then closed." }</p>
            </section>
            if !r.notes.is_empty() {
                <ul class="details">{ for r.notes.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
            }
            <section class="batch domain" aria-labelledby="domain-title" data-testid="domain-targets">
                <h2 id="domain-title">{ format!("Every mail server of {}, at every address", r.domain) }</h2>
                <table>
                    <thead><tr>
                        <th scope="col">{ "Server" }</th><th scope="col">{ "Address" }</th><th scope="col">{ "Verdict" }</th>
                        <th scope="col">{ "Banner name" }</th><th scope="col">{ "Software" }</th><th scope="col">{ "Time" }</th><th scope="col">{ "Why" }</th>
                    </tr></thead>
                    <tbody>
                        { for r.targets.iter().map(|t| {
                            let address = t.address.clone().unwrap_or_else(|| "—".into());
                            match (t.verdict, &t.server) {
                                (Some(verdict), Some(server)) => {
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
                                _ => html! {
                                    <tr class="v-not-audited" data-testid="domain-row" data-verdict="not-audited">
                                        <td><code>{ &t.mx_host }</code></td><td><code>{ address }</code></td>
                                        <td class="verdict-cell">{ "not audited" }</td><td></td><td></td><td></td>
                                        <td>{ t.not_checked.clone().unwrap_or_default() }</td>
                                    </tr>
                                },
                            }
                        }) }
                    </tbody>
                </table>
                <div class="buttons actions">
                    <button id="download-domain-json" type="button" onclick={props.on_download.reform(|_: MouseEvent| ())}>{ "Download the domain report (JSON)" }</button>
                    <a id="domain-permalink" class="button" href={props.permalink.clone()}>{ "Link to this check" }</a>
                </div>
            </section>
        </>
    }
}

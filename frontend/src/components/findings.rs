//! What the audit noticed besides the verdict (a server that takes any
//! recipient at its own name, postmaster refused, probes adapted to a
//! nameless banner), and the control recipients those rest on.

use relay_core::Report;
use yew::prelude::*;

pub fn findings(r: &Report) -> Html {
    if r.findings.is_empty() && r.controls.is_empty() {
        return html! {};
    }
    html! {
        <section class="findings" data-testid="findings" aria-labelledby="findings-title">
            <h2 id="findings-title">{ "Also noticed" }</h2>
            if !r.findings.is_empty() {
                <ul>
                    { for r.findings.iter().map(|f| html! {
                        <li class={classes!("finding", f.tone.as_str())} data-finding={f.id.clone()}>
                            <p>{ &f.text }</p>
                            if !f.advice.is_empty() {
                                <ul class="finding-advice">{ for f.advice.iter().map(|a| html! { <li>{ a }</li> }) }</ul>
                            }
                        </li>
                    }) }
                </ul>
            }
            if !r.controls.is_empty() {
                <details class="controls">
                    <summary>{ format!("Control recipients ({}): what tells whether an accepted trick proves anything", r.controls.len()) }</summary>
                    <ul>
                        { for r.controls.iter().map(|c| html! {
                            <li data-control={c.id.clone()}>
                                <code>{ format!("RCPT TO:<{}>", c.rcpt_to) }</code>{ " → " }
                                <code>{ c.reply.clone().unwrap_or_else(|| c.explanation.clone()) }</code>
                            </li>
                        }) }
                    </ul>
                </details>
            }
        </section>
    }
}

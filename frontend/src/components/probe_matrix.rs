//! Every probe: what was tried, what the server said, and what it means.

use relay_core::ProbeReport;
use yew::prelude::*;

use crate::components::step_panel::human_ms;

/// A table's column headings, `<th scope="col">` each.
pub fn column_heads(names: &[&'static str]) -> Html {
    names.iter().map(|name| html! { <th scope="col">{ *name }</th> }).collect()
}

pub fn probe_matrix(probes: &[ProbeReport]) -> Html {
    html! {
        <section class="matrix" aria-labelledby="matrix-title">
            <h2 id="matrix-title">{ format!("All {} probes", probes.len()) }</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="matrix-title">
                <table data-testid="probe-matrix">
                    <thead>
                        <tr>{ column_heads(&["Probe", "MAIL FROM", "RCPT TO", "Reply", "Verdict", "Time"]) }</tr>
                    </thead>
                    <tbody>
                        { for probes.iter().map(|p| {
                            let v = p.verdict.to_string();
                            let word = relay_core::narration::verdict_word(p);
                            html! {
                                <tr key={p.id.clone()} data-verdict={v.clone()} title={p.explanation.clone()}>
                                    <th scope="row">
                                        { &p.name }
                                        if let Some(helo) = &p.helo {
                                            <small class="refused-sender">{ format!("greeted as {helo}") }</small>
                                        }
                                    </th>
                                    <td data-label="MAIL FROM">
                                        <code>{ format!("<{}>", p.mail_from) }</code>
                                        if let Some(refused) = &p.refused_sender {
                                            <small class="refused-sender" title={refused.reply.clone()}>
                                                { format!("asked again: <{}> was refused", refused.mail_from) }
                                            </small>
                                        }
                                    </td>
                                    <td data-label="RCPT TO"><code>{ format!("<{}>", p.rcpt_to) }</code></td>
                                    <td data-label="Reply"><code>{ p.reply.clone().unwrap_or_default() }</code></td>
                                    <td data-label="Verdict"><span class={classes!("badge", format!("v-{}", word.replace(' ', "-")))}>{ word }</span></td>
                                    <td data-label="Time" class="num">{ human_ms(p.elapsed_ms) }</td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            </div>
        </section>
    }
}

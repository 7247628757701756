//! The verdicts of several servers checked in turn (all of a domain's MX).

use relay_core::Verdict;
use yew::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchRow {
    pub host: String,
    pub verdict: Option<Verdict>,
    pub reason: String,
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub rows: Vec<BatchRow>,
}

#[function_component(BatchSummary)]
pub fn batch_summary(props: &Props) -> Html {
    if props.rows.is_empty() {
        return html! {};
    }
    html! {
        <section class="batch" aria-labelledby="batch-title">
            <h2 id="batch-title">{ "All mail servers" }</h2>
            <table>
                <thead><tr><th scope="col">{ "Server" }</th><th scope="col">{ "Verdict" }</th><th scope="col">{ "Why" }</th></tr></thead>
                <tbody>
                    { for props.rows.iter().map(|r| {
                        let v = r.verdict.map_or("waiting".to_string(), |v| v.to_string());
                        html! { <tr class={format!("v-{v}")}><td><code>{ &r.host }</code></td><td class="verdict-cell">{ v }</td><td>{ &r.reason }</td></tr> }
                    }) }
                </tbody>
            </table>
        </section>
    }
}

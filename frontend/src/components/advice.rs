//! What to change, for the server software recognised in the banner.

use relay_core::{Report, Verdict};
use yew::prelude::*;

pub fn advice(r: &Report) -> Html {
    if r.advice.is_empty() || r.server.address.is_none() {
        return html! {};
    }
    let heading = match r.verdict {
        Verdict::Closed => format!("Keeping {} closed", r.server.software.name()),
        _ => format!("What to change in {}", r.server.software.name()),
    };
    html! {
        <section class="advice" data-testid="advice" aria-labelledby="advice-title">
            <h2 id="advice-title">{ heading }</h2>
            <ul>{ for r.advice.iter().map(|a| html! { <li>{ a }</li> }) }</ul>
        </section>
    }
}

//! The verdict in large words, with its reason and the timings.

use relay_core::{Report, Verdict};
use yew::prelude::*;

pub fn verdict_banner(r: &Report) -> Html {
    let (word, class) = match r.verdict {
        Verdict::Closed => ("Not an open relay", "closed"),
        Verdict::Open => ("Open relay", "open"),
        Verdict::Inconclusive => ("No firm answer", "inconclusive"),
        Verdict::Blocked => ("Could not be tested", "blocked"),
    };
    let timings = relay_core::narration::timing_phrases(r);
    let server = match (&r.server.name, &r.server.address) {
        (Some(name), Some(addr)) => format!("{name} ({addr} port {})", r.server.port),
        (None, Some(addr)) => format!("{addr} port {}", r.server.port),
        _ => format!("{} port {}", r.server.host, r.server.port),
    };
    html! {
        <section class={classes!("verdict", class)} data-testid="verdict" data-verdict={class} aria-labelledby="verdict-title">
            <h2 id="verdict-title" tabindex="-1">{ word }</h2>
            <p class="server">{ server }</p>
            <p class="reason" data-testid="verdict-reason">{ &r.reason }</p>
            <p class="timings">{ timings.join(" · ") }</p>
        </section>
    }
}

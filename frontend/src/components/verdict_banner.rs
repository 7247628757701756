//! The verdict in large words, with its reason and the timings.

use relay_core::{Report, Verdict};
use yew::prelude::*;

use crate::components::step_panel::human_ms;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub report: std::rc::Rc<Report>,
}

#[function_component(VerdictBanner)]
pub fn verdict_banner(props: &Props) -> Html {
    let r = &props.report;
    let (word, class) = match r.verdict {
        Verdict::Closed => ("Not an open relay", "closed"),
        Verdict::Open => ("Open relay", "open"),
        Verdict::Inconclusive => ("No firm answer", "inconclusive"),
        Verdict::Blocked => ("Could not be tested", "blocked"),
    };
    let mut timings = Vec::new();
    if let Some(ms) = r.timings.connect_ms {
        timings.push(format!("connect {}", human_ms(ms)));
    }
    if let Some(ms) = r.timings.banner_ms {
        let slow = if ms >= 5000.0 { " (slow: a tarpit or slow reverse DNS)" } else { "" };
        timings.push(format!("banner {}{slow}", human_ms(ms)));
    }
    if let Some(ms) = r.timings.greeting_ms {
        timings.push(format!("greeting {}", human_ms(ms)));
    }
    timings.push(format!("{} probes over {} connections in {}", r.probes.len(), r.connections, human_ms(r.elapsed_ms)));
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

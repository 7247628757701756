//! One step of the manual test, drawn the way it looks in a terminal: what
//! was sent, what the server answered, a colour, and one sentence.

use relay_core::{Step, StepKind};
use yew::prelude::*;

/// Milliseconds as people read them ("0.4 ms", "312 ms", "2.1 s").
pub use relay_core::narration::human_millis as human_ms;

pub fn step_panel(s: &Step) -> Html {
    let tone = s.tone.as_str();
    let has_terminal = s.sent.is_some() || s.reply.is_some();
    html! {
        <li class={classes!("step", format!("tone-{tone}"))} data-testid="step" data-kind={s.kind.as_str()} data-tone={tone}>
            <div class="step-head">
                <h3>{ s.kind.title() }</h3>
                if s.kind != StepKind::Verdict {
                    <span class="took">{ human_ms(s.took_ms) }</span>
                }
            </div>
            if has_terminal {
                <pre class="terminal" aria-label="what was said">
                    if let Some(sent) = &s.sent {
                        <span class="sent"><span class="arrow" aria-hidden="true">{ "→ " }</span>{ sent }{ "\n" }</span>
                    }
                    if let Some(reply) = &s.reply {
                        { for reply.wire_lines().into_iter().map(|l| html! {
                            <span class="received"><span class="arrow" aria-hidden="true">{ "← " }</span>{ l }{ "\n" }</span>
                        }) }
                    }
                </pre>
            }
            <p class="meaning">{ &s.meaning }</p>
            if !s.details.is_empty() {
                <ul class="details">{ for s.details.iter().map(|d| html! { <li>{ d }</li> }) }</ul>
            }
        </li>
    }
}

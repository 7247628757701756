//! Probe k of N and the current step, announced to screen readers.

use yew::prelude::*;

pub fn progress(text: &str, done: usize, total: usize) -> Html {
    let max = total.max(1).to_string();
    html! {
        <div class="progress" data-testid="progress">
            <progress max={max} value={done.to_string()} aria-hidden="true"></progress>
            <p role="status" aria-live="polite">{ text }</p>
        </div>
    }
}

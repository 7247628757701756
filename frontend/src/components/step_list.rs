//! The manual test, step by step: every step the engine recorded.

use relay_core::Step;
use yew::prelude::*;

use crate::components::step_panel::step_panel;

pub fn step_list(steps: &[Step]) -> Html {
    if steps.is_empty() {
        return html! {};
    }
    html! {
        <section class="steps" aria-labelledby="steps-title">
            <h2 id="steps-title">{ "The manual test, step by step" }</h2>
            <ol class="step-list">
                { for steps.iter().map(step_panel) }
            </ol>
        </section>
    }
}

//! The manual test, step by step: every step the engine recorded.

use std::rc::Rc;

use relay_core::Step;
use yew::prelude::*;

use crate::components::step_panel::StepPanel;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub steps: Rc<Vec<Step>>,
}

#[function_component(StepList)]
pub fn step_list(props: &Props) -> Html {
    if props.steps.is_empty() {
        return html! {};
    }
    html! {
        <section class="steps" aria-labelledby="steps-title">
            <h2 id="steps-title">{ "The manual test, step by step" }</h2>
            <ol class="step-list">
                { for props.steps.iter().map(|s| html! { <StepPanel step={s.clone()} /> }) }
            </ol>
        </section>
    }
}

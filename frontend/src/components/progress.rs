//! Probe k of N and the current step, announced to screen readers.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub text: String,
    pub done: usize,
    pub total: usize,
}

#[function_component(Progress)]
pub fn progress(props: &Props) -> Html {
    let max = props.total.max(1).to_string();
    html! {
        <div class="progress" data-testid="progress">
            <progress max={max} value={props.done.to_string()} aria-hidden="true"></progress>
            <p role="status" aria-live="polite">{ &props.text }</p>
        </div>
    }
}

//! Why the audit could not run, in the bridge's own words.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub message: String,
}

#[function_component(ErrorNotice)]
pub fn error_notice(props: &Props) -> Html {
    html! {
        <div class="error" role="alert" data-testid="error">
            <strong>{ "The check could not run. " }</strong>{ &props.message }
        </div>
    }
}

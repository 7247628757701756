//! Why the audit could not run, in the bridge's own words.

use yew::prelude::*;

pub fn error_notice(message: &str) -> Html {
    html! {
        <div class="error" role="alert" data-testid="error">
            <strong>{ "The check could not run. " }</strong>{ message }
        </div>
    }
}

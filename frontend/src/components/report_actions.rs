//! Afterwards: copy the transcript, download the report, share a link, run again.

use yew::prelude::*;

/// What the user can do with a finished check; `notice` ("Copied" after a
/// copy) is for the live region.
pub struct Props<'a> {
    pub permalink: &'a str,
    pub on_copy: &'a Callback<()>,
    pub on_download: &'a Callback<()>,
    pub on_run_again: &'a Callback<()>,
    pub notice: Option<&'a str>,
}

pub fn report_actions(props: &Props) -> Html {
    html! {
        <div class="buttons actions">
            <button id="copy-transcript" type="button" onclick={props.on_copy.reform(|_: MouseEvent| ())}>{ "Copy the transcript" }</button>
            <button id="download-json" type="button" onclick={props.on_download.reform(|_: MouseEvent| ())}>{ "Download the report (JSON)" }</button>
            <a id="permalink" class="button" href={props.permalink.to_string()}>{ "Link to this check" }</a>
            <button id="run-again" type="button" onclick={props.on_run_again.reform(|_: MouseEvent| ())}>{ "Run again" }</button>
            <span class="notice" role="status" aria-live="polite">{ props.notice.unwrap_or_default() }</span>
        </div>
    }
}

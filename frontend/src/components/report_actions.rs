//! Afterwards: copy the transcript, download the report, share a link, run again.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub permalink: String,
    pub on_copy: Callback<()>,
    pub on_download: Callback<()>,
    pub on_run_again: Callback<()>,
    /// "Copied" after a copy, for the live region.
    pub notice: Option<String>,
}

#[function_component(ReportActions)]
pub fn report_actions(props: &Props) -> Html {
    html! {
        <div class="buttons actions">
            <button id="copy-transcript" type="button" onclick={props.on_copy.reform(|_: MouseEvent| ())}>{ "Copy the transcript" }</button>
            <button id="download-json" type="button" onclick={props.on_download.reform(|_: MouseEvent| ())}>{ "Download the report (JSON)" }</button>
            <a id="permalink" class="button" href={props.permalink.clone()}>{ "Link to this check" }</a>
            <button id="run-again" type="button" onclick={props.on_run_again.reform(|_: MouseEvent| ())}>{ "Run again" }</button>
            <span class="notice" role="status" aria-live="polite">{ props.notice.clone().unwrap_or_default() }</span>
        </div>
    }
}

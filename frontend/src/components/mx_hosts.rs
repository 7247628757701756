//! A domain's mail servers, to test one of them, or the whole domain (every
//! server at every address).

use yew::prelude::*;

use relay_core::wire::MxHostAnswer;

use crate::state::MxView;

/// What the user can do with the list: check one server (`on_test`), or
/// the whole domain, every mail server at every address (`on_test_domain`).
pub struct Props<'a> {
    pub disabled: bool,
    pub on_test: &'a Callback<String>,
    pub on_test_domain: &'a Callback<String>,
}

fn mx_hosts(domain: &str, hosts: &[MxHostAnswer], props: &Props) -> Html {
    let testable: Vec<String> = hosts.iter().filter(|h| h.allowed).map(|h| h.exchange.clone()).collect();
    let test_all = {
        let domain = domain.to_string();
        props.on_test_domain.reform(move |_: MouseEvent| domain.clone())
    };
    html! {
        <section class="mx" aria-labelledby="mx-title" data-testid="mx-hosts">
            <h2 id="mx-title">{ format!("Mail servers of {domain}") }</h2>
            <ul class="mx-list">
                { for hosts.iter().map(|h| {
                    let test = { let name = h.exchange.clone(); props.on_test.reform(move |_: MouseEvent| name.clone()) };
                    let addresses: Vec<String> = h.addresses.iter().map(|a| a.address.clone()).collect();
                    let why = h.addresses.iter().find_map(|a| a.reason.clone()).or_else(|| h.error.clone());
                    html! {
                        <li>
                            <span class="pref">{ if h.implicit { "A".to_string() } else { h.preference.to_string() } }</span>
                            <span class="name"><code>{ &h.exchange }</code>
                                <span class="addrs">{ addresses.join(", ") }</span>
                                if let Some(why) = why { <span class="why">{ why }</span> }
                            </span>
                            <button type="button" disabled={props.disabled || !h.allowed} onclick={test}>{ "Check" }</button>
                        </li>
                    }
                }) }
            </ul>
            if !testable.is_empty() {
                <button id="check-domain" type="button" disabled={props.disabled} onclick={test_all}>
                    { format!("Check the whole domain: all {} at every address", hosts.len()) }
                </button>
            }
        </section>
    }
}

/// The MX lookup: under way, its hosts, or why it failed.
pub fn mx_lookup(view: Option<&MxView>, props: &Props) -> Html {
    match view {
        Some(MxView::Loading(d)) => {
            html! { <p class="help" role="status">{ format!("Looking up the mail servers of {d}…") }</p> }
        }
        Some(MxView::Hosts(d, hosts)) => mx_hosts(d, hosts, props),
        Some(MxView::Failed(message)) => html! { <p class="error" role="alert">{ message }</p> },
        None => html! {},
    }
}

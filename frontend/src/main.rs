//! relaycheck's page. For now it shows the probe plan that relay-core builds,
//! proving the engine runs in the browser; the step-by-step audit through
//! the bridge comes with the page issue.

use relay_core::probe::{plan, PlanInput};
use relay_core::Config;
use yew::prelude::*;

#[function_component(App)]
fn app() -> Html {
    let config = Config::default();
    let input = PlanInput { config: &config, address: [192, 0, 2, 25].into(), server_name: "mx.example.org" };
    let probes = plan(&input);
    html! {
        <main>
            <h1>{ "relaycheck" }</h1>
            <p class="lede">
                { "Is your mail server an open relay? relaycheck does the classic manual test and " }
                { format!("{} relay tricks in all, explains every reply, and never sends a message.", probes.len()) }
            </p>
            <section class="panel" aria-labelledby="plan-title">
                <h2 id="plan-title">{ "What a check tries, for a server mx.example.org at 192.0.2.25" }</h2>
                <table>
                    <thead><tr><th>{ "Probe" }</th><th>{ "MAIL FROM" }</th><th>{ "RCPT TO" }</th></tr></thead>
                    <tbody>
                        { for probes.iter().map(|p| html! {
                            <tr key={p.id.clone()}>
                                <td>{ &p.name }</td>
                                <td><code>{ format!("<{}>", p.mail_from) }</code></td>
                                <td><code>{ format!("<{}>", p.rcpt_to) }</code></td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </section>
        </main>
    }
}

fn main() {
    yew::Renderer::<App>::new().render();
}

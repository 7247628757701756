//! One-click targets when the bridge runs its built-in lab.

use yew::prelude::*;

use relay_core::wire::LabTarget;

pub fn lab_targets(targets: &[LabTarget], disabled: bool, on_pick: &Callback<LabTarget>) -> Html {
    if targets.is_empty() {
        return html! {};
    }
    html! {
        <section class="lab" aria-labelledby="lab-title">
            <h2 id="lab-title">{ "Try it on the built-in lab" }</h2>
            <p class="help">{ "This bridge runs two demo mail servers on its own machine: one that refuses to relay and one open relay. Nothing is ever delivered." }</p>
            <div class="buttons">
                { for targets.iter().map(|t| {
                    let pick = { let t = t.clone(); on_pick.reform(move |_: MouseEvent| t.clone()) };
                    let short = if t.name.starts_with("open") { "open" } else { "closed" };
                    html! {
                        <button type="button" data-testid="lab-target" data-name={short} disabled={disabled} onclick={pick}>
                            { format!("Check the {} ({}:{})", t.label, t.host, t.port) }
                        </button>
                    }
                }) }
            </div>
        </section>
    }
}

//! One-click targets when the bridge runs its built-in lab.

use yew::prelude::*;

use std::rc::Rc;

use relay_core::wire::LabTarget;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub targets: Rc<Vec<LabTarget>>,
    pub disabled: bool,
    pub on_pick: Callback<LabTarget>,
}

#[function_component(LabTargets)]
pub fn lab_targets(props: &Props) -> Html {
    if props.targets.is_empty() {
        return html! {};
    }
    html! {
        <section class="lab" aria-labelledby="lab-title">
            <h2 id="lab-title">{ "Try it on the built-in lab" }</h2>
            <p class="help">{ "This bridge runs two demo mail servers on its own machine: one that refuses to relay and one open relay. Nothing is ever delivered." }</p>
            <div class="buttons">
                { for props.targets.iter().map(|t| {
                    let pick = { let t = t.clone(); props.on_pick.reform(move |_: MouseEvent| t.clone()) };
                    let short = if t.name.starts_with("open") { "open" } else { "closed" };
                    html! {
                        <button type="button" data-testid="lab-target" data-name={short} disabled={props.disabled} onclick={pick}>
                            { format!("Check the {} ({}:{})", t.label, t.host, t.port) }
                        </button>
                    }
                }) }
            </div>
        </section>
    }
}

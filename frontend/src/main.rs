//! The page's entry point; everything else is in the library (so that the
//! browser tests can reach it).

fn main() {
    yew::Renderer::<relaycheck_frontend::app::App>::new().render();
}

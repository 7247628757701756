//! The page's entry point; everything else is in the library (so that the
//! browser tests can reach it).

fn main() {
    // index.html's static form, shown while the WASM loaded, gives way to
    // the page, which keeps what was typed in it.
    relaycheck_frontend::services::browser::retire_shell();
    yew::Renderer::<relaycheck_frontend::app::App>::new().render();
}

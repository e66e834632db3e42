//! Two builds of one explainer: the page starts without the Live scene's
//! code and fetches it when scene i first opens.
//!
//! The Live scene (its lab client, the decoding of every message the lab
//! sends into core's types, the comparison with the model) is a fifth of
//! the wasm, and most readers never connect a lab. So `podnet-web` starts
//! with [`start`], in which scene i is only a [`LiveLoader`]; opening it
//! hands the page over to `podnet-live` ([`start_with_live_lab`]): the
//! same app with scene i in it. Everything the reader did is in the URL
//! and in `localStorage`, which the new app reads, so it shows the same
//! scene and nothing is lost.

use std::cell::{Cell, RefCell};

use wasm_bindgen::prelude::*;
use yew::prelude::*;
use yew::AppHandle;

use crate::scenes::SceneProps;
use crate::App;

/// The full build's script, beside the page (Trunk names it after its binary).
pub const LIVE_JS: &str = "podnet-live.js";

/// A scene's view.
pub type SceneView = fn(SceneProps) -> Html;

thread_local! {
    /// Scene i, in the build that has it.
    static LIVE: Cell<Option<SceneView>> = const { Cell::new(None) };
    /// The app [`start`] mounted, to be taken down before the hand-over.
    static RUNNING: RefCell<Option<AppHandle<App>>> = const { RefCell::new(None) };
}

#[wasm_bindgen(
    inline_js = "export function load_module(name) { return import(new URL(name, document.baseURI).href).then((m) => m.default()); }"
)]
extern "C" {
    /// Imports a wasm-bindgen module beside the page and runs it (its `main`).
    #[wasm_bindgen(catch)]
    fn load_module(name: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Mounts the explainer on the page's body; scene i is fetched when opened.
pub fn start() {
    let app = yew::Renderer::<App>::new().render();
    RUNNING.with(|r| *r.borrow_mut() = Some(app));
}

/// Mounts the explainer with scene i in it (the `podnet-live` build).
pub fn start_with_live_lab() {
    include_live_lab();
    yew::Renderer::<App>::new().render();
}

/// Puts scene i into this build; only what calls this carries its code.
pub fn include_live_lab() {
    LIVE.with(|l| l.set(Some(crate::scenes::live)));
}

/// Scene i if this build has it.
pub fn live_scene() -> Option<SceneView> {
    LIVE.with(Cell::get)
}

/// Takes this app down and starts the full build in its place; if that
/// cannot be fetched, says so on the page.
async fn hand_over() {
    let Some(app) = RUNNING.with(|r| r.borrow_mut().take()) else {
        // Not started by `start` (a test mounting the app itself): stay.
        return;
    };
    app.destroy();
    let loaded = match load_module(LIVE_JS) {
        Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = loaded {
        let why = js_sys::Object::from(e).to_string();
        let doc = gloo::utils::document();
        if let (Ok(p), Some(body)) = (doc.create_element("p"), doc.body()) {
            p.set_id("live-load-error");
            let _ = p.set_attribute("role", "alert");
            p.set_text_content(Some(&format!(
                "The live lab's code ({LIVE_JS}) could not be loaded: {why}. Reload the page to try again."
            )));
            let _ = body.append_child(&p);
        }
    }
}

/// Scene i in the build without it: fetches the build with it.
#[function_component(LiveLoader)]
pub fn live_loader() -> Html {
    use_effect_with((), |_| {
        yew::platform::spawn_local(async {
            // After this render's other effects: the URL says scene i first.
            gloo::timers::future::TimeoutFuture::new(0).await;
            hand_over().await;
        });
    });
    html! {
        <section class="scene" id="scene-i">
            <p id="live-loading" role="status">{ format!("Loading the live lab ({LIVE_JS})…") }</p>
        </section>
    }
}

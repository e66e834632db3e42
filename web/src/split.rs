//! Two builds of one explainer: the page starts without the Live scene's
//! code and fetches it when scene i first opens.
//!
//! The Live scene (its lab client, the decoding of every message the lab
//! sends into core's types, the comparison with the model) is a fifth of
//! the wasm, and most readers never connect a lab. So `podnet-web` starts
//! with [`crate::start`], in which scene i is only a loader
//! ([`crate::scenes::live_slot`]); opening it calls [`hand_over`], which
//! fetches `podnet-live` ([`crate::start_with_live_lab`], the same app with
//! scene i in it) and hands the page over to it. Everything the reader did
//! is in the URL and in `localStorage`, which the new app reads, so it
//! shows the same scene and nothing is lost.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use yew::AppHandle;

use crate::App;

/// The full build's name, beside the page: `<name>.js` and `<name>_bg.wasm`.
/// The page's `<meta name="podnet-live">` gives it with its content hash
/// (scripts/hash-live.sh); this is the name without one.
pub const LIVE_NAME: &str = "podnet-live";

thread_local! {
    /// The app [`crate::start`] mounted, to be taken down before the hand-over.
    static RUNNING: RefCell<Option<AppHandle<App>>> = const { RefCell::new(None) };
}

// Fetching and compiling come first, while this app still stands: if they
// fail, the reader keeps every other scene. Only then is it taken down and
// the compiled module started (wasm-bindgen's init takes a Module).
#[wasm_bindgen(inline_js = r#"
export function live_name(fallback) {
  return document.querySelector('meta[name="podnet-live"]')?.content || fallback;
}
export async function fetch_app(name) {
  const base = document.baseURI;
  const [app, module] = await Promise.all([
    import(new URL(`${name}.js`, base).href),
    WebAssembly.compileStreaming(fetch(new URL(`${name}_bg.wasm`, base).href)),
  ]);
  return { app, module };
}
export function start_app(fetched) {
  return fetched.app.default({ module_or_path: fetched.module });
}
"#)]
extern "C" {
    /// The live build's name from the page, else `fallback`.
    fn live_name(fallback: &str) -> String;
    /// Imports a wasm-bindgen module beside the page and compiles its wasm.
    #[wasm_bindgen(catch)]
    fn fetch_app(name: &str) -> Result<js_sys::Promise, JsValue>;
    /// Starts what [`fetch_app`] fetched (its `main` runs).
    #[wasm_bindgen(catch)]
    fn start_app(fetched: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// Keeps the app the page started with, for [`hand_over`] to take down.
pub fn keep(app: AppHandle<App>) {
    RUNNING.with(|r| *r.borrow_mut() = Some(app));
}

/// What a JS call threw or rejected with, in words ("TypeError: …").
fn said(e: JsValue) -> String {
    js_sys::Object::from(e).to_string().into()
}

async fn settled(p: Result<js_sys::Promise, JsValue>) -> Result<JsValue, String> {
    wasm_bindgen_futures::JsFuture::from(p.map_err(said)?)
        .await
        .map_err(said)
}

fn cannot_load(name: &str, why: &str) -> String {
    format!("The live lab's code ({name}.js) could not be loaded: {why}.")
}

/// Fetches the full build and hands the page over to it, unless `left()`
/// says the reader has left scene i meanwhile. An error before the
/// hand-over is returned (this app still stands); one after it is written
/// on the page, which is empty then.
pub async fn hand_over(left: impl Fn() -> bool) -> Result<(), String> {
    if RUNNING.with(|r| r.borrow().is_none()) {
        // Not started by `start` (a test mounting the app itself): stay.
        return Ok(());
    }
    let name = live_name(LIVE_NAME);
    let fetched = settled(fetch_app(&name))
        .await
        .map_err(|e| cannot_load(&name, &e))?;
    if left() {
        return Ok(());
    }
    let Some(app) = RUNNING.with(|r| r.borrow_mut().take()) else {
        return Ok(());
    };
    app.destroy();
    if let Err(e) = settled(start_app(&fetched)).await {
        let doc = gloo::utils::document();
        if let (Ok(p), Some(body)) = (doc.create_element("p"), doc.body()) {
            p.set_id("live-load-error");
            let _ = p.set_attribute("role", "alert");
            p.set_text_content(Some(&format!(
                "{} Reload the page to try again.",
                cannot_load(&name, &e)
            )));
            let _ = body.append_child(&p);
        }
    }
    Ok(())
}

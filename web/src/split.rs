//! Two builds of one explainer: the page starts with scenes a and b only
//! and hands itself over to the build with every scene.
//!
//! The later scenes (the packet engine and its replies, kube-proxy's rules,
//! the matrix, the policy reader, the sandbox and its challenges, the lab
//! client) are two thirds of the wasm; a reader starts at scene a. So
//! `podnet-web` starts with [`crate::start`], in which each later scene is
//! only a loader ([`crate::scenes::on_demand`]), and [`prefetch`]es
//! `podnet-full` ([`crate::start_full`], the same app with every scene)
//! while the reader reads. Opening a later scene calls [`hand_over`],
//! which takes the page's app down and starts that one. Everything the
//! reader did is in the URL and in `localStorage`, which the new app reads,
//! so it shows the same scene and nothing is lost.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use yew::AppHandle;

use crate::App;

/// The full build's name, beside the page: `<name>.js` and `<name>_bg.wasm`.
/// The page's `<meta name="podnet-full">` gives it with its content hash
/// (scripts/hash-names.sh); this is the name without one.
pub const FULL_NAME: &str = "podnet-full";

thread_local! {
    /// The app [`crate::start`] mounted, to be taken down before the hand-over.
    static RUNNING: RefCell<Option<AppHandle<App>>> = const { RefCell::new(None) };
}

// Fetching and compiling come first, while this app still stands: if they
// fail, the reader keeps scenes a and b. Only then is it taken down and the
// compiled module started (wasm-bindgen's init takes a Module). One fetch
// serves the prefetch and every hand-over; a failed one is forgotten, so
// the next try fetches again (and nobody is left with an unhandled
// rejection). Browsers that follow the HTML standard as it was until 2024
// keep a failed import() of a URL as failed, so a try after a failure asks
// for the module under a URL of its own.
#[wasm_bindgen(inline_js = r#"
let fetching = null;
let failures = 0;
export function fetch_app(name) {
  if (!fetching) {
    const base = document.baseURI;
    const js = new URL(`${name}.js`, base);
    if (failures > 0) js.searchParams.set('try', String(failures));
    fetching = Promise.all([
      import(js.href),
      WebAssembly.compileStreaming(fetch(new URL(`${name}_bg.wasm`, base).href)),
    ]).then(([app, module]) => ({ app, module }));
    fetching.catch(() => { fetching = null; failures += 1; });
  }
  return fetching;
}
export function prefetch_app(name) {
  const go = () => { fetch_app(name); };
  if (window.requestIdleCallback) requestIdleCallback(go, { timeout: 2000 }); else setTimeout(go, 0);
}
export async function start_app(fetched, focused, scrolled) {
  const started = await fetched.app.default({ module_or_path: fetched.module });
  // The new app has drawn (its first render runs before any timer): the
  // keyboard's focus and the page's scroll go back where they were.
  setTimeout(() => {
    const el = focused && document.getElementById(focused);
    if (el) el.focus({ preventScroll: true });
    window.scrollTo(0, scrolled);
  }, 0);
  return started;
}
export function focused_id() {
  return document.activeElement?.id || '';
}
"#)]
extern "C" {
    /// Imports a wasm-bindgen module beside the page and compiles its wasm
    /// (once; later calls get the same promise).
    #[wasm_bindgen(catch)]
    fn fetch_app(name: &str) -> Result<js_sys::Promise, JsValue>;
    /// [`fetch_app`] when the browser is next idle.
    fn prefetch_app(name: &str);
    /// Starts what [`fetch_app`] fetched (its `main` runs), then puts the
    /// focus back on the element with id `focused` and the scroll at `scrolled`.
    #[wasm_bindgen(catch)]
    fn start_app(
        fetched: &JsValue,
        focused: &str,
        scrolled: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    /// The id of the focused element ("" if none has one).
    fn focused_id() -> String;
}

/// Starts fetching and compiling the full build once the browser is idle
/// (the first scene drawn), so that the next scene opens at once.
pub fn prefetch() {
    prefetch_app(&full_name());
}

/// The full build's name as the page gives it, else [`FULL_NAME`].
fn full_name() -> String {
    crate::page::meta("podnet-full").unwrap_or_else(|| FULL_NAME.into())
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
    format!("This scene's code ({name}.js) could not be loaded: {why}.")
}

/// Fetches the full build and hands the page over to it, unless `left()`
/// says the reader has left the scene meanwhile. An error before the
/// hand-over is returned (this app still stands); one after it is written
/// on the page, which is empty then.
pub async fn hand_over(left: impl Fn() -> bool) -> Result<(), String> {
    if RUNNING.with(|r| r.borrow().is_none()) {
        // Not started by `start` (a test mounting the app itself): stay.
        return Ok(());
    }
    let name = full_name();
    let fetched = settled(fetch_app(&name))
        .await
        .map_err(|e| cannot_load(&name, &e))?;
    if left() {
        // For tests, which wait for this rather than for time to pass.
        let _ = js_sys::Reflect::set(
            &gloo::utils::window(),
            &"podnetHandOver".into(),
            &"stayed".into(),
        );
        return Ok(());
    }
    let Some(app) = RUNNING.with(|r| r.borrow_mut().take()) else {
        return Ok(());
    };
    // Taking the app down takes the focused tab or title with it: the new
    // app gets the focus and the scroll back.
    let focused = focused_id();
    let scrolled = gloo::utils::window().scroll_y().unwrap_or(0.0);
    app.destroy();
    if let Err(e) = settled(start_app(&fetched, &focused, scrolled)).await {
        let doc = gloo::utils::document();
        if let (Ok(p), Some(body)) = (doc.create_element("p"), doc.body()) {
            p.set_id("scene-load-error");
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

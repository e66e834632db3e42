//! Shared by the browser tests: mount the app and read and click its DOM.

#![allow(dead_code)] // each test file uses a different part

use gloo::timers::future::TimeoutFuture;
use podnet_web::App;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

/// Mounts the app with every scene (as the full build has them; the page's
/// loaders are tested in tests/e2e/split.test.mjs) in a new element,
/// starting from a clean address (the app reads its state from the URL).
pub fn mount() -> Element {
    podnet_web::include_full();
    let _ = gloo::utils::window()
        .history()
        .unwrap()
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("?"));
    let doc = gloo::utils::document();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    yew::Renderer::<App>::with_root(root.clone()).render();
    root
}

/// Lets Yew finish every render and effect the last interaction caused
/// (its scheduler runs until nothing is queued): no guess at how long a
/// debug build's render takes.
pub async fn settle() {
    yew::scheduler::flush().await;
}

/// How long [`until`] waits before the test fails: far more than anything
/// here takes, so only a real hang fails it.
const PATIENCE_MS: f64 = 10_000.0;

/// Waits until `ok` holds: renders are flushed and the browser gets its turn
/// (timers, fetches) between tries. Fails the test with `what` if it never does.
pub async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let now = || gloo::utils::window().performance().unwrap().now();
    let start = now();
    loop {
        settle().await;
        if ok() {
            return;
        }
        assert!(now() - start < PATIENCE_MS, "timed out waiting for {what}");
        TimeoutFuture::new(10).await;
    }
}

pub fn find(root: &Element, sel: &str) -> Element {
    root.query_selector(sel)
        .unwrap()
        .unwrap_or_else(|| panic!("{sel} not found"))
}

pub fn count(root: &Element, sel: &str) -> u32 {
    root.query_selector_all(sel).unwrap().length()
}

pub async fn click(root: &Element, sel: &str) {
    find(root, sel).dyn_into::<HtmlElement>().unwrap().click();
    settle().await;
}

pub fn text(root: &Element, sel: &str) -> String {
    find(root, sel).text_content().unwrap_or_default()
}

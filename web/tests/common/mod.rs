//! Shared by the browser tests: mount the app and read and click its DOM.

#![allow(dead_code)] // each test file uses a different part

use gloo::timers::future::TimeoutFuture;
use podnet_web::App;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

/// Mounts the app in a new element, starting from a clean address (the app
/// reads its state from the URL).
pub fn mount() -> Element {
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

/// How long a render may take in a debug build: the sandbox computes its
/// whole requirement matrix on each edit.
const SETTLE_MS: u32 = 120;

/// Yew renders asynchronously; give it a moment after each interaction.
pub async fn settle() {
    TimeoutFuture::new(SETTLE_MS).await;
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

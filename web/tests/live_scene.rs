//! The live scene (i) mounted in headless Chromium without a lab server:
//! its own page, since it leaves requests in flight. What it does with a
//! real server is checked end to end by tests/e2e/live.test.mjs.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlInputElement;

wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::{click, count, find, mount, settle, text, until};

#[wasm_bindgen_test]
async fn the_live_scene_reports_a_bad_address_and_an_unreachable_server() {
    let root = mount();
    settle().await;
    click(&root, "#tab-i").await;
    assert_eq!(text(&root, "#live-status"), "not connected");
    let addr = find(&root, "#live-addr")
        .dyn_into::<HtmlInputElement>()
        .unwrap();
    assert_eq!(addr.value(), "127.0.0.1:7070");
    // Connect reads the field as it is (no change event needed).
    addr.set_value("127.0.0.1/api?<x>");
    click(&root, "#live-connect").await;
    assert!(
        text(&root, "#live-status").contains("is not an address"),
        "{}",
        text(&root, "#live-status")
    );
    // Port 1 on loopback: nothing listens, the fetch fails at once.
    addr.set_value("127.0.0.1:1");
    click(&root, "#live-connect").await;
    until("the failed fetch to be said", || {
        root.query_selector("#live-status.bad").unwrap().is_some()
            && text(&root, "#live-status").contains("cannot reach")
    })
    .await;
    let said = text(&root, "#live-status");
    assert!(
        said.contains("cannot reach podnet lab serve at 127.0.0.1:1"),
        "{said}"
    );
    // The browser's own words explain nothing: the page says what to check.
    assert!(
        !said.contains("TypeError") && !said.contains("Failed to fetch"),
        "{said}"
    );
    assert!(said.contains("--allow-origin"), "{said}");
    // No lab, so no probe form and no drawing.
    assert!(root.query_selector("#live-send").unwrap().is_none());
    assert_eq!(count(&root, "#scene-i svg"), 0);
}

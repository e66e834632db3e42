//! Moving the keyboard's focus, where a link would otherwise navigate to a
//! fragment (a history entry the app reads back as a new state).

use wasm_bindgen::JsCast;

/// Moves the keyboard's focus to the element with this id (one that takes
/// focus: a control, or `tabindex="-1"`); the browser scrolls it into view.
pub fn focus(id: &str) {
    if let Some(el) = gloo::utils::document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

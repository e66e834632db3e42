//! What the page's HTML tells the app: its `<meta>`s (the hashed names of
//! the files it fetches itself, written by scripts/hash-names.sh).

/// The content of `<meta name="{name}">`, if the page has one.
pub fn meta(name: &str) -> Option<String> {
    gloo::utils::document()
        .query_selector(&format!(r#"meta[name="{name}"]"#))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
}

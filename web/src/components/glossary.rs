//! The glossary under every scene (core's [`GLOSSARY`]) and the links to
//! it from the words of a hop.

use podnet_core::forward::GLOSSARY;
use yew::prelude::*;

/// `text` with the first use of each glossary term linked to its entry.
pub fn linked(text: &str) -> Html {
    let mut out: Vec<Html> = Vec::new();
    let mut used = [false; GLOSSARY.len()];
    let mut plain_from = 0;
    let mut i = 0;
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    while i < text.len() {
        let found = GLOSSARY.iter().enumerate().find(|(k, (term, _, _))| {
            !used[*k]
                && text[i..].starts_with(term)
                && !word(text[..i].chars().next_back())
                && !word(text[i + term.len()..].chars().next())
        });
        match found {
            Some((k, (term, key, _))) => {
                used[k] = true;
                out.push(html! { { &text[plain_from..i] } });
                let id = format!("gloss-{key}");
                let onclick = Callback::from(move |e: MouseEvent| {
                    // Focus the entry (it scrolls into view), not a
                    // fragment navigation, which the app reads as a new
                    // state and stops the player.
                    e.prevent_default();
                    super::focus::focus(&id);
                });
                out.push(html! { <a class="term" href={format!("#gloss-{key}")} {onclick}>{ *term }</a> });
                i += term.len();
                plain_from = i;
            }
            None => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push(html! { { &text[plain_from..] } });
    html! { { for out } }
}

/// Every term the hops' words use, explained.
#[function_component(Glossary)]
pub fn glossary() -> Html {
    html! {
        <section id="glossary" class="glossary" aria-labelledby="glossary-title">
            <h2 id="glossary-title">{ "Words used here" }</h2>
            <dl>
                { for GLOSSARY.iter().map(|(term, key, what)| html! {
                    <>
                        <dt id={format!("gloss-{key}")} tabindex="-1">{ *term }</dt>
                        <dd>{ *what }</dd>
                    </>
                }) }
            </dl>
        </section>
    }
}

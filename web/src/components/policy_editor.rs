//! The NetworkPolicy editor two scenes share (g2's table, the sandbox):
//! YAML as kubectl takes it, read by core, an error shown on its line.

use std::rc::Rc;

use podnet_core::policy::manifest::{read, ManifestError};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// What the editor needs.
#[derive(Properties, PartialEq)]
pub struct EditorProps {
    /// The prefix of its elements' ids (`{id}-yaml`, `{id}-error`): two
    /// scenes have one.
    pub id: AttrValue,
    /// The policies in force (valid).
    pub yaml: Rc<str>,
    /// Where valid text goes.
    pub on_valid: Callback<Rc<str>>,
    /// What stays while the text is wrong, in the scene's words.
    pub note: AttrValue,
    /// Shown in the empty editor.
    #[prop_or_default]
    pub placeholder: AttrValue,
}

/// The policy text: a draft of its own until core reads it, so a typo
/// never changes the table; the error names the line and shows it.
#[function_component(PolicyEditor)]
pub fn policy_editor(p: &EditorProps) -> Html {
    let draft = use_state(|| p.yaml.to_string());
    let error = use_state(|| None::<ManifestError>);
    {
        // A preset (or Back) replaces the policies: the draft follows.
        let (draft, error) = (draft.clone(), error.clone());
        use_effect_with(p.yaml.clone(), move |yaml| {
            if **draft != **yaml {
                draft.set(yaml.to_string());
                error.set(None);
            }
        });
    }
    let oninput = {
        let (draft, error, on_valid) = (draft.clone(), error.clone(), p.on_valid.clone());
        Callback::from(move |e: InputEvent| {
            let text = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            match read(&text, "default") {
                Ok(_) => {
                    error.set(None);
                    on_valid.emit(text.as_str().into());
                }
                Err(e) => error.set(Some(e)),
            }
            draft.set(text);
        })
    };
    let shown = error.as_ref().map(|e| {
        let line = draft.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
        html! {
            <div id={format!("{}-error", p.id)} class="bad policy-error" role="alert">
                <p>{ format!("Line {}: {}", e.line, e.message) }</p>
                <pre>{ format!("{:>4} | {line}", e.line) }</pre>
                <p>{ p.note.clone() }</p>
            </div>
        }
    });
    html! {
        <div class="policy-editor">
            <label for={format!("{}-yaml", p.id)}>{ "Policies, as you would give them to kubectl apply -f (YAML, documents separated by ---):" }</label>
            <textarea id={format!("{}-yaml", p.id)} rows="14" spellcheck="false" aria-invalid={error.is_some().to_string()}
                aria-describedby={error.is_some().then(|| format!("{}-error", p.id))} placeholder={p.placeholder.clone()}
                value={(*draft).clone()} {oninput} />
            { for shown }
        </div>
    }
}

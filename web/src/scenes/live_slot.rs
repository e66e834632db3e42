//! Scene i's slot. The build with the Live scene registers it here
//! ([`include_live_lab`]); the build without it shows [`LiveLoader`], which
//! fetches that build and hands the page over to it ([`crate::split`]).

use std::cell::Cell;
use std::rc::Rc;

use yew::prelude::*;

use super::SceneProps;
use crate::split::hand_over;

/// A scene's view.
pub type SceneView = fn(SceneProps) -> Html;

thread_local! {
    /// Scene i, in the build that has it.
    static LIVE: Cell<Option<SceneView>> = const { Cell::new(None) };
}

/// Puts scene i into this build; only what calls this carries its code.
pub fn include_live_lab() {
    LIVE.with(|l| l.set(Some(super::live)));
}

/// Scene i if this build has it.
pub fn live_scene() -> Option<SceneView> {
    LIVE.with(Cell::get)
}

/// Scene i in the build without it: fetches the build with it.
#[function_component(LiveLoader)]
pub fn live_loader() -> Html {
    let error = use_state(|| None::<String>);
    {
        let error = error.clone();
        use_effect_with((), move |_| {
            let left = Rc::new(Cell::new(false));
            let gone = left.clone();
            yew::platform::spawn_local(async move {
                // After this render's other effects: the URL says scene i first.
                gloo::timers::future::TimeoutFuture::new(0).await;
                let has_left = {
                    let left = left.clone();
                    move || left.get()
                };
                if let Err(e) = hand_over(has_left).await {
                    if !left.get() {
                        error.set(Some(e));
                    }
                }
            });
            move || gone.set(true)
        });
    }
    html! {
        <section class="scene" id="scene-i">
            { match &*error {
                None => html! { <p id="live-loading" role="status">{ "Loading the live lab…" }</p> },
                Some(e) => html! {
                    <p id="live-load-error" class="bad" role="alert">{ format!("{e} The other scenes still work; reload the page to try again.") }</p>
                },
            } }
        </section>
    }
}

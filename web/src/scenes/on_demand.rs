//! The scenes the page's build fetches when they open: all but a and b.
//!
//! Each later scene adds to the wasm: the packet engine and its replies,
//! kube-proxy's rules and chain names, the matrix, the policy reader (a
//! YAML parser), the sandbox and its challenges, the lab client. A reader
//! starts at scene a, so the page's build (`podnet-web`) has scenes a and
//! b only and shows [`Loader`] for the others, which hands the page over
//! to the full build ([`crate::split`]; fetched while the reader reads the
//! first scene). The full build registers every scene here ([`include`]);
//! what is never registered is never linked into the page's build.

use std::cell::Cell;
use std::rc::Rc;

use yew::prelude::*;

use super::SceneProps;
use crate::sandbox::SandboxSpec;
use crate::scene_data::{ModelKey, SceneModel};
use crate::split::hand_over;
use crate::state::Scene;

/// What the full build adds to the page's.
#[derive(Clone, Copy)]
pub struct Full {
    /// Draws a scene.
    pub view: fn(SceneProps) -> Html,
    /// Computes a scene's model.
    pub model: fn(&ModelKey) -> SceneModel,
    /// Whether core reads a link's policy text (scene g2).
    pub policy_ok: fn(&str) -> bool,
    /// A challenge's broken cluster, opened on its first failing pair.
    pub challenge: fn(&str) -> Option<SandboxSpec>,
}

thread_local! {
    static FULL: Cell<Option<Full>> = const { Cell::new(None) };
}

/// Puts the on-demand scenes into this build.
pub fn include(full: Full) {
    FULL.with(|f| f.set(Some(full)));
}

/// The on-demand scenes, if this build has them. Unit tests always do:
/// they test what the full build does.
pub fn full() -> Option<Full> {
    #[cfg(test)]
    if FULL.with(Cell::get).is_none() {
        include(crate::full_build());
    }
    FULL.with(Cell::get)
}

/// A scene's model: every scene's in the full build, scenes a and b in the
/// page's.
pub fn model(key: &ModelKey) -> SceneModel {
    match full() {
        Some(full) => (full.model)(key),
        None => SceneModel::shell(key),
    }
}

/// Whether this build can draw `scene` itself.
pub fn shows(scene: Scene) -> bool {
    !scene.on_demand() || full().is_some()
}

/// An on-demand scene in the page's build: fetches the full build.
#[derive(Properties, PartialEq)]
pub struct LoaderProps {
    /// The scene to be shown.
    pub scene: Scene,
}

/// An on-demand scene in the page's build: fetches the full build and
/// hands the page over to it.
#[function_component(Loader)]
pub fn loader(p: &LoaderProps) -> Html {
    let error = use_state(|| None::<String>);
    {
        let error = error.clone();
        use_effect_with((), move |_| {
            let left = Rc::new(Cell::new(false));
            let gone = left.clone();
            yew::platform::spawn_local(async move {
                // After this render's other effects: the URL names the scene first.
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
        <section class="scene" id={format!("scene-{}", p.scene.key())}>
            { match &*error {
                None => html! { <p id="scene-loading" role="status">{ "Loading this scene…" }</p> },
                Some(e) => html! {
                    <p id="scene-load-error" class="bad" role="alert">{ format!("{e} Scenes a and b still work; open this scene again, or reload the page, to try again.") }</p>
                },
            } }
        </section>
    }
}

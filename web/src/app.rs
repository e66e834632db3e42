//! The app: one reducer, the scene menu, timers, keyboard and the URL.

use gloo::events::{EventListener, EventListenerOptions};
use gloo::timers::callback::Interval;
use wasm_bindgen::JsCast;
use web_sys::KeyboardEvent;
use yew::prelude::*;

use crate::components::focus::focus;
use crate::components::glossary::Glossary;
use crate::scene_data::ModelKey;
use crate::scenes::{self, on_demand, SceneProps};
use crate::state::{Action, Scene, State};

fn initial_state() -> State {
    let query = gloo::utils::window()
        .location()
        .search()
        .unwrap_or_default();
    State::from_query(&query)
}

/// The keyboard: space play/pause, ←/→ step, +/− speed, 1–9 scenes.
fn key_action(key: &str, speed: u32) -> Option<Action> {
    Some(match key {
        " " | "k" => Action::TogglePlay,
        "ArrowRight" | "l" => Action::Step(1),
        "ArrowLeft" | "j" => Action::Step(-1),
        "+" | "=" => Action::Speed(speed * 2),
        "-" => Action::Speed(speed / 2),
        d if d.len() == 1 => Action::Go(*Scene::ALL.get(d.parse::<usize>().ok()?.checked_sub(1)?)?),
        _ => return None,
    })
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(initial_state);
    let model = use_memo(ModelKey::of(&state), on_demand::model);
    // The live scene sets the length itself, from the packet it shows.
    let len = (state.scene != Scene::Live).then(|| match (&model.trace, &model.join) {
        (Some(t), _) => t.hops.len(),
        (None, Some(j)) => j.len(),
        (None, None) => 0,
    });
    {
        let d = state.dispatcher();
        use_effect_with(len, move |&len| {
            if let Some(len) = len {
                d.dispatch(Action::SetLen(len));
            }
        });
    }
    {
        let d = state.dispatcher();
        use_effect_with((state.playing, state.speed), move |&(playing, speed)| {
            let timer = playing
                .then(|| Interval::new(900 / speed.max(1), move || d.dispatch(Action::Tick)));
            move || drop(timer)
        });
    }
    {
        let d = state.dispatcher();
        let speed = state.speed;
        use_effect_with(speed, move |&speed| {
            // Not passive: Space must not also scroll or press the focused button.
            let options = EventListenerOptions::enable_prevent_default();
            let listener = EventListener::new_with_options(
                &gloo::utils::document(),
                "keydown",
                options,
                move |e| {
                    let Some(e) = e.dyn_ref::<KeyboardEvent>() else {
                        return;
                    };
                    let target = e
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
                    let tag = target.as_ref().map(|el| el.tag_name()).unwrap_or_default();
                    // A focused wide drawing scrolls with the arrow keys
                    // (the browser's own), so a keyboard can pan it.
                    let panning = e.key().starts_with("Arrow")
                        && target.is_some_and(|el| {
                            el.class_name().split_whitespace().any(|c| c == "pan")
                        });
                    let typing = matches!(tag.as_str(), "INPUT" | "SELECT" | "TEXTAREA");
                    // Space and Enter on a focused button or hop press it,
                    // as everywhere on the web; they are not the player's then.
                    let pressing = matches!(tag.as_str(), "BUTTON" | "SUMMARY" | "A")
                        && matches!(e.key().as_str(), " " | "Enter");
                    if typing || pressing || panning || e.ctrl_key() || e.meta_key() || e.alt_key()
                    {
                        return;
                    }
                    if let Some(a) = key_action(&e.key(), speed) {
                        e.prevent_default();
                        d.dispatch(a);
                    }
                },
            );
            move || drop(listener)
        });
    }
    // A new scene (or case) is a new history entry, so Back returns to the
    // one before; a step of the cursor only replaces the current entry.
    let shown = use_mut_ref(|| state.history_key());
    {
        let shown = shown.clone();
        let key = state.history_key();
        // The page's build reads an on-demand scene's link only in part (it
        // knows no challenge, reads no policy): it leaves that link as it is
        // for the full build to read, and only names the scene it goes to.
        let shows = on_demand::shows(state.scene);
        use_effect_with(state.to_query(), move |q| {
            let url = format!("?{q}");
            if let Ok(history) = gloo::utils::window().history() {
                let null = wasm_bindgen::JsValue::NULL;
                if *shown.borrow() != key {
                    let _ = history.push_state_with_url(&null, "", Some(&url));
                    *shown.borrow_mut() = key;
                } else if shows {
                    let _ = history.replace_state_with_url(&null, "", Some(&url));
                }
            }
        });
    }
    {
        let d = state.dispatcher();
        use_effect_with((), move |_| {
            let listener = EventListener::new(&gloo::utils::window(), "popstate", move |_| {
                let restored = initial_state();
                // What Back shows is already in the history: not pushed again.
                *shown.borrow_mut() = restored.history_key();
                d.dispatch(Action::Restore(Box::new(restored)));
            });
            move || drop(listener)
        });
    }
    use_effect_with(state.scene, |scene| {
        // On a phone the menu is one scrolling row: keep this scene's tab
        // in it, not scrolled away.
        if let Some(tab) =
            gloo::utils::document().get_element_by_id(&format!("tab-{}", scene.key()))
        {
            let opts = web_sys::ScrollIntoViewOptions::new();
            opts.set_block(web_sys::ScrollLogicalPosition::Nearest);
            opts.set_inline(web_sys::ScrollLogicalPosition::Nearest);
            tab.scroll_into_view_with_scroll_into_view_options(&opts);
        }
    });
    use_effect_with((), |_| {
        // For the first-render figure: the time from navigation start to here.
        let w = gloo::utils::window();
        if let Some(perf) = w.performance() {
            let _ = js_sys::Reflect::set(&w, &"podnetFirstRender".into(), &perf.now().into());
        }
    });
    let on = {
        let d = state.dispatcher();
        // The length this render drew, first: the effect that sets it runs
        // after the render, and a click right after a scene change must not
        // step in the old scene's length. One callback per length, so the
        // components it is given are not redrawn at every step.
        use_callback(len, move |a: Action, &len| {
            if let (Some(len), Action::Step(_) | Action::Seek(_) | Action::TogglePlay) = (len, &a) {
                d.dispatch(Action::SetLen(len));
            }
            d.dispatch(a)
        })
    };
    let props = SceneProps {
        model,
        state: (*state).clone(),
        on: on.clone(),
    };
    html! {
        <div class="app">
            <a class="skip" href="#scene-title" onclick={Callback::from(|e: MouseEvent| {
                // Focus, not a fragment navigation: that would be a history
                // entry, read back as a new state (the player stopped).
                e.prevent_default();
                focus("scene-title");
            })}>{ "Skip to the scene" }</a>
            <header>
                <h1>{ "podnet" }<small>{ " — how Kubernetes pods get addresses and reach each other" }</small></h1>
                <nav aria-label="scenes">
                    { for Scene::ALL.iter().map(|&s| {
                        let on = on.clone();
                        html! {
                            <button id={format!("tab-{}", s.key())} class={classes!("tab", (s == state.scene).then_some("active"))}
                                onclick={Callback::from(move |_: MouseEvent| on.emit(Action::Go(s)))}>
                                { format!("{}. {}", s.key(), s.title()) }
                            </button>
                        }
                    }) }
                </nav>
            </header>
            <main>
                <h2 id="scene-title" tabindex="-1">{ format!("{}. {}", state.scene.key(), state.scene.title()) }</h2>
                // Keyed by scene: a new scene is mounted afresh, never reconciled
                // from the last one (its player would scroll, its grade stay).
                <div class="scene-box" key={state.scene.key()}>{ scenes::view(props) }</div>
                { next_scene(state.scene, &on) }
                <Glossary />
            </main>
            <footer>{ "Keys: space play/pause · ← → step · + − speed · 1–9 scenes. Everything shown is computed by podnet-core, the model the node agent programs into real kernels." }</footer>
        </div>
    }
}

/// The way on at the end of a scene: the next one in the menu's order.
fn next_scene(now: Scene, on: &Callback<Action>) -> Html {
    let at = Scene::ALL.iter().position(|&s| s == now);
    let Some(&next) = at.and_then(|i| Scene::ALL.get(i + 1)) else {
        return html! {};
    };
    let on = on.clone();
    html! {
        <p class="next-scene">
            <button type="button" id="next-scene" onclick={Callback::from(move |_: MouseEvent| {
                on.emit(Action::Go(next));
                // The new scene from its top, not from where this one
                // ended; the keyboard's focus there too.
                gloo::utils::window().scroll_to_with_x_and_y(0.0, 0.0);
                focus("scene-title");
            })}>{ format!("Next scene: {}. {} →", next.key(), next.title()) }</button>
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(key_action(" ", 1), Some(Action::TogglePlay));
        assert_eq!(key_action("ArrowLeft", 1), Some(Action::Step(-1)));
        assert_eq!(key_action("+", 2), Some(Action::Speed(4)));
        assert_eq!(key_action("3", 1), Some(Action::Go(Scene::Service)));
        assert_eq!(
            key_action("6", 1),
            Some(Action::Go(Scene::Join)),
            "digits follow the menu: j before e"
        );
        assert_eq!(key_action("9", 1), Some(Action::Go(Scene::Overlay)));
        assert_eq!(key_action("0", 1), None);
        assert_eq!(key_action("x", 1), None);
    }
}

//! One file per scene, in the seed's order; each draws what [`SceneModel`] computed.

mod a_pod;
mod b2_service;
mod b_node;
mod c_unconnected;
mod d_requirements;
mod e_ranges;
mod f2_overlay;
mod f_packet;
mod g2_policy;
mod g_outside;
mod h_sandbox;
mod i_live;
mod j_join;
pub mod on_demand;

use std::rc::Rc;

use yew::prelude::*;

use crate::components::player::Player;
use crate::components::predict::Predict;
use crate::components::topology::Topology;
use crate::scene_data::SceneModel;
use crate::state::{Action, Scene, State};
use podnet_core::forward::{Grade, Trace};

/// What every scene gets.
#[derive(Properties, PartialEq, Clone)]
pub struct SceneProps {
    /// The computed model.
    pub model: Rc<SceneModel>,
    /// The app state.
    pub state: State,
    /// Where actions go.
    pub on: Callback<Action>,
}

/// The prediction form, the drawing with the packet, and the player beside it.
#[function_component(PacketView)]
pub fn packet_view(p: &SceneProps) -> Html {
    let m = &p.model;
    html! {
        <>
            { if p.state.scene.has_reply() { reply_switch(p) } else { html! {} } }
            <Packet trace={m.trace.clone()} cluster={m.cluster.clone()} intended={m.intended}
                step={p.state.step} playing={p.state.playing} speed={p.state.speed} on={p.on.clone()} />
        </>
    }
}

/// The request or its reply, conntrack undoing on the reply any NAT the
/// request met, hop by hop.
fn reply_switch(p: &SceneProps) -> Html {
    let m = &p.model;
    let dropped = m.no_reply
        || (!p.state.reply
            && m.trace.as_ref().is_some_and(|t| {
                !matches!(t.verdict, podnet_core::forward::Verdict::Delivered { .. })
            }));
    let button = |reply: bool, label: &'static str| {
        let cb = p.on.clone();
        let on = p.state.reply == reply;
        html! {
            <button id={if reply { "packet-reply" } else { "packet-request" }} class={classes!(on.then_some("on"))}
                aria-pressed={on.to_string()} disabled={reply && dropped}
                onclick={Callback::from(move |_: MouseEvent| cb.emit(Action::SetReply(reply)))}>{ label }</button>
        }
    };
    let said = match (dropped, p.state.reply) {
        (true, _) => "Dropped on the way: there is no reply to follow.",
        (false, false) => "Then play its reply, back the same way.",
        (false, true) => "The reply, back to whoever sent the request: conntrack knows it as one and undoes any NAT the request met.",
    };
    html! {
        <div class="cases" role="group" aria-label="request or reply">
            { button(false, "The request") }{ button(true, "Its reply") }
            <span class="muted" id="packet-reply-said">{ format!(" {said}") }</span>
        </div>
    }
}

/// What [`Packet`] shows.
#[derive(Properties, PartialEq, Clone)]
pub struct PacketProps {
    /// The packet: the model's, or one a real lab captured.
    pub trace: Option<Rc<Trace>>,
    /// Where it travels.
    pub cluster: Rc<podnet_core::topology::Cluster>,
    /// Who it was meant for.
    #[prop_or_default]
    pub intended: Option<podnet_core::topology::Endpoint>,
    /// The player's cursor, state and speed.
    pub step: usize,
    /// Playing.
    pub playing: bool,
    /// Speed.
    pub speed: u32,
    /// Where actions go.
    pub on: Callback<Action>,
    /// Who grades a prediction, when not the model (the Live scene: the real lab).
    #[prop_or_default]
    pub graded_by: Option<AttrValue>,
}

/// A packet with predict-then-see: the form, the drawing and the player;
/// a grade marks the hop where the prediction first went wrong.
#[function_component(Packet)]
pub fn packet(p: &PacketProps) -> Html {
    // A grade belongs to one packet: a new trace clears it.
    let grade = use_state(|| None::<(Rc<Trace>, Grade)>);
    let current = grade
        .as_ref()
        .filter(|(t, _)| p.trace.as_ref().is_some_and(|now| Rc::ptr_eq(t, now)))
        .map(|(_, g)| *g);
    let on_grade = {
        let (grade, trace, on) = (grade.clone(), p.trace.clone(), p.on.clone());
        Callback::from(move |g: Grade| {
            if let Some(t) = &trace {
                grade.set(Some((t.clone(), g)));
                // Show the packet from the start, as predicted.
                on.emit(Action::Seek(0));
                on.emit(Action::TogglePlay);
            }
        })
    };
    html! {
        <>
            { match &p.trace {
                Some(t) => html! { <Predict trace={t.clone()} cluster={p.cluster.clone()} grade={current} on_grade={on_grade} graded_by={p.graded_by.clone()} /> },
                None => html! {},
            } }
            <div class="packet-view">
                <Topology cluster={p.cluster.clone()} trace={p.trace.clone()} step={p.step} speed={p.speed} />
                { match &p.trace {
                    Some(t) => html! {
                        <Player trace={t.clone()} cluster={p.cluster.clone()} intended={p.intended}
                            step={p.step} playing={p.playing} speed={p.speed} on={p.on.clone()}
                            wrong={current.and_then(|g| g.wrong_at)} />
                    },
                    None => html! {},
                } }
            </div>
        </>
    }
}

/// The scene for the current state: in the page's build scenes a and b,
/// and a loader for the others ([`on_demand`]).
pub fn view(p: SceneProps) -> Html {
    match (on_demand::full(), p.state.scene) {
        (Some(full), _) => (full.view)(p),
        (None, Scene::Pod) => a_pod::pod_scene(&p),
        (None, Scene::Node) => b_node::node_scene(&p),
        (None, scene) => html! { <on_demand::Loader {scene} /> },
    }
}

/// Every scene, in the build that has them all. The scenes without hooks
/// of their own are plain functions: a component each would cost the wasm
/// some 4 KiB of Yew's per-component code, for nothing (their props change
/// at every step).
pub fn every_scene(p: SceneProps) -> Html {
    match p.state.scene {
        Scene::Pod => a_pod::pod_scene(&p),
        Scene::Node => b_node::node_scene(&p),
        Scene::Service => b2_service::service_scene(&p),
        Scene::Unconnected => c_unconnected::unconnected_scene(&p),
        Scene::Requirements => d_requirements::requirements_scene(&p),
        Scene::Ranges => e_ranges::ranges_scene(&p),
        Scene::Packet => f_packet::packet_scene(&p),
        Scene::Overlay => f2_overlay::overlay_scene(&p),
        Scene::Outside => g_outside::outside_scene(&p),
        Scene::Policy => g2_policy::policy_scene(&p),
        Scene::Sandbox => html! { <h_sandbox::SandboxScene ..p /> },
        Scene::Live => html! { <i_live::LiveScene ..p /> },
        Scene::Join => j_join::join_scene(&p),
    }
}

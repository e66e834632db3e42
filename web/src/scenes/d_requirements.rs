//! d. What a CNI plugin must guarantee, as a live matrix.

use yew::prelude::*;

use podnet_core::topology::Endpoint;

use super::{PacketView, SceneProps};
use crate::components::matrix::MatrixView;
use crate::components::topology::Topology;
use crate::state::Action;

/// Scene d.
pub fn requirements_scene(p: &SceneProps) -> Html {
    let m = &p.model;
    let on = p.state.network_on;
    let toggle = {
        let cb = p.on.clone();
        Callback::from(move |_: MouseEvent| cb.emit(Action::ToggleNetwork))
    };
    // A picked cell's ping plays in the player under the matrix.
    let play = {
        let (cb, c) = (p.on.clone(), m.cluster.clone());
        Callback::from(move |(from, to): (Endpoint, Endpoint)| {
            cb.emit(Action::PlayCell(c.short_name_of(from), c.short_name_of(to)));
        })
    };
    // The cell a link names, shown as picked.
    let pick = p.state.cell.as_ref().and_then(|(from, to)| {
        let c = &m.cluster;
        Some((c.endpoint_named(from).ok()?, c.endpoint_named(to).ok()?))
    });
    html! {
        <section class="scene" id="scene-d">
            <div class="explain">
                <p>{ "Kubernetes does not set up pod networking itself. It states requirements, and a CNI plugin must meet them:" }</p>
                <ul>
                    <li>{ "every pod can reach every other pod without NAT;" }</li>
                    <li>{ "every node can reach every pod, and every pod every node, without NAT." }</li>
                </ul>
                <p>{ "Each cell below is a ping computed by the model. Click a cell (or Tab to it and press Enter): its ping plays in the player below, and why it fails is written under the table, with the reply." }</p>
                <button id="btn-network" type="button" role="switch" aria-checked={on.to_string()}
                    class={classes!("switch", on.then_some("on"))} onclick={toggle}>
                    <span class="switch-track" aria-hidden="true"><span class="switch-knob"></span></span>
                    { if on { " Cluster network: on (host-gw routes)" } else { " Cluster network: off" } }
                </button>
            </div>
            { match &m.matrix {
                Some(x) => html! { <MatrixView matrix={x.clone()} cluster={m.cluster.clone()} on_pick={Some(play)} pick={pick} /> },
                None => html! { <p class="error">{ m.error.clone().unwrap_or_default() }</p> },
            } }
            { if m.trace.is_some() { html! { <PacketView ..p.clone() /> } } else { html! { <Topology cluster={m.cluster.clone()} /> } } }
        </section>
    }
}

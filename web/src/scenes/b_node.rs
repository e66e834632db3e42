//! b. One node: pods on the internal network get addresses; a recreated pod gets a new one.

use yew::prelude::*;

use super::SceneProps;
use crate::components::topology::Topology;
use crate::scene_data::recreated;
use crate::state::Action;

/// Scene b.
pub fn node_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    let times = p.state.recreated;
    let ip_now = c
        .pod_named("web")
        .map(|w| w.ip.to_string())
        .unwrap_or_default();
    let before = (times > 0).then(|| {
        recreated(times - 1)
            .pod_named("web")
            .map(|w| w.ip.to_string())
            .unwrap_or_default()
    });
    let node = c.nodes().first();
    let recreate = {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| on.emit(Action::Recreate))
    };
    html! {
        <section class="scene" id="scene-b">
            <div class="explain">
                <p>{ format!("When the node is set up, an internal network {} is created on bridge {} ({}), and every pod is attached to it with a veth pair.",
                    node.map(|n| n.pod_range.to_string()).unwrap_or_default(),
                    node.map(|n| n.bridge.to_string()).unwrap_or_default(),
                    node.map(|n| n.gateway().to_string()).unwrap_or_default()) }</p>
                <ul class="pod-list">
                    { for c.pods().iter().map(|pod| html! { <li>{ format!("{} → {}", pod.name, pod.ip) }</li> }) }
                </ul>
                <p id="recreate-result">{ match &before {
                    Some(b) => format!("Pod web was deleted and created again: it had {b}, now it has {ip_now}. Pod IPs change — a stable way to reach a pod is a Service (next scene)."),
                    None => format!("Pod web has {ip_now}. Delete and recreate it:"),
                } }</p>
                <button id="btn-recreate" onclick={recreate}>{ "Delete and recreate pod web" }</button>
            </div>
            <Topology cluster={c.clone()} />
        </section>
    }
}

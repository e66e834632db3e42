//! f. A packet from a pod on node1 to a pod on node2, hop by hop.

use podnet_core::forward::Step;
use yew::prelude::*;

use super::{PacketView, SceneProps};

/// Scene f.
pub fn packet_scene(p: &SceneProps) -> Html {
    let routes: Vec<String> = p
        .model
        .trace
        .iter()
        .flat_map(|t| t.hops.iter())
        .filter_map(|h| match (h.step, h.place) {
            (Step::Send { route } | Step::Forward { route }, place) => {
                Some(format!("{}: {route}", place.label(&p.model.cluster)))
            }
            _ => None,
        })
        .collect();
    html! {
        <section class="scene" id="scene-f">
            <div class="explain">
                <p>{ "pod-a on node1 pings pod-c on node2. Three route lookups decide the path:" }</p>
                <ol class="route-steps">{ for routes.iter().map(|r| html! { <li><code>{ r.clone() }</code></li> }) }</ol>
                <p>{ "On the LAN the frame goes from node1's MAC to node2's MAC, but the IP addresses stay the pods' own: no NAT. Open any hop for its headers; changed fields are marked." }</p>
            </div>
            <PacketView ..p.clone() />
        </section>
    }
}

//! c. Two nodes without a cluster network, both on the same range: this isn't going to work.

use std::collections::BTreeMap;

use yew::prelude::*;

use super::{PacketView, SceneProps};

/// Scene c.
pub fn unconnected_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    let mut by_ip: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for pod in c.pods() {
        let node = c.node(pod.node).map(|n| n.name.clone()).unwrap_or_default();
        by_ip
            .entry(pod.ip)
            .or_default()
            .push(format!("{} on {node}", pod.name));
    }
    let ranges: Vec<String> = c
        .nodes()
        .iter()
        .map(|n| format!("{} uses {}", n.name, n.pod_range))
        .collect();
    html! {
        <section class="scene" id="scene-c">
            <div class="explain">
                <p>{ format!("Two nodes that are not part of a cluster network are set up on their own: {}.", ranges.join(", ")) }</p>
                <ul class="dups">
                    { for by_ip.iter().filter(|(_, v)| v.len() > 1).map(|(ip, v)| html! {
                        <li class="dup">{ format!("{ip} is {}", v.join(" and ")) }</li>
                    }) }
                </ul>
                <p>{ "pod-a on node1 sends to pod-d on node2 at its address. Play the packet:" }</p>
            </div>
            <PacketView ..p.clone() />
        </section>
    }
}

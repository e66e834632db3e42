//! e. A CNI plugin takes over: each node gets its own range, and routes to the others.

use podnet_core::route::RouteProto;
use yew::prelude::*;

use super::SceneProps;
use crate::components::topology::Topology;

/// Scene e.
pub fn ranges_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    html! {
        <section class="scene" id="scene-e">
            <div class="explain">
                <p>{ format!("Once a CNI plugin manages the network, the cluster range {} is split into one /{} per node, so no two pods share an address. Each node routes every other node's range to that node.",
                    c.cidr(), c.node_prefix()) }</p>
            </div>
            <Topology cluster={c.clone()} />
            <div class="route-tables">
                { for c.nodes().iter().filter_map(|n| c.plan(n.id).ok()).map(|plan| html! {
                    <div class="route-table" data-node={plan.node.clone()}>
                        <h3>{ format!("{}: pods {}/{}  ·  {} {}", plan.node, plan.bridge.address.network(), plan.bridge.address.prefix(), plan.bridge.name, plan.bridge.address) }</h3>
                        <pre>{ for plan.routes.iter().map(|r| html! {
                            <span class={classes!("route", (r.proto == RouteProto::Podnet).then_some("owned"))}>{ format!("{r}\n") }</span>
                        }) }</pre>
                    </div>
                }) }
            </div>
        </section>
    }
}

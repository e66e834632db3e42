//! j. How a node joins a real cluster: NotReady until a CNI config
//! appears, a range from kube-controller-manager's node IPAM, then Ready.
//! Computed by core's [`join`](podnet_core::join) model; a Kubernetes lab
//! connected in the Live scene shows the same moments as its API server
//! reported them ([`Observed`](crate::components::joins::Observed)).

use podnet_core::join::JoinEvent;
use yew::prelude::*;

use super::SceneProps;
use crate::state::Action;

/// Scene j.
pub fn join_scene(p: &SceneProps) -> Html {
    let Some(steps) = p.model.join.clone() else {
        return html! { <section class="scene" id="scene-j"><p class="error">{ p.model.error.clone().unwrap_or_default() }</p></section> };
    };
    let c = &p.model.cluster;
    let at = p.state.step.min(steps.len().saturating_sub(1));
    let step = |d: i32| {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| on.emit(Action::Step(d)))
    };
    let now = &steps[at];
    html! {
        <section class="scene" id="scene-j">
            <div class="explain">
                <p>{ format!("Kubernetes does not build the pod network itself. A new Node stays NotReady until a network plugin is installed; kube-controller-manager's node IPAM hands each Node the next free /{} of the cluster range {}, in the order the Nodes register (a fresh cluster starts at {}; a range it takes for an out-of-date copy of a Node and gives back is skipped, so a real cluster's second node now and then gets the third range; the other scenes use the seed's 10.244.1.0/24 and 10.244.2.0/24).",
                    c.node_prefix(), c.cidr(),
                    steps.iter().find_map(|s| match s.event { JoinEvent::RangeAssigned(r) => Some(r.to_string()), _ => None }).unwrap_or_default()) }</p>
                <p>{ "A kubelet on a Kubernetes lab (podnet lab up --kubernetes) shows the same: connect it in the Live lab scene to see when each moment happened on its API server." }</p>
            </div>
            <div class="join-controls">
                <button id="join-back" onclick={step(-1)} disabled={at == 0}>{ "◀ Back" }</button>
                <span id="join-position">{ format!("step {} of {}", at + 1, steps.len()) }</span>
                <button id="join-next" onclick={step(1)} disabled={at + 1 >= steps.len()}>{ "Next ▶" }</button>
            </div>
            <p id="join-now" aria-live="polite"><strong>{ format!("{}: ", now.event.actor()) }</strong>{ now.text() }</p>
            <div class="join-nodes">
                { for now.nodes.iter().map(|n| html! {
                    <div class={classes!("join-node", if n.ready { "ready" } else { "not-ready" })} data-node={n.name.clone()}>
                        <h3>{ n.name.clone() }</h3>
                        <p class="condition">{ if n.ready { "Ready" } else { "NotReady" } }</p>
                        <p class="message">{ n.message() }</p>
                        <p>{ format!("spec.podCIDR: {}", n.pod_cidr.map_or("(none yet)".to_string(), |r| r.to_string())) }</p>
                        <p>{ format!("/etc/cni/net.d: {}", if n.cni_config { "10-podnet.conflist" } else { "(empty)" }) }</p>
                    </div>
                }) }
            </div>
            <ol class="join-log">
                { for steps.iter().take(at + 1).enumerate().map(|(i, s)| html! {
                    <li class={classes!((i == at).then_some("current"))}>{ format!("{} — {}", s.event.actor(), s.text()) }</li>
                }) }
            </ol>
        </section>
    }
}

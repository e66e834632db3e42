//! g. Reaching a pod: SSH into its node, or a NodePort service from outside;
//! and the way out, a pod reaching the outside with its node's address.

use yew::prelude::*;

use super::{PacketView, SceneProps};
use crate::state::{Action, Outside};

/// What scene g's reply shows, in words.
fn reply_said(p: &SceneProps) -> Html {
    let said = match p.state.outside {
        _ if !p.state.reply || p.model.no_reply => return html! {},
        Outside::NodePort => "The reply: the pod answers the node that masqueraded the request, and node1's conntrack undoes both rewrites (the destination back to the laptop, the source back to the node's port), so the laptop sees the answer come from where it asked.",
        Outside::Egress => "The reply: the laptop answers node1's address, and node1's conntrack undoes the masquerade, handing it to pod-a.",
        _ => "The reply: from the pod straight back to the node, no NAT either way.",
    };
    html! { <p id="outside-reply-said">{ said }</p> }
}

/// Scene g.
pub fn outside_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    let svc = c.services().first();
    let text = match p.state.outside {
        Outside::ViaNode => "Inside the cluster every node can reach every pod. SSH into node1, then connect to pod-c's address:".to_string(),
        Outside::NodePort => svc.map_or_else(String::new, |s| format!(
            "Service {} is a NodePort Service: a ClusterIP Service ({} inside the cluster, scene b2) that also opens port {} on every node. kube-proxy rewrites the destination to a pod (DNAT) and, with externalTrafficPolicy Cluster, the source to the node (SNAT) so the reply comes back the same way:",
            s.name, s.cluster_ip, s.node_port().map_or(0, |(_, np)| np))),
        Outside::Direct => "The laptop is on the same LAN, but it has no route to the pod range: pod addresses are internal to the cluster.".to_string(),
        Outside::Egress => "The other way round: pod-a connects to the laptop. The laptop has no route back to pod addresses, so on the way out node1 rewrites the source to its own address (egress masquerade, as flannel's --ip-masq does). Traffic to pods and nodes keeps its source: the CNI requirements hold.".to_string(),
    };
    html! {
        <section class="scene" id="scene-g">
            <div class="explain">
                <div class="cases" role="group">
                    { for Outside::ALL.iter().map(|&o| {
                        let cb = p.on.clone();
                        html! {
                            <button id={format!("case-{o:?}").to_lowercase()} class={classes!((o == p.state.outside).then_some("on"))}
                                onclick={Callback::from(move |_: MouseEvent| cb.emit(Action::SetOutside(o)))}>{ o.label() }</button>
                        }
                    }) }
                </div>
                <p>{ text }</p>
                { reply_said(p) }
            </div>
            <PacketView ..p.clone() />
        </section>
    }
}

//! f2. When nodes are not on one LAN: host-gw has no on-link next hop, the
//! overlay (VXLAN) carries the pod's frame inside UDP between the nodes.

use podnet_core::topology::{vxlan, Backend};
use yew::prelude::*;

use super::{PacketView, SceneProps};
use crate::state::Action;

/// Scene f2.
pub fn overlay_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    let backend = p.state.backend;
    let node1 = c.node_named("node1");
    let plan = node1.and_then(|n| c.plan(n.id).ok());
    let pick = |b: Backend| {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| on.emit(Action::SetBackend(b)))
    };
    let lans: Vec<String> = c.lans().iter().map(|l| l.to_string()).collect();
    let why = match (&plan, backend) {
        (Some(plan), Backend::HostGw) => html! {
            <div id="overlay-why" class="why bad">
                <p>{ "host-gw needs a route on node1 for node2's range with node2 as the next hop. The kernel takes a next hop only if it is on a link of node1:" }</p>
                <ul>{ for plan.skipped.iter().map(|s| html! {
                    <li><code>{ format!("ip route add {} via {}", s.route.dst, s.route.via.map(|v| v.to_string()).unwrap_or_default()) }</code>
                        <br />{ s.reason.clone() }</li>
                }) }</ul>
                <p>{ "So node1 has no route to 10.244.2.0/24, and pod-a's packet is dropped at node1. node3 shares node1's LAN, and host-gw still reaches it." }</p>
            </div>
        },
        (Some(plan), _) => {
            let v = plan.vtep.as_ref();
            let peer = v.and_then(|v| v.peers.iter().find(|x| x.node == "node2"));
            html! {
                <div id="overlay-why" class="why ok">
                    <p>{ format!(
                        "Every node has a VXLAN device, {}: VNI {}, UDP port {} (flannel's numbers), its address {}, MTU {} — the LAN's {} less the {} bytes VXLAN adds. Pods get the same MTU.",
                        vxlan::DEVICE, vxlan::VNI, vxlan::PORT,
                        v.map(|v| v.address.to_string()).unwrap_or_default(),
                        v.map_or(0, |v| v.mtu), c.mtu, vxlan::OVERHEAD) }</p>
                    { match peer { Some(x) => html! {
                        <>
                            <p>{ "To reach node2's pods, node1's agent writes three entries:" }</p>
                            <pre id="vtep-entries">{ format!(
                                "ip route  {} via {} dev {} onlink\nip neigh  {} lladdr {} dev {}\nbridge fdb {} dev {} dst {}",
                                x.range, x.vtep_ip, vxlan::DEVICE,
                                x.vtep_ip, x.mac, vxlan::DEVICE,
                                x.mac, vxlan::DEVICE, x.underlay) }</pre>
                            <p>{ format!(
                                "The route sends the pod's frame to {}; the neighbour entry gives node2's VTEP MAC; the FDB entry says that MAC lives at {}, node2's LAN address. The frame goes inside UDP from 192.168.1.11 to {}, which the router forwards like any packet between the LANs. node2 unwraps it and delivers it to pod-c with pod-a's address: no NAT.",
                                vxlan::DEVICE, x.underlay, x.underlay) }</p>
                        </>
                    }, None => html! {} } }
                    { if backend == Backend::Auto { html! {
                        <p>{ "auto (flannel's DirectRouting): node3 is on node1's LAN, so it gets a plain host-gw route; only node2, behind the router, goes through the tunnel." }</p>
                    } } else { html! {} } }
                </div>
            }
        }
        (None, _) => html! {},
    };
    let tally = p.model.matrix.as_ref().map(|m| {
        let r = m.requirements();
        let ok = r.met();
        html! {
            <p id="overlay-tally" class={classes!("tally", if ok { "ok" } else { "bad" })}>{ format!(
                "CNI requirements with {backend}: pod↔pod {}/{}, node→pod {}/{}, pod→node {}/{} without NAT",
                r.pod_to_pod.ok, r.pod_to_pod.total, r.node_to_pod.ok, r.node_to_pod.total, r.pod_to_node.ok, r.pod_to_node.total) }</p>
        }
    });
    html! {
        <section class="scene" id="scene-f2">
            <div class="explain">
                <p>{ format!(
                    "The same pods, but node2 is on another LAN ({}) behind a router. Lab networks and VMs on two hosts often look like this. pod-a on node1 pings pod-c on node2.",
                    lans.join(" and ")) }</p>
                <div class="cases" role="group" aria-label="backend">
                    { for Backend::BACKENDS.iter().map(|&b| html! {
                        <button id={format!("backend-{}", b.key())} class={classes!("case", (b == backend).then_some("active"))}
                            aria-pressed={(b == backend).to_string()} onclick={pick(b)}>{ b.key() }</button>
                    }) }
                </div>
                { why }
                { tally.unwrap_or_default() }
                { if backend.has_vtep() { html! {
                    <p>{ "Open a hop on the underlay (marked VXLAN): the pod's frame is nested inside the outer headers. Outside are the node addresses, inside are the pod addresses. Export .pcap for Wireshark: it decodes VXLAN on UDP 4789 by default; if flannel's 8472 shows as plain UDP, use Decode As… → VXLAN." }</p>
                } } else { html! {} } }
            </div>
            <PacketView ..p.clone() />
            <section class="plugins" id="cni-plugins" aria-label="CNI plugins">
                <h3>{ "The CNI plugins of the seed, by how they carry pod traffic between nodes" }</h3>
                <ul>
                    <li><b>{ "Plain routes" }</b>{ ": flannel's host-gw backend (the routes of scene e). Calico with BGP: each node learns the other nodes' ranges over BGP and installs the same kind of route host-gw programs. Both need the nodes on one LAN, or a network that routes pod ranges." }</li>
                    <li><b>{ "An overlay" }</b>{ ": flannel's vxlan backend, this scene's layout (flannel.1, VNI 1, UDP 8472). Weave Net puts pod frames in VXLAN too (its fast datapath). Calico can also tunnel with VXLAN or IP-in-IP where BGP routes cannot reach." }</li>
                    <li><b>{ "eBPF" }</b>{ ": Cilium attaches eBPF programs to each pod's veth and to the node's devices. They forward and load-balance in place of bridge and iptables, over routes or a VXLAN/Geneve tunnel. podnet models routes and VXLAN, not eBPF." }</li>
                </ul>
            </section>
        </section>
    }
}

//! Each hop in plain words, for a reader with no networking background:
//! one sentence computed from the step the engine recorded (what
//! [`super::describe`] says in the kernel's words). The terms it uses
//! (veth, bridge, FDB, ARP, MAC, route, on-link, DNAT, SNAT, conntrack,
//! VXLAN, VTEP, MTU, socket) are the ones [`GLOSSARY`] explains.

use super::trace::{Hop, Place, Step};
use crate::route::Route;
use crate::topology::{Cluster, Endpoint};

/// The hop in one or two plain sentences.
pub fn plain(hop: &Hop, c: &Cluster) -> String {
    let here = hop.place.label(c);
    // Inside VXLAN a route decides by the outer addresses, the nodes'.
    let f = hop.outer.map_or(hop.frame, |e| e.outer);
    match &hop.step {
        Step::Send { route } => format!(
            "{here} sends a packet from {} to {}. {}",
            f.src,
            f.dst,
            by_route(route)
        ),
        Step::Forward { route } => format!(
            "The packet is for {}, not for this machine, so {} forwards it. {}",
            f.dst,
            match hop.place {
                Place::Router => "the router",
                _ => "the node, acting as a router,",
            },
            by_route(route)
        ),
        // On an overlay nothing is asked: the CNI plugin's agent wrote the
        // peer VTEP's MAC into the neighbour table beforehand.
        Step::Arp { ip, mac, .. } if matches!(hop.place, Place::Vtep(_)) => format!(
            "The next hop {ip} is the other node's VXLAN device: its MAC {mac} is already in the neighbour table, written there by the CNI plugin's agent (no ARP across an overlay)."
        ),
        Step::Arp { ip, mac, dev } => format!(
            "To wrap the packet in an Ethernet frame it needs the MAC (hardware) address of {ip}: it asks on {dev} with ARP (\"who has {ip}?\") and learns {mac}."
        ),
        Step::CrossVeth => "The frame goes through a veth pair: a virtual cable whose two ends are in two network namespaces, the pod's and the node's.".into(),
        Step::Transmit { .. } => format!("The frame leaves through {here}, onto its wire."),
        Step::Receive { .. } => format!("The frame arrives on {here}."),
        Step::BridgeUp => format!(
            "{here}, a virtual switch, sees the frame is addressed to its own MAC: it is for the node itself, so the bridge hands it up to the node's routing."
        ),
        Step::BridgeForward { port } => format!(
            "{here}, a virtual switch, looks the destination MAC up in its forwarding table (FDB) and sends the frame out of port {port}, the cable to that pod."
        ),
        Step::Switch { to } => format!(
            "The LAN's switch delivers the frame to {}, whose MAC it is addressed to.",
            c.name_of(*to)
        ),
        Step::SwitchToRouter => "The LAN's switch delivers the frame to the router, the way to the other LAN.".into(),
        Step::Encap { vni, remote } => format!(
            "The VXLAN device (the VTEP) puts the whole frame inside a UDP packet to {remote}, the other node's address on the underlay network (VXLAN network {vni}): the network in between only sees the two nodes' addresses."
        ),
        Step::Decap { .. } => "The node's VXLAN device unwraps the UDP packet: the pod's original frame comes out, as if it had arrived on a local cable.".into(),
        Step::Fragment { mtu, count } => format!(
            "The packet is bigger than the {mtu} bytes the way out can carry (its MTU) and may be split, so the kernel cuts it into {count} fragments."
        ),
        Step::Dnat { service, from, to } => format!(
            "kube-proxy's rule (DNAT) rewrites the destination {from}, Service {}, to {to}, one of the pods behind it; conntrack remembers, to undo it on the reply.",
            c.service(*service).map_or("?", |s| s.name.as_str())
        ),
        Step::HostPortDnat { pod, from, to } => format!(
            "A hostPort rule (DNAT) rewrites the destination {from}, a port of the node, to {to}, the pod {} listening behind it.",
            c.name_of(Endpoint::Pod(*pod))
        ),
        Step::Snat { from, to } => format!(
            "Masquerade (SNAT) rewrites the source {from} to {to}, this node's own address, so that the answer comes back here; conntrack remembers, to undo it."
        ),
        Step::UnSnat { from, to } => format!(
            "conntrack knows this packet: it answers a connection this node masqueraded. The destination goes back from {from} to {to}, who really sent the request."
        ),
        Step::UnDnat { from, to } => format!(
            "conntrack knows this packet: it answers a connection whose destination was rewritten. The source goes back from {from} to {to}, the address the client asked."
        ),
        Step::Deliver => "The packet is addressed to this machine: its kernel hands it to the program listening for it (its socket).".into(),
        Step::Drop(reason) => match hop.place {
            Place::Lan(_) | Place::Router => format!("The packet is lost here: {reason}."),
            _ => format!("{here} drops the packet: {reason}."),
        },
    }
}

/// Which way a route sends the packet, in words.
fn by_route(r: &Route) -> String {
    let table = if r.dst.prefix() == 0 {
        "No more specific route matches, so the default route".to_string()
    } else {
        format!(
            "The routing table's closest match is {}, and that route",
            r.dst
        )
    };
    match r.via {
        Some(via) if r.onlink => format!(
            "{table} says: to the gateway {via}, out of {}, taken as on that link (on-link) though no address there covers it.",
            r.dev
        ),
        Some(via) => format!("{table} says: hand it to the gateway {via}, out of {}.", r.dev),
        None => format!(
            "{table} says: the destination is on the link of {} itself (on-link), so send it there directly.",
            r.dev
        ),
    }
}

/// The terms a hop's plain words use, each explained in a sentence:
/// (term, anchor key, explanation).
pub const GLOSSARY: [(&str, &str, &str); 16] = [
    ("network namespace", "netns", "A copy of the kernel's network stack (its own interfaces, addresses, routes and firewall). Each pod has one; its containers share it, and so its address."),
    ("veth", "veth", "A virtual Ethernet cable: a pair of interfaces, what goes in one end comes out of the other. One end is the pod's eth0, the other is plugged into the node's bridge."),
    ("bridge", "bridge", "A virtual switch inside a node (cni0): every pod's veth is plugged into it, and it has an address of its own, the pods' gateway."),
    ("MAC", "mac", "A network card's hardware address (like 0a:58:0a:f4:00:02). Ethernet frames are addressed by MAC; IP packets ride inside them, addressed by IP."),
    ("FDB", "fdb", "A switch's forwarding table: which port leads to which MAC, learned from the frames it has seen."),
    ("ARP", "arp", "How a machine finds the MAC behind an IP address on its link: it asks everyone \"who has 10.244.0.1?\" and the owner answers."),
    ("route", "route", "A line of a routing table: for addresses in this range, send to this gateway (or straight on this link) out of this interface. The most specific match wins."),
    ("on-link", "onlink", "A destination (or gateway) reachable directly on an interface's wire, without a router in between."),
    ("TTL", "ttl", "A counter in every IP packet, lowered by one at each router; at zero the packet is dropped, so a loop cannot carry it forever."),
    ("MTU", "mtu", "The largest packet an interface carries in one piece: 1500 bytes on most Ethernet, 50 fewer inside VXLAN."),
    ("DNAT", "dnat", "Destination NAT: the firewall rewrites where a packet goes, as kube-proxy does from a Service's address to one of its pods."),
    ("SNAT", "snat", "Source NAT, or masquerade: the firewall rewrites where a packet seems to come from, usually to the node's own address, so the answer comes back through it."),
    ("conntrack", "conntrack", "The kernel's table of connections: it knows a reply as one, undoes on it the NAT done on the request, and lets it pass a firewall that admitted the request."),
    ("VXLAN", "vxlan", "An overlay: a node wraps the pod's whole frame in a UDP packet to the other node, so the network in between only sees node addresses."),
    ("VTEP", "vtep", "The VXLAN device on a node (flannel.1): where frames are wrapped and unwrapped."),
    ("socket", "socket", "A program's end of a connection: the kernel hands it the packets addressed to its address and port."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::scenario;

    #[test]
    fn every_hop_of_the_cross_node_packet_has_a_sentence_naming_what_happened() {
        let c = scenario::demo();
        let t = crate::forward::ping(&c, "pod-a", "pod-d");
        let words: Vec<String> = t.hops.iter().map(|h| plain(h, &c)).collect();
        assert!(
            words.iter().all(|w| w.ends_with('.') && w.len() > 30),
            "{words:#?}"
        );
        let all = words.join("\n");
        for term in ["veth", "bridge", "FDB", "gateway", "forwards it", "socket"] {
            assert!(all.contains(term), "{term}: {all}");
        }
        assert!(
            all.contains(&format!(
                "sends a packet from {} to {}",
                c.pod_named("pod-a").unwrap().ip,
                c.pod_named("pod-d").unwrap().ip
            )),
            "{all}"
        );
    }

    #[test]
    fn inside_vxlan_the_sentences_speak_of_the_nodes_and_the_router() {
        let c = scenario::routed(crate::topology::Backend::Vxlan);
        let t = crate::forward::ping(&c, "pod-a", "pod-c");
        let words: Vec<String> = t.hops.iter().map(|h| plain(h, &c)).collect();
        let all = words.join("\n");
        // node1 sends the wrapped packet to node2's address, and the router
        // forwards it by the node addresses, not the pods'.
        assert!(
            all.contains("sends a packet from 192.168.1.11 to 192.168.2.12"),
            "{all}"
        );
        assert!(
            all.contains(
                "The packet is for 192.168.2.12, not for this machine, so the router forwards it"
            ),
            "{all}"
        );
        assert!(all.contains("no ARP across an overlay"), "{all}");
    }

    #[test]
    fn the_glossary_explains_every_term_once() {
        let mut keys: Vec<&str> = GLOSSARY.iter().map(|g| g.1).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), GLOSSARY.len());
        assert!(GLOSSARY.iter().all(|g| g.2.ends_with('.')));
    }
}

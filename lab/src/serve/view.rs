//! The lab as its kernels see it: links, addresses and routes read back
//! through netlink, and which device of which namespace is which tap.
//!
//! Nothing here comes from the plan: the cluster the page draws is rebuilt
//! from what the kernels report (eth0's address, cni0's range, each pod's
//! eth0 address), so a node whose agent never ran looks like one.

use std::collections::HashMap;

use podnet_core::forward::capture::Tap;
use podnet_core::lab_api::{LabView, LinkView, NsView, Role, RouteView};
use podnet_core::topology::spec::ClientSpec;
use podnet_core::topology::{Cluster, Endpoint};

use podnet_kernel::{Netlink, Netns};

use crate::{LabError, LabState};

/// The control plane's name in the page's cluster.
pub const CONTROL_PLANE: &str = "control-plane";

/// One namespace's links (each with its addresses) and routes, as the page takes them.
fn read_ns(netns: &str) -> Result<(Vec<LinkView>, Vec<RouteView>), LabError> {
    let nl = Netlink::open(&Netns::open(&crate::ns_path(netns))?)?;
    let mut links = Vec::new();
    for l in nl.links()? {
        links.push(LinkView {
            addrs: nl.addresses(l.index)?,
            mac: l.mac_text(),
            index: l.index,
            name: l.name,
            kind: l.kind,
            controller: l.controller,
            peer: l.peer,
            up: l.up,
            mtu: l.mtu,
            gso_max: l.gso_ipv4_max,
        });
    }
    let routes = nl
        .routes()?
        .into_iter()
        .map(|r| RouteView {
            dst: r.dst.to_string(),
            via: r.via,
            proto: r.proto,
        })
        .collect();
    Ok((links, routes))
}

fn addr_of(links: &[LinkView], name: &str) -> Option<ipnetwork::Ipv4Network> {
    links
        .iter()
        .find(|l| l.name == name)
        .and_then(|l| l.addrs.first().copied())
}

/// Reads every namespace of the lab.
pub fn read(state: &LabState) -> Result<LabView, LabError> {
    let mut spec = state.spec.clone();
    let mut namespaces = Vec::new();
    let mut add = |netns: String, role, name: String| -> Result<Vec<LinkView>, LabError> {
        let (links, routes) = read_ns(&netns)?;
        namespaces.push(NsView {
            netns,
            role,
            name,
            links: links.clone(),
            routes,
        });
        Ok(links)
    };
    // The LANs: NAME-lan, and behind the router NAME-lan2, NAME-lan3, …
    add(format!("{}-lan", state.name), Role::Lan, "lan".into())?;
    for k in 2..=state.spec.lans.len() + 1 {
        add(
            format!("{}-lan{k}", state.name),
            Role::Lan,
            format!("lan{k}"),
        )?;
    }
    for n in &state.nodes {
        let links = add(n.netns.clone(), Role::Node, n.name.clone())?;
        if let Some(s) = spec.nodes.iter_mut().find(|s| s.name == n.name) {
            s.ip = addr_of(&links, "eth0").map(|a| a.ip());
            s.pod_cidr = addr_of(&links, "cni0").map(|a| {
                ipnetwork::Ipv4Network::new(a.network(), a.prefix())
                    .map_or_else(|_| a.to_string(), |n| n.to_string())
            });
        }
    }
    for p in &state.pods {
        let links = add(p.netns.clone(), Role::Pod, p.name.clone())?;
        if let Some(s) = spec.pods.iter_mut().find(|s| s.name == p.name) {
            s.ip = addr_of(&links, "eth0").map(|a| a.ip());
        }
    }
    add(state.client_netns(), Role::Client, "client".into())?;
    // The control plane is a machine on the LAN outside the cluster: in the
    // model too, so the kubelets' and agents' packets to the API server
    // are followed to it rather than lost at the node.
    if let Some(cp) = &state.control_plane {
        add(cp.netns.clone(), Role::Client, CONTROL_PLANE.into())?;
        spec.clients.push(ClientSpec {
            name: CONTROL_PLANE.into(),
            ip: Some(cp.ip),
        });
    }
    Ok(LabView {
        name: state.name.clone(),
        spec,
        namespaces,
        joins: state.joins.clone(),
    })
}

/// Which interface index of which namespace is which tap.
pub fn taps(view: &LabView, cluster: &Cluster) -> Vec<(String, HashMap<usize, Tap>)> {
    let peers = host_veths(view, cluster);
    view.namespaces
        .iter()
        .map(|ns| {
            let map = ns
                .links
                .iter()
                .filter_map(|l| Some((l.index as usize, tap_of(ns, l, cluster, &peers)?)))
                .collect();
            (ns.netns.clone(), map)
        })
        .collect()
}

/// Each pod's host veth, by (node, interface index): a pod's eth0 names its
/// veth peer's index on the node (IFLA_LINK).
fn host_veths(view: &LabView, cluster: &Cluster) -> HashMap<(String, u32), Tap> {
    let mut peers = HashMap::new();
    for ns in view.namespaces.iter().filter(|n| n.role == Role::Pod) {
        let (Some(pod), Some(eth0)) = (
            cluster.pod_named(&ns.name),
            ns.links.iter().find(|l| l.name == "eth0"),
        ) else {
            continue;
        };
        let node = cluster.node(pod.node).map(|n| n.name.clone());
        if let (Some(node), Some(peer)) = (node, eth0.peer) {
            peers.insert((node, peer), Tap::HostVeth(pod.id));
        }
    }
    peers
}

/// Which tap a link of a namespace is, if any.
fn tap_of(
    ns: &NsView,
    l: &LinkView,
    cluster: &Cluster,
    peers: &HashMap<(String, u32), Tap>,
) -> Option<Tap> {
    match ns.role {
        Role::Pod => cluster
            .pod_named(&ns.name)
            .filter(|_| l.name == "eth0")
            .map(|p| Tap::PodEth(p.id)),
        Role::Client => cluster
            .client_named(&ns.name)
            .filter(|_| l.name == "eth0")
            .map(|c| Tap::ClientEth(c.id)),
        Role::Node => {
            let node = cluster.node_named(&ns.name);
            match l.name.as_str() {
                "eth0" => node.map(|n| Tap::Uplink(n.id)),
                "cni0" => node.map(|n| Tap::Bridge(n.id)),
                _ => peers.get(&(ns.name.clone(), l.index)).copied(),
            }
        }
        // The lab names LAN ports `nK` for nodeK, `c0` for the client,
        // `cp` for the control plane and `rK` for the router's port on LAN K.
        Role::Lan => match l.name.strip_prefix('n') {
            _ if l.kind == "veth" && l.name.starts_with('r') => {
                l.name[1..].parse::<u8>().ok().map(Tap::RouterPort)
            }
            Some(k) if l.kind == "veth" => cluster
                .node_named(&format!("node{k}"))
                .map(|n| Tap::LanPort(Endpoint::Node(n.id))),
            _ if l.name == "c0" => cluster
                .clients()
                .first()
                .map(|c| Tap::LanPort(Endpoint::Client(c.id))),
            _ if l.name == "cp" => cluster
                .client_named(CONTROL_PLANE)
                .map(|c| Tap::LanPort(Endpoint::Client(c.id))),
            _ => None,
        },
    }
}

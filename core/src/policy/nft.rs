//! NetworkPolicy as one node's nftables ruleset, in podnet's own table
//! `inet podnet_policy`: what podnet-agent loads, and what the explainer
//! can show beside a verdict.
//!
//! The forward hook (after nat's DNAT, so it sees pod addresses) accepts
//! established and related packets first (replies of allowed connections),
//! then looks the source up in a verdict map of this node's pods isolated
//! for egress and the destination in one of those isolated for ingress:
//! one lookup each, however many pods and policies. Each isolated pod has
//! a chain with one line per rule (and port) of the policies isolating
//! it, which returns on a match; its last line drops. A node's own packets
//! never pass the forward hook: a pod's own node always reaches it.
//!
//! A rule whose peers select no pod (yet) matches nothing and is left out;
//! a named port a pod does not declare likewise (Kubernetes: the rule
//! allows nothing there). The agent replaces the whole table in one `nft
//! -f` transaction, so no packet ever sees half a ruleset.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::spec::{IpBlock, NetworkPolicy, Peer, PolicyPort, PolicyProtocol, PortRef};
use super::verdict::{Direction, Party, PolicySet};

/// podnet's policy table (family `inet`).
pub const TABLE: &str = "podnet_policy";

/// The ruleset for node `node` (by name), whose pods' addresses come
/// from `pod_range`, or `None` when the cluster has no policy at all.
///
/// A pod the policies do not know yet (it started a moment ago, and its
/// address reaches the agent through the API after the pod already runs)
/// could slip through before its rules exist. So while any policy exists,
/// an address of `pod_range` that is not a known pod of this node is
/// dropped both ways until the agent has seen the pod: a new pod waits a
/// moment for its first packets rather than passing unchecked.
pub fn render(set: &PolicySet, node: &str, pod_range: Option<Ipv4Network>) -> Option<String> {
    if set.policies().is_empty() {
        return None;
    }
    let mut chains = String::new();
    let mut maps = [Vec::new(), Vec::new()];
    let mut known = Vec::new();
    for (i, pod) in set.pods().iter().enumerate() {
        if pod.node != node {
            continue;
        }
        known.push(pod.ip.to_string());
        for (d, direction) in [Direction::Egress, Direction::Ingress]
            .into_iter()
            .enumerate()
        {
            let isolating = set.isolating(i, direction);
            if isolating.is_empty() {
                continue;
            }
            let chain = format!("{}_{i}", key(direction));
            maps[d].push(format!("{} : jump {chain}", pod.ip));
            let names: Vec<String> = isolating
                .iter()
                .map(|&k| set.policies()[k].full_name())
                .collect();
            let _ = writeln!(chains, "  chain {chain} {{");
            let _ = writeln!(
                chains,
                "    # {} {}, isolated by {}",
                pod.full_name(),
                key(direction),
                names.join(", ")
            );
            for &k in isolating {
                for line in rule_lines(set, k, i, direction) {
                    let _ = writeln!(chains, "    {line}");
                }
            }
            let _ = writeln!(chains, "    drop\n  }}");
        }
    }
    let mut out = format!("table inet {TABLE} {{\n{chains}");
    let elements = if known.is_empty() {
        String::new()
    } else {
        format!("; elements = {{ {} }}", known.join(", "))
    };
    let _ = writeln!(out, "  set known {{\n    type ipv4_addr{elements}\n  }}");
    for (d, name) in ["egress", "ingress"].iter().enumerate() {
        let elements = if maps[d].is_empty() {
            String::new()
        } else {
            format!("; elements = {{ {} }}", maps[d].join(", "))
        };
        let _ = writeln!(
            out,
            "  map {name} {{\n    type ipv4_addr : verdict{elements}\n  }}"
        );
    }
    let guard = pod_range.map_or_else(String::new, |r| {
        // The bridge's own address (the range's first) is the node's, not a pod's.
        let net = format!("{}/{}", r.network(), r.prefix());
        let bridge = Ipv4Addr::from(u32::from(r.network()) + 1);
        format!(
            "    ip saddr {net} ip saddr != {bridge} ip saddr != @known drop comment \"a pod not known yet\"\n    ip daddr {net} ip daddr != {bridge} ip daddr != @known drop comment \"a pod not known yet\"\n"
        )
    });
    let _ = write!(
        out,
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    ct state established,related accept\n{guard}    ip saddr vmap @egress\n    ip daddr vmap @ingress\n  }}\n}}\n"
    );
    Some(out)
}

fn key(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "egress",
        Direction::Ingress => "ingress",
    }
}

/// The lines of policy `k` for pod `pod` in `direction`: each rule's peers
/// (as addresses) with each of its ports, returning on a match.
fn rule_lines(set: &PolicySet, k: usize, pod: usize, direction: Direction) -> Vec<String> {
    let pol = &set.policies()[k];
    let rules: Vec<(&[Peer], &[PolicyPort])> = match direction {
        Direction::Ingress => pol
            .spec
            .ingress
            .iter()
            .map(|r| (&r.from[..], &r.ports[..]))
            .collect(),
        Direction::Egress => pol
            .spec
            .egress
            .iter()
            .map(|r| (&r.to[..], &r.ports[..]))
            .collect(),
    };
    let other = match direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let mut lines = Vec::new();
    for (r, (peers, ports)) in rules.into_iter().enumerate() {
        let comment = format!(
            "comment \"{} {} rule {}\"",
            pol.full_name(),
            key(direction),
            r + 1
        );
        let addrs = if peers.is_empty() {
            None
        } else {
            let nets = merged(peers.iter().flat_map(|p| addresses(set, pol, p)).collect());
            if nets.is_empty() {
                continue;
            }
            Some(nets)
        };
        let peer_match = addrs.as_ref().map_or_else(String::new, |nets| {
            let list: Vec<String> = nets.iter().map(net_text).collect();
            format!("ip {other} {{ {} }} ", list.join(", "))
        });
        if ports.is_empty() {
            lines.push(format!("{peer_match}return {comment}"));
            continue;
        }
        for p in ports {
            let proto = proto_name(p.protocol);
            match &p.port {
                None => lines.push(format!("{peer_match}meta l4proto {proto} return {comment}")),
                Some(PortRef::Number(n)) => lines.push(format!(
                    "{peer_match}meta l4proto {proto} th dport {n} return {comment}"
                )),
                Some(PortRef::Name(name)) => match direction {
                    // The receiving pod is this one: its own port of that name.
                    Direction::Ingress => {
                        if let Some(n) = named(set, pod, name, p.protocol) {
                            lines.push(format!(
                                "{peer_match}meta l4proto {proto} th dport {n} return {comment}"
                            ));
                        }
                    }
                    // Each destination pod's own port of that name.
                    Direction::Egress => {
                        let pairs: Vec<String> = (0..set.pods().len())
                            .filter(|&j| {
                                peers.is_empty()
                                    || peers.iter().any(|peer| set_peer_matches(set, pol, peer, j))
                            })
                            .filter_map(|j| {
                                named(set, j, name, p.protocol)
                                    .map(|n| format!("{} . {n}", set.pods()[j].ip))
                            })
                            .collect();
                        if !pairs.is_empty() {
                            lines.push(format!(
                                "meta l4proto {proto} ip daddr . th dport {{ {} }} return {comment}",
                                pairs.join(", ")
                            ));
                        }
                    }
                },
            }
        }
    }
    lines
}

fn proto_name(p: PolicyProtocol) -> &'static str {
    match p {
        PolicyProtocol::Tcp => "tcp",
        PolicyProtocol::Udp => "udp",
        PolicyProtocol::Sctp => "sctp",
    }
}

fn named(set: &PolicySet, pod: usize, name: &str, protocol: PolicyProtocol) -> Option<u16> {
    set.pods()[pod]
        .ports
        .iter()
        .find(|c| c.name == name && c.protocol == protocol)
        .map(|c| c.port)
}

fn set_peer_matches(set: &PolicySet, pol: &NetworkPolicy, peer: &Peer, pod: usize) -> bool {
    peer.ip_block.is_none() && set.peer_matches(pol, peer, Party::Pod(pod))
}

/// A peer's addresses: its ipBlock less the exceptions, or every pod it selects.
fn addresses(set: &PolicySet, pol: &NetworkPolicy, peer: &Peer) -> Vec<Ipv4Network> {
    match &peer.ip_block {
        Some(b) => block_nets(b),
        None => (0..set.pods().len())
            .filter(|&j| set.peer_matches(pol, peer, Party::Pod(j)))
            .map(|j| Ipv4Network::new(set.pods()[j].ip, 32).expect("a /32"))
            .collect(),
    }
}

/// `cidr` minus every exception, as CIDRs (split in halves around each one).
fn block_nets(b: &IpBlock) -> Vec<Ipv4Network> {
    let mut nets = vec![b.cidr];
    for e in &b.except {
        nets = nets.into_iter().flat_map(|n| without(n, *e)).collect();
    }
    nets
}

fn without(n: Ipv4Network, e: Ipv4Network) -> Vec<Ipv4Network> {
    if !n.contains(e.network()) && !e.contains(n.network()) {
        return vec![n];
    }
    if e.prefix() <= n.prefix() {
        return Vec::new();
    }
    let half = n.prefix() + 1;
    let low = Ipv4Network::new(n.network(), half).expect("a longer prefix");
    let high_start = u32::from(n.network()) | (1u32 << (32 - u32::from(half)));
    let high = Ipv4Network::new(Ipv4Addr::from(high_start), half).expect("a longer prefix");
    [low, high]
        .into_iter()
        .flat_map(|h| without(h, e))
        .collect()
}

/// Sorted, with every network inside another one left out (nft refuses
/// overlapping intervals in one set).
fn merged(mut nets: Vec<Ipv4Network>) -> Vec<Ipv4Network> {
    nets.sort_by_key(|n| (u32::from(n.network()), n.prefix()));
    let mut out: Vec<Ipv4Network> = Vec::new();
    for n in nets {
        if !out
            .iter()
            .any(|o| o.contains(n.network()) && o.prefix() <= n.prefix())
        {
            out.push(n);
        }
    }
    out
}

fn net_text(n: &Ipv4Network) -> String {
    if n.prefix() == 32 {
        n.ip().to_string()
    } else {
        format!("{}/{}", n.network(), n.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_block_less_its_exceptions_is_the_cidrs_between_them() {
        let b = IpBlock {
            cidr: "10.0.0.0/24".parse().unwrap(),
            except: vec![
                "10.0.0.128/25".parse().unwrap(),
                "10.0.0.4/32".parse().unwrap(),
            ],
        };
        let nets: Vec<String> = block_nets(&b).iter().map(net_text).collect();
        assert_eq!(
            nets,
            [
                "10.0.0.0/30",
                "10.0.0.5",
                "10.0.0.6/31",
                "10.0.0.8/29",
                "10.0.0.16/28",
                "10.0.0.32/27",
                "10.0.0.64/26"
            ]
        );
        let all: u32 = block_nets(&b)
            .iter()
            .map(|n| 1u32 << (32 - u32::from(n.prefix())))
            .sum();
        assert_eq!(all, 256 - 128 - 1);
    }

    #[test]
    fn contained_networks_merge_away() {
        let nets = merged(vec![
            "10.244.2.3/32".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
            "192.168.1.0/24".parse().unwrap(),
            "10.244.2.3/32".parse().unwrap(),
        ]);
        assert_eq!(
            nets.iter().map(net_text).collect::<Vec<_>>(),
            ["10.244.0.0/16", "192.168.1.0/24"]
        );
    }
}

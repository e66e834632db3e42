//! `hostPort`s as the reference `portmap` CNI plugin makes them (the
//! containernetworking-plugins 1.1 iptables rules, `snat` on), chained
//! after podnet-cni: a Pod's container port reached on its node's own
//! addresses.
//!
//! On a node where a pod has a hostPort, nat holds:
//! - `PREROUTING`, `OUTPUT`: `-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
//!   appended (after kube-proxy's jump to `KUBE-SERVICES`);
//! - `POSTROUTING`: a jump to `CNI-HOSTPORT-MASQ`, inserted first;
//! - `CNI-HOSTPORT-DNAT`: per pod and protocol, its ports (`multiport`) to
//!   the pod's own chain `CNI-DN-…`, named after a SHA-512 of the network
//!   name and the pod's sandbox id;
//! - `CNI-DN-…`: per port, the mark for a source in the pod's subnet
//!   (hairpin) or 127.0.0.1, then the DNAT to the pod;
//! - `CNI-HOSTPORT-SETMARK` sets [`HOSTPORT_MARK`], which
//!   `CNI-HOSTPORT-MASQ` masquerades.

use ipnetwork::Ipv4Network;
use sha2::{Digest, Sha512};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::rules::{Match, Rule, Side, Table, Target, HOSTPORT_MARK};
use crate::plan::CNI_NETWORK;
use crate::topology::{Cluster, Node, Pod, Protocol};

/// The chain `PREROUTING` and `OUTPUT` jump to for the node's own addresses.
pub const DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
/// The chain that sets the masquerade mark.
pub const SETMARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
/// The chain `POSTROUTING` jumps to: masquerade what is marked.
pub const MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";

/// iptables' longest chain name (`XT_EXTENSION_MAXNAMELEN` - 1).
const MAX_CHAIN: usize = 28;

/// A pod's own chain: `CNI-DN-` and the start of the SHA-512 of the
/// network's name followed by the sandbox id, hex, up to iptables' limit.
pub fn pod_chain(sandbox: &str) -> String {
    let prefix = "CNI-DN-";
    let digest = Sha512::digest(format!("{CNI_NETWORK}{sandbox}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..MAX_CHAIN - prefix.len()])
}

/// The hostPorts of a pod: `(protocol, hostPort, containerPort)`.
fn mappings(pod: &Pod) -> Vec<(Protocol, u16, u16)> {
    pod.ports
        .iter()
        .filter_map(|p| p.host_port.map(|h| (p.protocol, h, p.port)))
        .collect()
}

/// The pod that has `port`/`protocol` as a hostPort on `node`, and its
/// container port there.
pub fn pod_at<'c>(
    cluster: &'c Cluster,
    node: &Node,
    protocol: Protocol,
    port: u16,
) -> Option<(&'c Pod, SocketAddrV4)> {
    cluster
        .pods()
        .iter()
        .filter(|p| p.node == node.id)
        .find_map(|p| {
            mappings(p)
                .into_iter()
                .find(|&(proto, h, _)| proto == protocol && h == port)
                .map(|(_, _, c)| (p, SocketAddrV4::new(p.ip, c)))
        })
}

fn to_chain(chain: &str) -> Rule {
    Rule::to(Target::Jump(chain.into()))
}

/// portmap's nat rules on `node` (an empty table when no pod there has a hostPort).
pub fn render(cluster: &Cluster, node: &Node) -> Table {
    let mut t = Table::new("nat");
    let pods: Vec<&Pod> = cluster
        .pods()
        .iter()
        .filter(|p| p.node == node.id && !mappings(p).is_empty())
        .collect();
    if pods.is_empty() {
        return t;
    }
    for hook in ["PREROUTING", "OUTPUT"] {
        let mut r = to_chain(DNAT_CHAIN);
        r.matches.push(Match::Local {
            side: Side::Dst,
            not: false,
        });
        t.append(hook, r);
    }
    let mut masq = to_chain(MASQ_CHAIN);
    masq.matches
        .push(Match::Comment("CNI portfwd requiring masquerade".into()));
    t.append("POSTROUTING", masq);
    let mut mark = Rule::to(Target::OrMark(HOSTPORT_MARK));
    mark.matches
        .push(Match::Comment("CNI portfwd masquerade mark".into()));
    t.append(SETMARK_CHAIN, mark);
    let mut masquerade = Rule::to(Target::PlainMasquerade);
    masquerade.matches.push(Match::Mark {
        not: false,
        value: HOSTPORT_MARK,
    });
    t.append(MASQ_CHAIN, masquerade);
    let subnet = Ipv4Network::new(node.pod_range.network(), node.pod_range.prefix())
        .unwrap_or(node.pod_range);
    let localhost = Ipv4Network::new(Ipv4Addr::LOCALHOST, 32).expect("/32");
    for pod in pods {
        let chain = pod_chain(&pod.container_id);
        let all = mappings(pod);
        for proto in [Protocol::Tcp, Protocol::Udp] {
            let ports: Vec<u16> = all.iter().filter(|m| m.0 == proto).map(|m| m.1).collect();
            if ports.is_empty() {
                continue;
            }
            let mut jump = to_chain(&chain);
            jump.protocol = Some(proto);
            jump.matches.push(Match::Comment(format!(
                "dnat name: \"{CNI_NETWORK}\" id: \"{}\"",
                pod.container_id
            )));
            jump.matches.push(Match::Multiport(ports));
            t.append(DNAT_CHAIN, jump);
        }
        for &(proto, host, container) in &all {
            let port = Match::Port {
                protocol: proto,
                dport: Some(host),
            };
            for src in [subnet, localhost] {
                let mut r = to_chain(SETMARK_CHAIN);
                r.src = Some((false, src));
                r.protocol = Some(proto);
                r.matches.push(port.clone());
                t.append(&chain, r);
            }
            let mut dnat = Rule::to(Target::Dnat(SocketAddrV4::new(pod.ip, container)));
            dnat.protocol = Some(proto);
            dnat.matches.push(port);
            t.append(&chain, dnat);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taken from `iptables-save -t nat` on a Kubernetes lab's node2 (the
    /// Pod `hostport`, UDP hostPort 7947 to 7946, sandbox 2087eb…).
    const REAL: &str = r#"-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-DN-b6e72430402d21e187b41 -s 10.244.1.0/24 -p udp -m udp --dport 7947 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-b6e72430402d21e187b41 -s 127.0.0.1/32 -p udp -m udp --dport 7947 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-b6e72430402d21e187b41 -p udp -m udp --dport 7947 -j DNAT --to-destination 10.244.1.4:7946
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \"podnet\" id: \"2087ebf235d590e965acd3c16e808edd912f94a3182ac6fb1275e36c14ed982f\"" -m multiport --dports 7947 -j CNI-DN-b6e72430402d21e187b41
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000"#;

    #[test]
    fn the_rules_are_portmaps_line_for_line() {
        let spec: crate::topology::spec::ClusterSpec = serde_json::from_str(
            r#"{"nodes": [{"name": "node2", "ip": "192.168.1.12", "podCidr": "10.244.1.0/24"}],
                "pods": [{"name": "hostport", "node": "node2", "ip": "10.244.1.4",
                          "ports": [{"protocol": "UDP", "containerPort": 7946, "hostPort": 7947}],
                          "sandbox": "2087ebf235d590e965acd3c16e808edd912f94a3182ac6fb1275e36c14ed982f"}]}"#,
        )
        .unwrap();
        let c = spec.build().unwrap();
        let t = render(&c, &c.nodes()[0]);
        let want: Vec<&str> = REAL.lines().collect();
        assert_eq!(t.rule_lines(), want);
    }

    #[test]
    fn no_host_port_no_rules() {
        let c = crate::topology::scenario::service();
        assert!(c.nodes().iter().all(|n| render(&c, n).chains().is_empty()));
    }
}

//! NodePort DNAT and masquerade as an nftables ruleset in podnet's own table.
//!
//! [`render`] turns the plan's [`NatRule`]s into the text of `table ip podnet`:
//! kube-proxy's behaviour, DNAT of node-port traffic to an endpoint (marked
//! for masquerade under policy Cluster) in prerouting and output, and the
//! masquerade in postrouting. [`apply`] replaces that one table atomically
//! with `nft -f` (one transaction, as kube-proxy uses iptables-restore); no
//! other table is ever read or changed.

use std::io::Write;
use std::process::{Command, Stdio};

use podnet_core::plan::{NatRule, Plan};

/// The packet mark that asks postrouting to masquerade (kube-proxy's 0x4000).
pub const MASQ_MARK: u32 = 0x4000;

/// The ruleset for a plan, or `None` when it has no NAT rules.
pub fn render(plan: &Plan) -> Option<String> {
    if plan.nat.is_empty() {
        return None;
    }
    let mut dnat = Vec::new();
    let mut post = vec![format!(
        "meta mark & {MASQ_MARK:#x} == {MASQ_MARK:#x} masquerade"
    )];
    for rule in &plan.nat {
        match rule {
            NatRule::NodePort {
                service,
                protocol,
                node_port,
                endpoints,
                masquerade,
            } => {
                let proto = protocol.name();
                let matcher = format!("fib daddr type local {proto} dport {node_port}");
                let mark = if *masquerade {
                    format!("meta mark set {MASQ_MARK:#x} ")
                } else {
                    String::new()
                };
                let action = match endpoints.as_slice() {
                    [] => "drop".to_string(),
                    [one] => format!("{mark}dnat to {}:{}", one.ip(), one.port()),
                    many => {
                        let map: Vec<String> = many
                            .iter()
                            .enumerate()
                            .map(|(i, e)| format!("{i} : {} . {}", e.ip(), e.port()))
                            .collect();
                        format!(
                            "{mark}dnat ip addr . port to numgen random mod {} map {{ {} }}",
                            many.len(),
                            map.join(", ")
                        )
                    }
                };
                dnat.push(format!("{matcher} {action} comment \"nodeport {service}\""));
            }
            NatRule::Masquerade { src, except } => {
                let except: Vec<String> = except.iter().map(|n| n.to_string()).collect();
                post.push(format!(
                    "ip saddr {src} ip daddr != {{ {} }} oifname != \"{}\" masquerade",
                    except.join(", "),
                    plan.bridge.name
                ));
            }
        }
    }
    let chain = |name: &str, hook: &str, prio: &str, rules: &[String]| {
        let body: String = rules.iter().map(|r| format!("    {r}\n")).collect();
        format!("  chain {name} {{\n    type nat hook {hook} priority {prio}; policy accept;\n{body}  }}\n")
    };
    Some(format!(
        "table ip podnet {{\n{}{}{}}}\n",
        chain("prerouting", "prerouting", "dstnat", &dnat),
        chain("output", "output", "-100", &dnat),
        chain("postrouting", "postrouting", "srcnat", &post)
    ))
}

/// Replaces `table ip podnet` with `ruleset` (or removes it when `None`).
pub fn apply(ruleset: Option<&str>) -> Result<(), String> {
    // Creating the table first makes the delete valid when it did not exist.
    let script = format!(
        "table ip podnet\ndelete table ip podnet\n{}",
        ruleset.unwrap_or("")
    );
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft (Debian package nftables): {e}"))?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft refused the ruleset: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::topology::{scenario, TrafficPolicy};

    #[test]
    fn node_port_rules_follow_kube_proxy() {
        let mut c = scenario::node_port();
        let node1 = c.node_named("node1").unwrap().id;
        let text = render(&c.plan(node1).unwrap()).unwrap();
        assert!(
            text.contains(
                "fib daddr type local tcp dport 30080 meta mark set 0x4000 dnat to 10.244.2.3:8080"
            ),
            "{text}"
        );
        assert!(
            text.contains("meta mark & 0x4000 == 0x4000 masquerade"),
            "{text}"
        );
        assert!(
            text.contains("type nat hook output priority -100"),
            "locally generated traffic too"
        );
        let svc = c.services()[0].id;
        c.set_traffic_policy(svc, TrafficPolicy::Local).unwrap();
        let local = render(&c.plan(node1).unwrap()).unwrap();
        assert!(
            local.contains("tcp dport 30080 drop"),
            "no local endpoint on node1: {local}"
        );
        assert!(render(&scenario::demo().plan(node1).unwrap()).is_none());
    }

    #[test]
    fn egress_masquerade_leaves_the_cluster_and_the_nodes_alone() {
        let mut c = scenario::demo();
        c.egress_masq = true;
        let node1 = c.node_named("node1").unwrap().id;
        let text = render(&c.plan(node1).unwrap()).unwrap();
        assert!(
            text.contains("ip saddr 10.244.1.0/24 ip daddr != { 10.244.0.0/16, 192.168.1.11/32, 192.168.1.12/32 } oifname != \"cni0\" masquerade"),
            "{text}"
        );
    }
}

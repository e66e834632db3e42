//! Egress masquerade as an nftables ruleset in podnet's own table.
//!
//! [`render`] turns the plan's [`NatRule`]s into the text of `table ip
//! podnet`: pod traffic leaving the cluster gets its node's address.
//! [`apply`] replaces that one table atomically with `nft -f`
//! ([`replace_table`], which the NetworkPolicy table uses too); no other
//! table is ever read or changed. (Services are kube-proxy's rules, in
//! iptables: [`crate::services`].)

use std::io::Write;
use std::process::{Command, Stdio};

use podnet_core::plan::{NatRule, Plan};

/// The ruleset for a plan, or `None` when it has no NAT rules.
pub fn render(plan: &Plan) -> Option<String> {
    if plan.nat.is_empty() {
        return None;
    }
    let post: Vec<String> = plan
        .nat
        .iter()
        .map(|rule| {
            let NatRule::Masquerade { src, except } = rule;
            let except: Vec<String> = except.iter().map(|n| n.to_string()).collect();
            format!(
                "ip saddr {src} ip daddr != {{ {} }} oifname != \"{}\" masquerade",
                except.join(", "),
                plan.bridge.name
            )
        })
        .collect();
    let body: String = post.iter().map(|r| format!("    {r}\n")).collect();
    Some(format!(
        "table ip podnet {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n{body}  }}\n}}\n"
    ))
}

/// Replaces `table ip podnet` with `ruleset` (or removes it when `None`).
pub fn apply(ruleset: Option<&str>) -> Result<(), String> {
    replace_table("ip podnet", ruleset)
}

/// Replaces one table (`"FAMILY NAME"`) with `ruleset`, or removes it when
/// `None`, in one `nft -f` transaction: no packet sees half of it. No
/// other table is read or changed.
pub fn replace_table(table: &str, ruleset: Option<&str>) -> Result<(), String> {
    // Creating the table first makes the delete valid when it did not exist.
    let script = format!(
        "table {table}\ndelete table {table}\n{}",
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
    use podnet_core::topology::scenario;

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

//! Services in the cluster-file mode, where no kube-proxy runs (the netns
//! lab): the agent writes exactly the rules kube-proxy 1.20 would
//! ([`podnet_core::services::render`]), as kube-proxy writes them — each
//! table in one `iptables-restore --noflush` transaction, so a half-applied
//! state never exists, and the hooks' jumps ensured once each. In the
//! Kubernetes mode kube-proxy itself does this, and the agent does not.

use std::io::Write;
use std::process::{Command, Stdio};

use podnet_core::services::KubeProxy;

fn run(program: &str, args: &[String], stdin: Option<&str>) -> Result<bool, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (Debian package iptables): {e}"))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(text.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if stdin.is_some() && !out.status.success() {
        return Err(format!(
            "{program} refused the rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.status.success())
}

/// Makes this node's iptables hold `now`; chains of `before` (the last
/// rules applied) that `now` does not have are deleted.
pub fn apply(now: &KubeProxy, before: Option<&KubeProxy>) -> Result<(), String> {
    let keep = now.service_chains();
    let stale: Vec<String> = before
        .map(KubeProxy::service_chains)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !keep.contains(c))
        .collect();
    run(
        "iptables-restore",
        &["--noflush".into()],
        Some(&now.restore(&stale)),
    )?;
    // Each missing jump goes in first (-I 1), as kube-proxy puts its own:
    // asked last to first, they end up in the model's order.
    for (table, chain, rule) in now.hooks().into_iter().rev() {
        let with = |op: &str| {
            let mut a: Vec<String> = vec!["-t".into(), table.into(), op.into(), chain.into()];
            if op == "-I" {
                a.push("1".into());
            }
            a.extend(rule.args());
            a
        };
        if !run("iptables", &with("-C"), None)? && !run("iptables", &with("-I"), None)? {
            return Err(format!("iptables -t {table} -I {chain} {rule} failed"));
        }
    }
    Ok(())
}

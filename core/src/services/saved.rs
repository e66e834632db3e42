//! A node's nat table as `iptables-save -t nat` prints it, beside the
//! model's: which lines are kube-proxy's, the kubelet's and portmap's (the
//! rest belongs to others: podnet's own masquerade is in nftables), the
//! lines the model expects in the order the kernel holds them, and the
//! difference.

use std::collections::BTreeMap;

use super::rules::Table;
use super::KubeProxy;

/// Whether a saved `-A` line is one of the Services' (`KUBE-…`) or
/// hostPorts' (`CNI-HOSTPORT-…`, `CNI-DN-…`): in such a chain, or jumping
/// into one.
pub fn is_services_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("-A ") else {
        return false;
    };
    let chain = rest.split_whitespace().next().unwrap_or("");
    let ours = |c: &str| {
        c.starts_with("KUBE-") || c.starts_with("CNI-HOSTPORT-") || c.starts_with("CNI-DN-")
    };
    ours(chain)
        || rest
            .split(" -j ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .is_some_and(ours)
}

/// The Services' and hostPorts' lines of an `iptables-save` output.
pub fn services_lines(saved: &str) -> Vec<String> {
    saved
        .lines()
        .filter(|l| is_services_line(l))
        .map(str::to_string)
        .collect()
}

/// The lines the model expects on a node, as the kernel orders them:
/// kube-proxy's and portmap's chains, portmap's jumps after kube-proxy's in
/// PREROUTING and OUTPUT (portmap appends) and before them in POSTROUTING
/// (it inserts).
pub fn expected_lines(kube: &KubeProxy, portmap: &Table) -> Vec<String> {
    let mut lines = kube.nat_lines();
    for line in portmap.rule_lines() {
        let chain = line
            .strip_prefix("-A ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("");
        let last_of = |lines: &[String], c: &str| {
            lines
                .iter()
                .rposition(|l| l.starts_with(&format!("-A {c} ")))
        };
        match chain {
            "POSTROUTING" => {
                let at = lines
                    .iter()
                    .position(|l| l.starts_with("-A POSTROUTING "))
                    .unwrap_or(0);
                lines.insert(at, line);
            }
            "PREROUTING" | "OUTPUT" => {
                let at = last_of(&lines, chain).map_or(0, |i| i + 1);
                lines.insert(at, line);
            }
            _ => lines.push(line),
        }
    }
    lines
}

/// The lines grouped as a comparison takes them: a chain's lines in their
/// order, except where the order is not the model's to know — between
/// Services in `KUBE-SERVICES` and `KUBE-NODEPORTS` (kube-proxy walks a
/// map) and between pods in `CNI-HOSTPORT-DNAT` (the order they started
/// in), grouped by Service and by pod.
pub fn blocks(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = KubeProxy::blocks(lines);
    if let Some(dnat) = out.remove(super::hostport::DNAT_CHAIN) {
        for line in dnat {
            let to = line.rsplit(" -j ").next().unwrap_or("").to_string();
            out.entry(format!("{} {to}", super::hostport::DNAT_CHAIN))
                .or_default()
                .push(line);
        }
    }
    out
}

/// What differs between a node's saved lines and the model's: each line
/// only one side has, or a group whose order differs, said in words.
pub fn diff(real: &[String], model: &[String]) -> Vec<String> {
    let (r, m) = (blocks(real), blocks(model));
    let mut out = Vec::new();
    for key in r.keys().chain(m.keys().filter(|k| !r.contains_key(*k))) {
        let (a, b) = (r.get(key), m.get(key));
        if a == b {
            continue;
        }
        let a = a.map(Vec::as_slice).unwrap_or_default();
        let b = b.map(Vec::as_slice).unwrap_or_default();
        let mut any = false;
        for l in a.iter().filter(|l| !b.contains(l)) {
            out.push(format!("only in the kernel: {l}"));
            any = true;
        }
        for l in b.iter().filter(|l| !a.contains(l)) {
            out.push(format!("only in the model: {l}"));
            any = true;
        }
        if !any {
            out.push(format!("{key}: the same lines in another order"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `iptables-save -t nat` on node2 of `podnet lab up --kubernetes`
    /// (kube-proxy 1.20.2, the kubelet, portmap 1.1.1), and the same cluster
    /// as the lab reads it from the API.
    const REAL: &str = include_str!("testdata/lab-node2.nat");
    const REAL_FILTER: &str = include_str!("testdata/lab-node2.filter");
    const LAB: &str = r#"{
        "nodes": [{"name": "node1", "ip": "192.168.1.11", "podCidr": "10.244.0.0/24"},
                  {"name": "node2", "ip": "192.168.1.12", "podCidr": "10.244.1.0/24"}],
        "pods": [
            {"name": "web-58b9db65cb-bngrb", "node": "node1", "ip": "10.244.0.2", "labels": {"app": "web"}},
            {"name": "web-58b9db65cb-lvk58", "node": "node1", "ip": "10.244.0.3", "labels": {"app": "web"}},
            {"name": "solo", "node": "node1", "ip": "10.244.0.4", "labels": {"app": "solo"}},
            {"name": "web-58b9db65cb-j6bxn", "node": "node2", "ip": "10.244.1.2", "labels": {"app": "web"}},
            {"name": "web-58b9db65cb-tdcm5", "node": "node2", "ip": "10.244.1.3", "labels": {"app": "web"}},
            {"name": "hostport", "node": "node2", "ip": "10.244.1.4", "labels": {"app": "hostport"},
             "ports": [{"protocol": "UDP", "containerPort": 7946, "hostPort": 7947}],
             "sandbox": "2087ebf235d590e965acd3c16e808edd912f94a3182ac6fb1275e36c14ed982f"}],
        "services": [
            {"name": "kubernetes", "clusterIP": "10.96.0.1", "endpoints": ["192.168.1.2"],
             "ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
            {"name": "web", "type": "NodePort", "clusterIP": "10.96.219.93", "selector": {"app": "web"},
             "ports": [{"protocol": "UDP", "port": 7946, "nodePort": 30080}]},
            {"name": "spread", "clusterIP": "10.96.149.200", "selector": {"app": "web"},
             "ports": [{"protocol": "UDP", "port": 7946}]},
            {"name": "solo", "clusterIP": "10.96.19.162", "selector": {"app": "solo"},
             "ports": [{"protocol": "UDP", "port": 7946}]},
            {"name": "empty", "clusterIP": "10.96.185.233", "selector": {"app": "nobody"},
             "ports": [{"protocol": "UDP", "port": 7946}]}]
    }"#;

    #[test]
    fn the_model_renders_what_a_real_node_holds_line_for_line() {
        let spec: crate::topology::spec::ClusterSpec = serde_json::from_str(LAB).unwrap();
        let c = spec.build().unwrap();
        let node2 = c.node_named("node2").unwrap();
        let model = expected_lines(
            &crate::services::render(&c, node2),
            &crate::services::hostport::render(&c, node2),
        );
        let real = services_lines(REAL);
        assert_eq!(diff(&real, &model), Vec::<String>::new());
        assert_eq!(real.len(), model.len());
        // The order of the fixed lines is the kernel's too.
        let built_in = |l: &Vec<String>| -> Vec<String> {
            l.iter()
                .filter(|x| x.starts_with("-A P") || x.starts_with("-A O"))
                .cloned()
                .collect()
        };
        assert_eq!(built_in(&real), built_in(&model));
        // And the filter table: the hooks, KUBE-FORWARD, the kubelet's
        // firewall, and the REJECT of the Service without endpoints.
        let filter = crate::services::render(&c, node2).filter.rule_lines();
        assert_eq!(
            diff(&services_lines(REAL_FILTER), &filter),
            Vec::<String>::new()
        );
        assert!(filter
            .iter()
            .any(|l| l.contains("default/empty has no endpoints")));
    }

    #[test]
    fn only_the_services_and_host_ports_lines_are_taken() {
        let saved = "*nat\n:PREROUTING ACCEPT [0:0]\n\
            -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
            -A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE\n\
            -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE\n\
            -A DOCKER -j RETURN\nCOMMIT\n";
        assert_eq!(services_lines(saved).len(), 2);
    }

    #[test]
    fn a_missing_line_and_a_changed_order_are_told() {
        let a: Vec<String> = ["-A KUBE-SVC-X -j KUBE-SEP-A", "-A KUBE-SVC-X -j KUBE-SEP-B"]
            .map(String::from)
            .to_vec();
        let mut b = a.clone();
        b.reverse();
        assert_eq!(
            diff(&a, &b),
            ["KUBE-SVC-X: the same lines in another order"]
        );
        assert_eq!(
            diff(&a, &a[..1]),
            ["only in the kernel: -A KUBE-SVC-X -j KUBE-SEP-B"]
        );
    }
}

//! NetworkPolicies, Pods and Namespaces from the API server, as core's
//! [`PolicySet`], and this node's share of it as its nftables table.
//!
//! Only Pods that have an address and run on the pod network count:
//! hostNetwork Pods have their node's address, and a policy cannot select
//! them (as in kube-router and kube-network-policies); finished Pods have
//! given their address back. A policy the API server accepted always
//! converts; should one not (a field this podnet does not know), the whole
//! table is kept as it was and the reason logged: dropping one policy
//! could open what it closes.

use k8s_openapi::api::core::v1::{Namespace as KubeNamespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy as KubePolicy;
use podnet_core::policy::{
    nft, NamedPort, Namespace, NetworkPolicy, PolicyPod, PolicyProtocol, PolicySet, PolicySpec,
};

/// A Pod as policies see it, or `None` when policies cannot apply to it.
pub fn policy_pod(pod: &Pod) -> Option<PolicyPod> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref()?;
    if spec.host_network == Some(true) {
        return None;
    }
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ip = status.pod_ip.as_deref()?.parse().ok()?;
    let ports = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let name = p.name.clone()?;
            let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
                "UDP" => PolicyProtocol::Udp,
                "SCTP" => PolicyProtocol::Sctp,
                _ => PolicyProtocol::Tcp,
            };
            Some(NamedPort {
                name,
                protocol,
                port: u16::try_from(p.container_port).ok()?,
            })
        })
        .collect();
    Some(PolicyPod {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone()?,
        ip,
        node: spec.node_name.clone()?,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        ports,
    })
}

/// A Namespace's name and labels.
pub fn namespace(ns: &KubeNamespace) -> Option<Namespace> {
    Some(Namespace {
        name: ns.metadata.name.clone()?,
        labels: ns.metadata.labels.clone().unwrap_or_default(),
    })
}

/// An API NetworkPolicy as core's, or why it cannot be.
pub fn policy(p: &KubePolicy) -> Result<NetworkPolicy, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let namespace = p
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let spec = serde_json::to_value(p.spec.clone().unwrap_or_default())
        .and_then(serde_json::from_value::<PolicySpec>)
        .map_err(|e| format!("NetworkPolicy {namespace}/{name}: {e}"))?;
    Ok(NetworkPolicy {
        namespace,
        name,
        spec,
    })
}

/// A NetworkPolicy as the API (or `kubectl get -o json`) writes it, as
/// core's: for a client reading JSON rather than watching (the lab).
pub fn policy_from_json(v: serde_json::Value) -> Result<NetworkPolicy, String> {
    let p: KubePolicy =
        serde_json::from_value(v).map_err(|e| format!("not a NetworkPolicy: {e}"))?;
    policy(&p)
}

/// A Namespace as the API writes it, as core's (`None`: it has no name).
pub fn namespace_from_json(v: serde_json::Value) -> Result<Option<Namespace>, String> {
    let ns: KubeNamespace =
        serde_json::from_value(v).map_err(|e| format!("not a Namespace: {e}"))?;
    Ok(namespace(&ns))
}

/// The policy set the API describes.
pub fn policy_set(
    pods: &[impl std::borrow::Borrow<Pod>],
    namespaces: &[impl std::borrow::Borrow<KubeNamespace>],
    policies: &[impl std::borrow::Borrow<KubePolicy>],
) -> Result<PolicySet, String> {
    let policies = policies
        .iter()
        .map(|p| policy(p.borrow()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pods: Vec<PolicyPod> = pods.iter().filter_map(|p| policy_pod(p.borrow())).collect();
    // Stable order: a store's order is not, and the table's text should be.
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let namespaces: Vec<Namespace> = namespaces
        .iter()
        .filter_map(|n| namespace(n.borrow()))
        .collect();
    PolicySet::new(&namespaces, pods, policies).map_err(|e| e.to_string())
}

/// This node's table (none: the cluster has no policy); `pod_range` is
/// the node's podCIDR, whose addresses not yet known as Pods wait.
pub fn table(
    set: &PolicySet,
    node: &str,
    pod_range: Option<ipnetwork::Ipv4Network>,
) -> Option<String> {
    nft::render(set, node, pod_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn kubectl_s_json_converts_as_the_watched_objects_do() {
        let json = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "deny", "namespace": "x", "resourceVersion": "7" },
            "spec": { "podSelector": {}, "policyTypes": ["Ingress"] }
        });
        let typed: KubePolicy = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(policy_from_json(json).unwrap(), policy(&typed).unwrap());
        // Not an object the API would write: an error, not a policy less.
        let bad = serde_json::json!({ "metadata": { "name": "p" }, "spec": { "podSelector": 3 } });
        assert!(policy_from_json(bad)
            .unwrap_err()
            .contains("not a NetworkPolicy"));
        let ns = serde_json::json!({ "metadata": { "name": "y", "labels": { "ns": "y" } } });
        let ns = namespace_from_json(ns).unwrap().unwrap();
        assert_eq!((ns.name.as_str(), ns.labels["ns"].as_str()), ("y", "y"));
        assert_eq!(
            namespace_from_json(serde_json::json!({ "metadata": {} })),
            Ok(None)
        );
    }

    #[test]
    fn api_objects_become_the_model_s_and_host_network_pods_are_not_selectable() {
        let web = pod(serde_json::json!({
            "metadata": { "name": "web", "namespace": "x", "labels": { "app": "web" } },
            "spec": { "nodeName": "node1", "containers": [ { "name": "c", "image": "i",
                "ports": [ { "name": "http", "containerPort": 8080 }, { "containerPort": 9 } ] } ] },
            "status": { "phase": "Running", "podIP": "10.244.0.5" }
        }));
        let host = pod(serde_json::json!({
            "metadata": { "name": "agent", "namespace": "kube-system" },
            "spec": { "nodeName": "node1", "hostNetwork": true, "containers": [ { "name": "c", "image": "i" } ] },
            "status": { "phase": "Running", "podIP": "192.168.1.11" }
        }));
        let pending = pod(serde_json::json!({
            "metadata": { "name": "later", "namespace": "x" },
            "spec": { "containers": [ { "name": "c", "image": "i" } ] },
            "status": { "phase": "Pending" }
        }));
        let p = policy_pod(&web).unwrap();
        assert_eq!(
            (p.ip.to_string(), p.node.as_str()),
            ("10.244.0.5".into(), "node1")
        );
        assert_eq!(
            p.ports,
            vec![NamedPort {
                name: "http".into(),
                protocol: PolicyProtocol::Tcp,
                port: 8080
            }]
        );
        assert!(policy_pod(&host).is_none());
        assert!(policy_pod(&pending).is_none());

        let np: KubePolicy = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "deny", "namespace": "x" },
            "spec": { "podSelector": { "matchLabels": { "app": "web" } },
                      "ingress": [ { "from": [ { "ipBlock": { "cidr": "10.0.0.0/8", "except": ["10.244.0.0/16"] } } ],
                                     "ports": [ { "port": "http", "protocol": "TCP" } ] } ] }
        }))
        .unwrap();
        let set = policy_set(&[web, host], &Vec::<KubeNamespace>::new(), &[np]).unwrap();
        assert_eq!(set.pods().len(), 1);
        let range = Some("10.244.0.0/24".parse().unwrap());
        let text = table(&set, "node1", range).unwrap();
        assert!(text.contains("10.244.0.5 : jump ingress_0"), "{text}");
        assert!(
            text.contains("meta l4proto tcp th dport 8080 return"),
            "{text}"
        );
        assert!(
            text.contains("ip saddr 10.244.0.0/24 ip saddr != 10.244.0.1 ip saddr != @known drop"),
            "{text}"
        );
        // node2 isolates nobody, but still holds back Pods it does not know yet.
        let text = table(&set, "node2", Some("10.244.1.0/24".parse().unwrap())).unwrap();
        assert!(!text.contains("jump"), "{text}");
        let none = policy_set(
            &Vec::<Pod>::new(),
            &Vec::<KubeNamespace>::new(),
            &Vec::<KubePolicy>::new(),
        )
        .unwrap();
        assert!(
            table(&none, "node1", range).is_none(),
            "no policy, no table"
        );
    }
}

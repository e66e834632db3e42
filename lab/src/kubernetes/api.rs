//! What the API server says, read with `kubectl … -o json` and turned into
//! the lab's views and core's specs: Nodes, Pods (labels, container ports,
//! hostPorts), Services with the endpoints the endpoints controller
//! published. Parsing is separate from asking, so it is tested on JSON
//! alone.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use podnet_core::topology::spec::{ContainerPortSpec, ServicePortSpec, ServiceSpec};
use serde_json::Value;

use crate::error::LabError;
use crate::state::ControlPlane;

/// A Node as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// Condition Ready is True.
    pub ready: bool,
    /// The Ready condition's message (why NotReady).
    pub reason: String,
    /// spec.podCIDR.
    pub pod_cidr: Option<String>,
}

/// A Pod as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodView {
    /// namespace/name.
    pub name: String,
    /// spec.nodeName.
    pub node: Option<String>,
    /// status.phase.
    pub phase: String,
    /// status.podIP.
    pub ip: Option<Ipv4Addr>,
    /// spec.hostNetwork: the node's own namespace, no pod address of its own.
    pub host_network: bool,
    /// metadata.labels.
    pub labels: BTreeMap<String, String>,
    /// Every container's ports.
    pub ports: Vec<ContainerPortSpec>,
}

impl PodView {
    /// The namespace and the name.
    pub fn namespace_and_name(&self) -> (&str, &str) {
        self.name.split_once('/').unwrap_or(("default", &self.name))
    }

    /// Its name in the lab: `name` in namespace default, else `namespace/name`.
    pub fn lab_name(&self) -> String {
        match self.namespace_and_name() {
            ("default", n) => n.to_string(),
            _ => self.name.clone(),
        }
    }
}

/// What the API says, for `lab status`.
#[derive(Debug, Clone, Default)]
pub struct ApiView {
    /// Every Node.
    pub nodes: Vec<NodeView>,
    /// Every Pod of every namespace.
    pub pods: Vec<PodView>,
}

fn items(cp: &ControlPlane, args: &[&str]) -> Result<Vec<Value>, LabError> {
    let text = cp.kubectl(args, None)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| LabError::Kubernetes(format!("kubectl {}: not JSON: {e}", args.join(" "))))?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Every Namespace with its labels, and every NetworkPolicy as core takes
/// it (a policy core cannot read is an error: leaving it out would open
/// what it closes).
pub fn policies(
    cp: &ControlPlane,
) -> Result<
    (
        Vec<podnet_core::policy::Namespace>,
        Vec<podnet_core::policy::NetworkPolicy>,
    ),
    LabError,
> {
    // One conversion from the API's objects, the agent's: what the lab
    // checks is what the agents enforce.
    use podnet_agent::kube_policy::{namespace_from_json, policy_from_json};
    let namespaces = items(cp, &["get", "namespaces", "-o", "json"])?
        .into_iter()
        .filter_map(|n| namespace_from_json(n).transpose())
        .collect::<Result<_, _>>()
        .map_err(LabError::Kubernetes)?;
    let policies = items(
        cp,
        &["get", "networkpolicies", "--all-namespaces", "-o", "json"],
    )?
    .into_iter()
    .map(policy_from_json)
    .collect::<Result<_, _>>()
    .map_err(LabError::Kubernetes)?;
    Ok((namespaces, policies))
}

/// Every Node, with its Ready condition and podCIDR.
pub fn nodes(cp: &ControlPlane) -> Result<Vec<NodeView>, LabError> {
    Ok(items(cp, &["get", "nodes", "-o", "json"])?
        .iter()
        .map(node_view)
        .collect())
}

fn node_view(n: &Value) -> NodeView {
    let ready = n["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    NodeView {
        name: text(&n["metadata"]["name"]),
        ready: ready.is_some_and(|c| c["status"] == "True"),
        reason: ready
            .and_then(|c| c["message"].as_str())
            .unwrap_or("no Ready condition yet")
            .to_string(),
        pod_cidr: n["spec"]["podCIDR"].as_str().map(str::to_string),
    }
}

/// Every Pod of every namespace.
pub fn pods(cp: &ControlPlane) -> Result<Vec<PodView>, LabError> {
    Ok(
        items(cp, &["get", "pods", "--all-namespaces", "-o", "json"])?
            .iter()
            .map(pod_view)
            .collect(),
    )
}

/// One Pod object as a view.
pub fn pod_view(p: &Value) -> PodView {
    let labels = p["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    let ports = p["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|port| {
            Some(ContainerPortSpec {
                name: text(&port["name"]),
                protocol: port["protocol"].as_str().unwrap_or("TCP").to_string(),
                container_port: u16::try_from(port["containerPort"].as_u64()?).ok()?,
                host_port: port["hostPort"]
                    .as_u64()
                    .and_then(|h| u16::try_from(h).ok()),
            })
        })
        .collect();
    PodView {
        name: format!(
            "{}/{}",
            text(&p["metadata"]["namespace"]),
            text(&p["metadata"]["name"])
        ),
        node: p["spec"]["nodeName"].as_str().map(str::to_string),
        phase: p["status"]["phase"]
            .as_str()
            .unwrap_or("Unknown")
            .to_string(),
        ip: p["status"]["podIP"].as_str().and_then(|s| s.parse().ok()),
        host_network: p["spec"]["hostNetwork"] == true,
        labels,
        ports,
    }
}

/// Every Service of every namespace as core takes it, with its endpoints,
/// and a line for each one left out and why.
pub fn services(
    cp: &ControlPlane,
    is_lab_pod: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<ServiceSpec>, Vec<String>), LabError> {
    let all = items(
        cp,
        &[
            "get",
            "services,endpoints",
            "--all-namespaces",
            "-o",
            "json",
        ],
    )?;
    Ok(service_specs(&all, is_lab_pod))
}

/// Services and Endpoints objects (any order) as core's specs. An
/// endpoint whose Pod `lab_pod` knows (it returns that pod's lab name) is
/// that pod; any other is its address. Left out, with the reason: headless
/// and ExternalName Services (kube-proxy makes no rules for them), and
/// ports of a protocol the model does not know.
pub fn service_specs(
    all: &[Value],
    lab_pod: &dyn Fn(&str) -> Option<String>,
) -> (Vec<ServiceSpec>, Vec<String>) {
    let key = |o: &Value| {
        format!(
            "{}/{}",
            text(&o["metadata"]["namespace"]),
            text(&o["metadata"]["name"])
        )
    };
    let endpoints: BTreeMap<String, &Value> = all
        .iter()
        .filter(|o| o["kind"] == "Endpoints")
        .map(|o| (key(o), o))
        .collect();
    let mut specs = Vec::new();
    let mut skipped = Vec::new();
    for s in all.iter().filter(|o| o["kind"] == "Service") {
        let name = key(s);
        let spec = &s["spec"];
        let kind = spec["type"].as_str().unwrap_or("ClusterIP");
        let cluster_ip = spec["clusterIP"].as_str().unwrap_or("None");
        if !matches!(kind, "ClusterIP" | "NodePort") {
            skipped.push(format!("{name}: type {kind} is not modelled"));
            continue;
        }
        let Ok(cluster_ip) = cluster_ip.parse::<Ipv4Addr>() else {
            skipped.push(format!(
                "{name}: headless (clusterIP {cluster_ip}): kube-proxy makes no rules"
            ));
            continue;
        };
        let mut ports = Vec::new();
        for p in spec["ports"].as_array().into_iter().flatten() {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            if !matches!(protocol, "TCP" | "UDP") {
                skipped.push(format!(
                    "{name}: port {}: {protocol} is not modelled",
                    p["port"]
                ));
                continue;
            }
            let Some(port) = p["port"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            ports.push(ServicePortSpec {
                name: text(&p["name"]),
                protocol: protocol.to_string(),
                port,
                target_port: Some(p["targetPort"].clone()).filter(|t| !t.is_null()),
                node_port: p["nodePort"].as_u64().and_then(|n| u16::try_from(n).ok()),
            });
        }
        let ready = endpoints
            .get(&name)
            .and_then(|e| e["subsets"].as_array())
            .into_iter()
            .flatten()
            .flat_map(|sub| sub["addresses"].as_array().cloned().unwrap_or_default());
        let mut eps: Vec<String> = ready
            .filter_map(|a| {
                let pod = (a["targetRef"]["kind"] == "Pod")
                    .then(|| {
                        format!(
                            "{}/{}",
                            text(&a["targetRef"]["namespace"]),
                            text(&a["targetRef"]["name"])
                        )
                    })
                    .and_then(|p| lab_pod(&p));
                pod.or_else(|| a["ip"].as_str().map(str::to_string))
            })
            .collect();
        eps.sort();
        eps.dedup();
        let (namespace, short) = name.split_once('/').unwrap_or(("default", &name));
        specs.push(ServiceSpec {
            name: short.to_string(),
            namespace: namespace.to_string(),
            kind: Some(kind.to_string()),
            cluster_ip: Some(cluster_ip),
            ports,
            selector: None,
            endpoints: eps,
            session_affinity: spec["sessionAffinity"].as_str().map(str::to_string),
            external_traffic_policy: spec["externalTrafficPolicy"].as_str().map(str::to_string),
        });
    }
    (specs, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_with_their_endpoints_pods_by_lab_name_and_other_addresses_as_addresses() {
        let all = vec![
            json!({"kind": "Service", "metadata": {"namespace": "default", "name": "kubernetes"},
                   "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "sessionAffinity": "None",
                            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}]}}),
            json!({"kind": "Endpoints", "metadata": {"namespace": "default", "name": "kubernetes"},
                   "subsets": [{"addresses": [{"ip": "192.168.1.2"}], "ports": [{"name": "https", "port": 6443}]}]}),
            json!({"kind": "Service", "metadata": {"namespace": "default", "name": "web"},
                   "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "externalTrafficPolicy": "Cluster",
                            "ports": [{"protocol": "UDP", "port": 7946, "targetPort": 7946, "nodePort": 30080}]}}),
            json!({"kind": "Endpoints", "metadata": {"namespace": "default", "name": "web"},
                   "subsets": [{"addresses": [
                       {"ip": "10.244.1.2", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}},
                       {"ip": "10.244.2.2", "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-2"}}],
                     "notReadyAddresses": [{"ip": "10.244.2.3"}]}]}),
            json!({"kind": "Service", "metadata": {"namespace": "default", "name": "headless"},
                   "spec": {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]}}),
            json!({"kind": "Service", "metadata": {"namespace": "x", "name": "ext"},
                   "spec": {"type": "ExternalName", "externalName": "example.org"}}),
        ];
        let known = |p: &str| (p == "default/web-1").then(|| "web-1".to_string());
        let (specs, skipped) = service_specs(&all, &known);
        assert_eq!(specs.len(), 2, "{specs:?}");
        assert_eq!(specs[0].endpoints, ["192.168.1.2"]);
        assert_eq!(specs[0].ports[0].target_port, Some(json!(6443)));
        assert_eq!(specs[1].kind.as_deref(), Some("NodePort"));
        assert_eq!(specs[1].ports[0].node_port, Some(30080));
        // A Pod the lab does not hold is still an endpoint, by its address;
        // a not-ready address is none.
        assert_eq!(specs[1].endpoints, ["10.244.2.2", "web-1"]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].contains("headless"), "{skipped:?}");
    }

    #[test]
    fn a_pod_with_its_labels_ports_and_host_port() {
        let p = pod_view(&json!({
            "metadata": {"namespace": "default", "name": "hostport", "labels": {"app": "hostport"}},
            "spec": {"nodeName": "node2", "containers": [{"ports": [
                {"containerPort": 7946, "hostPort": 7947, "protocol": "UDP"}, {"containerPort": 80, "name": "http"}]}]},
            "status": {"phase": "Running", "podIP": "10.244.2.5"}
        }));
        assert_eq!(p.lab_name(), "hostport");
        assert_eq!(p.labels["app"], "hostport");
        assert_eq!(p.ports[0].host_port, Some(7947));
        assert_eq!(p.ports[1].protocol, "TCP");
        assert!(!p.host_network);
        let sys = pod_view(
            &json!({"metadata": {"namespace": "kube-system", "name": "a"}, "spec": {"hostNetwork": true}}),
        );
        assert_eq!(sys.lab_name(), "kube-system/a");
        assert!(sys.host_network);
    }
}

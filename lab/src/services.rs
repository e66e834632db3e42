//! The lab's Services, the same four in both kinds of lab, so `lab check`
//! probes the same cases everywhere: every one UDP on the responders' port
//! ([`probe::PORT`]).
//!
//! | Service | type | endpoints | the case |
//! |---|---|---|---|
//! | `web` | NodePort ([`NODE_PORT`]) | netns lab: the last pod; Kubernetes lab: the Deployment's pods on every node | reaching a pod from outside |
//! | `spread` | ClusterIP | a pod on every node | a ClusterIP balanced across nodes |
//! | `solo` | ClusterIP | one pod (`pod1-1`, or the Kubernetes lab's Pod `solo` on node1) | endpoints on one node; asked by that pod itself, the hairpin |
//! | `empty` | ClusterIP | none | refused, as kube-proxy's REJECT says |
//!
//! The Kubernetes lab also runs a Pod with a `hostPort` ([`HOST_PORT`], Pod
//! `hostport` on the last node), which `lab check` reaches from another node.

use podnet_core::topology::spec::ServiceSpec;
use podnet_core::topology::{Protocol, ServiceType};
use serde_json::{json, Value};

use crate::kubernetes::images;
use crate::state::LabPod;
use crate::{probe, NODE_PORT};

/// The NodePort Service.
pub const WEB: &str = "web";
/// The ClusterIP Service with endpoints on every node.
pub const SPREAD: &str = "spread";
/// The ClusterIP Service with one endpoint.
pub const SOLO: &str = "solo";
/// The ClusterIP Service without endpoints.
pub const EMPTY: &str = "empty";
/// The Kubernetes lab's Pod with a hostPort.
pub const HOST_PORT_POD: &str = "hostport";
/// Its hostPort (UDP, to the responders' port in the Pod).
pub const HOST_PORT: u16 = 7947;

fn udp(
    name: &str,
    kind: ServiceType,
    node_port: Option<u16>,
    endpoints: Vec<String>,
) -> ServiceSpec {
    ServiceSpec::one_port(name, kind, Protocol::Udp, probe::PORT, node_port, endpoints)
}

/// The netns lab's Services, in its cluster file, over its pods (named
/// `podK-J`); none without pods.
pub fn netns(pods: &[LabPod]) -> Vec<ServiceSpec> {
    let (Some(first), Some(last)) = (pods.first(), pods.last()) else {
        return Vec::new();
    };
    let mut spread: Vec<String> = Vec::new();
    for p in pods {
        if !pods
            .iter()
            .any(|q| q.node == p.node && spread.contains(&q.name))
        {
            spread.push(p.name.clone());
        }
    }
    vec![
        udp(
            WEB,
            ServiceType::NodePort,
            Some(NODE_PORT),
            vec![last.name.clone()],
        ),
        udp(SPREAD, ServiceType::ClusterIp, None, spread),
        udp(SOLO, ServiceType::ClusterIp, None, vec![first.name.clone()]),
        udp(EMPTY, ServiceType::ClusterIp, None, Vec::new()),
    ]
}

/// A busybox container that waits (and ends at once on SIGTERM: PID 1
/// ignores it unless it asks).
pub(crate) fn waiting(ports: Value) -> Value {
    json!([{
        "name": "app",
        "image": images::BUSYBOX,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 2147483647 & wait"],
        "ports": ports,
    }])
}

/// A Pod pinned to `node`, labelled `app=<name>`.
fn pinned(name: &str, node: &str, ports: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": "default", "labels": { "app": name } },
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 2,
            "containers": waiting(ports),
        },
    })
}

/// A Service in front of the pods labelled `app=<app>`.
fn service(name: &str, app: &str, node_port: Option<u16>) -> Value {
    let mut port = json!({ "protocol": "UDP", "port": probe::PORT, "targetPort": probe::PORT });
    if let Some(np) = node_port {
        port["nodePort"] = json!(np);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "type": if node_port.is_some() { "NodePort" } else { "ClusterIP" },
            "selector": { "app": app },
            "ports": [port],
        },
    })
}

/// The Kubernetes lab's workload: a Deployment of `replicas` Pods spread
/// over the nodes (one topology-spread constraint per hostname) behind
/// `web` and `spread`, the Pod `solo` on the first node behind `solo`, the
/// Service `empty`, and the Pod `hostport` on the last node.
pub fn kubernetes(replicas: usize, first_node: &str, last_node: &str) -> Value {
    let labels = json!({ "app": WEB });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": WEB, "namespace": "default" },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": labels },
            "template": {
                "metadata": { "labels": labels },
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": { "matchLabels": labels },
                    }],
                    "containers": waiting(json!([])),
                },
            },
        },
    });
    let host_port =
        json!([{ "containerPort": probe::PORT, "hostPort": HOST_PORT, "protocol": "UDP" }]);
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            deployment,
            service(WEB, WEB, Some(NODE_PORT)),
            service(SPREAD, WEB, None),
            pinned(SOLO, first_node, json!([])),
            service(SOLO, SOLO, None),
            service(EMPTY, "nobody", None),
            pinned(HOST_PORT_POD, last_node, host_port),
        ],
    })
}

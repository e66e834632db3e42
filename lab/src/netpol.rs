//! `lab up --kubernetes --netpol`: the layout Kubernetes' own NetworkPolicy
//! tests use ([`podnet_core::policy::layout`]) as real Pods: namespaces x,
//! y and z (labelled `ns: x`, …), each with Pods a, b and c (labelled
//! `pod: a`, …; a and b on the first node, c on the last), declaring TCP
//! and UDP ports 80 and 81 under upstream's names (`serve-80-tcp`, …).
//! `lab check` then measures the truth table on them
//! ([`crate::check::policy`]).

use std::time::{Duration, Instant};

use podnet_core::policy::layout::{NAMESPACES, PODS, PORTS};
use serde_json::{json, Value};

use crate::error::LabError;
use crate::kubernetes::{progress, refresh};
use crate::services::waiting;
use crate::state::LabState;

/// The Pods' names as the lab lists them (`x/a`, …).
pub fn pod_names() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| format!("{ns}/{p}")))
        .collect()
}

/// The namespaces and Pods, as one kubectl List.
pub fn manifest(first: &str, last: &str) -> Value {
    let ports: Vec<Value> = PORTS
        .iter()
        .flat_map(|port| {
            ["TCP", "UDP"].map(|proto| {
                json!({ "name": format!("serve-{port}-{}", proto.to_lowercase()), "containerPort": port, "protocol": proto })
            })
        })
        .collect();
    let mut items = Vec::new();
    for ns in NAMESPACES {
        items.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": ns, "labels": { "ns": ns } },
        }));
        for (j, pod) in PODS.iter().enumerate() {
            items.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": pod, "namespace": ns, "labels": { "pod": pod } },
                "spec": {
                    "nodeName": if j < 2 { first } else { last },
                    "terminationGracePeriodSeconds": 2,
                    "containers": waiting(json!(ports)),
                },
            }));
        }
    }
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

/// Applies the layout and waits until its nine Pods run.
pub fn deploy(state: &mut LabState, start: Instant) -> Result<(), LabError> {
    let cp = crate::kubernetes::control_plane(state)?.clone();
    let (first, last) = match (state.nodes.first(), state.nodes.last()) {
        (Some(f), Some(l)) => (f.name.clone(), l.name.clone()),
        _ => return Err(LabError::Kubernetes("a lab without nodes".into())),
    };
    progress(
        start,
        "kubectl apply: NetworkPolicy layout, namespaces x, y, z with Pods a, b, c",
    );
    cp.kubectl(
        &["apply", "-f", "-"],
        Some(&manifest(&first, &last).to_string()),
    )?;
    let want = pod_names();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        refresh(state)?;
        let found = want
            .iter()
            .filter(|w| state.pods.iter().any(|p| &p.name == *w))
            .count();
        if found == want.len() {
            progress(start, "the nine NetworkPolicy Pods run");
            return state.save();
        }
        if Instant::now() > deadline {
            return Err(LabError::Kubernetes(format!(
                "{found}/9 NetworkPolicy Pods running after 120 s; try: podnet lab status"
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

//! A Kubernetes lab's nodes joining, as `lab up` observed them on the API
//! server, beside what core's [`join`](podnet_core::join) model predicts.

use std::rc::Rc;

use podnet_core::join::{ranges_taken, taken_by, NOT_READY_MESSAGE};
use podnet_core::lab_api::NodeJoinView;
use podnet_core::topology::Cluster;
use yew::prelude::*;

/// Props of [`Observed`].
#[derive(Properties, PartialEq, Clone)]
pub struct ObservedProps {
    /// How each node joined, as `lab up` saw it on the API server.
    pub joins: Vec<NodeJoinView>,
    /// The lab's cluster (its range and node prefix, for the model's prediction).
    pub cluster: Rc<Cluster>,
}

/// A Kubernetes lab's nodes joining, as observed, beside the range core
/// predicts for each (node IPAM's order: registration order, skipping any
/// range it gave back).
#[function_component(Observed)]
pub fn observed(p: &ObservedProps) -> Html {
    let mut joins = p.joins.clone();
    joins.sort_by_key(|j| (j.registered_ms, j.name.clone()));
    let predicted = ranges_taken(p.cluster.cidr(), p.cluster.node_prefix(), &taken_by(&joins))
        .unwrap_or_default();
    let given_back: u32 = joins.iter().map(|j| j.given_back_before).sum();
    let ms =
        |v: Option<u64>| v.map_or("—".to_string(), |v| format!("{:.1} s", v as f64 / 1000.0));
    html! {
        <div class="join-observed">
            <h3>{ "How these nodes joined, as lab up saw it on the API server" }</h3>
            <table>
                <tr><th>{ "node" }</th><th>{ "registered" }</th><th>{ "podCIDR" }</th><th>{ "model predicts" }</th><th>{ "CNI config" }</th><th>{ "Ready" }</th></tr>
                { for joins.iter().map(|j| {
                    let model = predicted.iter().find(|(n, _)| *n == j.name).map(|(_, r)| r.to_string());
                    let agrees = model.is_some() && model == j.pod_cidr;
                    html! {
                        <tr data-node={j.name.clone()}>
                            <td>{ j.name.clone() }</td>
                            <td>{ ms(j.registered_ms) }</td>
                            <td>{ format!("{} at {}", j.pod_cidr.clone().unwrap_or_default(), ms(j.range_ms)) }</td>
                            <td class={classes!("prediction", if agrees { "agrees" } else { "differs" })}>
                                { format!("{} {}", model.unwrap_or_default(), if agrees { "✓" } else { "≠" }) }</td>
                            <td>{ ms(j.cni_config_ms) }</td>
                            <td>{ ms(j.ready_ms) }</td>
                        </tr>
                    }
                }) }
            </table>
            if given_back > 0 {
                <p class="given-back">{ format!("Node IPAM took {given_back} range{} for an out-of-date copy of a Node and gave {} back (its log says so); each moved it on, so the model skips {} too.",
                    if given_back == 1 { "" } else { "s" }, if given_back == 1 { "it" } else { "them" }, if given_back == 1 { "it" } else { "them" }) }</p>
            }
            { for joins.iter().filter_map(|j| j.not_ready_message.as_ref().map(|m| (j, m))).take(1).map(|(j, m)| html! {
                <p class="message">{ format!("{} while NotReady: \"{m}\"{}", j.name,
                    if m == NOT_READY_MESSAGE { " (the model's words too)" } else { "" }) }</p>
            }) }
        </div>
    }
}

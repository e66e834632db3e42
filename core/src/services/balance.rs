//! How kube-proxy's random rules spread a Service's connections: the
//! chance of each endpoint, from the `statistic` probabilities as the
//! kernel stores them (rule i of n matches 1/(n-i) of what reaches it, so
//! every endpoint gets 1/n, up to the kernel's rounding).

use super::rules::Probability;
use crate::topology::{Cluster, PortEndpoint, Service, ServicePort};

/// Every endpoint of a Service port with the chance a new connection
/// lands on it, in kube-proxy's order (what a trace's `pick` counts).
pub fn choices(
    cluster: &Cluster,
    service: &Service,
    port: &ServicePort,
) -> Vec<(PortEndpoint, f64)> {
    let eps = cluster.port_endpoints(service, port);
    let n = eps.len();
    let mut left = 1.0;
    eps.into_iter()
        .enumerate()
        .map(|(i, e)| {
            let p = if i + 1 < n {
                Probability::one_in(n - i).value()
            } else {
                1.0
            };
            let chance = left * p;
            left -= chance;
            (e, chance)
        })
        .collect()
}

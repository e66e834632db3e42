//! kube-proxy's chain names: a hash of the service port (and endpoint), so
//! a chain is found again from the Service alone, never stored.
//!
//! `KUBE-SVC-`, `KUBE-XLB-` and `KUBE-FW-` take the first 16 characters of
//! the standard base32 of SHA-256(`servicePortName` + protocol);
//! `KUBE-SEP-` the same of SHA-256(`servicePortName` + protocol +
//! `ip:port`). The service port name is `namespace/name:port`, or
//! `namespace/name` when the port has no name (kube-proxy 1.20,
//! `pkg/proxy/iptables/proxier.go`).

use std::net::SocketAddrV4;

use sha2::{Digest, Sha256};

use crate::topology::Protocol;

fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut b32 = data_encoding::BASE32.encode(&digest);
    b32.truncate(16);
    b32
}

fn port_proto(port_name: &str, protocol: Protocol) -> String {
    hash16(&format!("{port_name}{}", protocol.name()))
}

/// `KUBE-SVC-…`: the chain that balances over a service port's endpoints.
pub fn service_chain(port_name: &str, protocol: Protocol) -> String {
    format!("KUBE-SVC-{}", port_proto(port_name, protocol))
}

/// `KUBE-XLB-…`: the chain of a port with `externalTrafficPolicy: Local`.
pub fn local_chain(port_name: &str, protocol: Protocol) -> String {
    format!("KUBE-XLB-{}", port_proto(port_name, protocol))
}

/// `KUBE-SEP-…`: one endpoint's chain (the DNAT).
pub fn endpoint_chain(port_name: &str, protocol: Protocol, endpoint: SocketAddrV4) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{port_name}{}{endpoint}", protocol.name()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in kube-proxy 1.20's own test (`TestEndpointSliceE2E`)
    /// and on every real cluster (`default/kubernetes:https`, kube-dns).
    #[test]
    fn names_are_kube_proxys() {
        assert_eq!(
            service_chain("ns1/svc1", Protocol::Tcp),
            "KUBE-SVC-AQI2S6QIMU7PVVRP"
        );
        assert_eq!(
            endpoint_chain("ns1/svc1", Protocol::Tcp, "10.0.1.1:80".parse().unwrap()),
            "KUBE-SEP-3JOIVZTXZZRGORX4"
        );
        assert_eq!(
            service_chain("default/kubernetes:https", Protocol::Tcp),
            "KUBE-SVC-NPX46M4PTMTKRN6Y"
        );
        assert_eq!(
            service_chain("kube-system/kube-dns:dns", Protocol::Udp),
            "KUBE-SVC-TCOU7JCQXEZGVUNU"
        );
        assert_eq!(
            service_chain("kube-system/kube-dns:dns-tcp", Protocol::Tcp),
            "KUBE-SVC-ERIFXISQEP7F7OF4"
        );
        assert_eq!(
            local_chain("default/web:http", Protocol::Tcp),
            "KUBE-XLB-CDGGSHYLG3RE2FKL"
        );
    }
}

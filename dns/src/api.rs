//! Kubernetes objects as DNS sees them: each Service with its Endpoints
//! becomes core's [`DnsService`], from which core computes the records.
//! Pure functions, so every rule here is unit-tested without a cluster.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use podnet_core::services::dns::{DnsKind, DnsService};
use podnet_core::topology::Protocol;

fn protocol(p: Option<&String>) -> Option<Protocol> {
    // SCTP has no place in core's model; such a port gets no SRV record.
    p.map_or(Some(Protocol::Tcp), |p| p.to_ascii_lowercase().parse().ok())
}

/// A Service (and its Endpoints, for a headless one) as DNS sees it;
/// `None` for what DNS has nothing to say about (no spec, a ClusterIP
/// that is not IPv4).
pub fn dns_service(svc: &Service, endpoints: Option<&Endpoints>) -> Option<DnsService> {
    let spec = svc.spec.as_ref()?;
    let namespace = svc
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = svc.metadata.name.clone()?;
    let named = |name: Option<&String>, proto: Option<&String>, port: i32| {
        let name = name.filter(|n| !n.is_empty())?;
        Some((name.clone(), protocol(proto)?, u16::try_from(port).ok()?))
    };
    let service_ports = || -> Vec<(String, Protocol, u16)> {
        spec.ports
            .iter()
            .flatten()
            .filter_map(|p| named(p.name.as_ref(), p.protocol.as_ref(), p.port))
            .collect()
    };
    let (kind, ports) = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.clone()?;
        (DnsKind::ExternalName(target), Vec::new())
    } else if spec.cluster_ip.as_deref() == Some("None") {
        // Headless: the ready addresses (the endpoints controller puts only
        // those in `addresses`), and the ports the Endpoints name.
        let subsets = endpoints.and_then(|e| e.subsets.as_ref());
        let mut ready: Vec<(Ipv4Addr, Option<String>)> = Vec::new();
        let mut ports: Vec<(String, Protocol, u16)> = Vec::new();
        for s in subsets.into_iter().flatten() {
            for a in s.addresses.iter().flatten() {
                if let Ok(ip) = a.ip.parse() {
                    let entry = (ip, a.hostname.clone().filter(|h| !h.is_empty()));
                    if !ready.contains(&entry) {
                        ready.push(entry);
                    }
                }
            }
            for p in s.ports.iter().flatten() {
                if let Some(port) = named(p.name.as_ref(), p.protocol.as_ref(), p.port) {
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
            }
        }
        (DnsKind::Headless(ready), ports)
    } else {
        let ip: Ipv4Addr = spec.cluster_ip.as_deref()?.parse().ok()?;
        (DnsKind::ClusterIp(ip), service_ports())
    };
    Some(DnsService {
        namespace,
        name,
        kind,
        ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::services::dns::{Answer, Data, QType, Zone};

    fn object<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn services_become_the_records_the_specification_names() {
        let web: Service = object(
            r#"{"metadata":{"name":"web","namespace":"default"},
                "spec":{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80},{"port":81},{"name":"dns","protocol":"UDP","port":53},{"name":"s","protocol":"SCTP","port":9}]}}"#,
        );
        let headless: Service = object(
            r#"{"metadata":{"name":"dns-test-service","namespace":"e2e"},"spec":{"clusterIP":"None","ports":[{"name":"http","port":80}]}}"#,
        );
        let eps: Endpoints = object(
            r#"{"metadata":{"name":"dns-test-service","namespace":"e2e"},
                "subsets":[{"addresses":[{"ip":"10.244.1.5","hostname":"dns-querier-1"},{"ip":"10.244.2.7"}],
                            "notReadyAddresses":[{"ip":"10.244.2.9"}],
                            "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}"#,
        );
        let external: Service = object(
            r#"{"metadata":{"name":"ext","namespace":"e2e"},"spec":{"type":"ExternalName","externalName":"foo.example.com"}}"#,
        );
        let services: Vec<DnsService> = [
            dns_service(&web, None),
            dns_service(&headless, Some(&eps)),
            dns_service(&external, None),
        ]
        .into_iter()
        .map(Option::unwrap)
        .collect();
        assert_eq!(
            services[0].ports,
            vec![
                ("http".into(), Protocol::Tcp, 80),
                ("dns".into(), Protocol::Udp, 53)
            ],
            "unnamed and SCTP ports have no SRV"
        );
        let zone = Zone::new("cluster.local", &services, ["default".into(), "e2e".into()]);
        let a = |name: &str| zone.lookup(name, QType::A);
        assert_eq!(
            a("web.default.svc.cluster.local."),
            Answer::Records(vec![Data::A("10.96.0.20".parse().unwrap())])
        );
        let Answer::Records(ready) = a("dns-test-service.e2e.svc.cluster.local") else {
            panic!("a headless Service answers its ready endpoints");
        };
        assert_eq!(
            ready.len(),
            2,
            "the not-ready address is left out: {ready:?}"
        );
        assert_eq!(
            a("dns-querier-1.dns-test-service.e2e.svc.cluster.local"),
            Answer::Records(vec![Data::A("10.244.1.5".parse().unwrap())])
        );
        assert!(matches!(
            zone.lookup("_http._tcp.dns-test-service.e2e.svc.cluster.local", QType::Srv),
            Answer::Records(r) if r.len() == 2 && r.iter().all(|d| matches!(d, Data::Srv { port: 8080, .. }))
        ));
        assert_eq!(
            zone.lookup("ext.e2e.svc.cluster.local", QType::A),
            Answer::Records(vec![Data::Cname("foo.example.com".into())])
        );
    }

    #[test]
    fn what_dns_cannot_use_is_left_out_without_a_panic() {
        for json in [
            r#"{"metadata":{"name":"x"}}"#,
            r#"{"metadata":{"name":"x"},"spec":{"clusterIP":"fd00::1"}}"#,
            r#"{"metadata":{"name":"x"},"spec":{"clusterIP":""}}"#,
            r#"{"metadata":{"name":"x"},"spec":{"type":"ExternalName"}}"#,
            r#"{"metadata":{},"spec":{"clusterIP":"10.96.0.3"}}"#,
        ] {
            assert_eq!(dns_service(&object(json), None), None, "{json}");
        }
        let odd: Service = object(
            r#"{"metadata":{"name":"x","namespace":"n"},"spec":{"clusterIP":"10.96.0.3","ports":[{"name":"big","port":70000}]}}"#,
        );
        assert_eq!(dns_service(&odd, None).unwrap().ports, vec![]);
        // A headless Service with no Endpoints yet: no address, NXDOMAIN.
        let headless: Service =
            object(r#"{"metadata":{"name":"h","namespace":"n"},"spec":{"clusterIP":"None"}}"#);
        let s = dns_service(&headless, None).unwrap();
        let zone = Zone::new("cluster.local", &[s], ["n".into()]);
        assert_eq!(
            zone.lookup("h.n.svc.cluster.local", QType::A),
            Answer::NxDomain
        );
    }
}

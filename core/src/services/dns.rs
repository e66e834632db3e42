//! Service names as cluster DNS answers them (the Kubernetes DNS
//! specification, schema 1.1.0, and the pod records the 1.20 tests still
//! ask for): what a pod's `resolv.conf` says, which names its resolver
//! tries for `web`, and the record each name has. The explainer shows it;
//! the lab's DNS server answers from it.
//!
//! - a ClusterIP Service: `<svc>.<ns>.svc.<zone>` A its ClusterIP; for each
//!   named port `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV; the ClusterIP's
//!   PTR back to the name;
//! - a headless Service: an A record per ready endpoint (NXDOMAIN when it has
//!   none), `<hostname>.<svc>.<ns>.svc.<zone>` for each, SRV per endpoint
//!   and named port, PTRs to the endpoint names;
//! - an ExternalName Service: a CNAME;
//! - a pod: `a-b-c-d.<ns>.pod.<zone>` A its address;
//! - `dns-version.<zone>` TXT "1.1.0".
//!
//! Names are compared without case. A name under the zone that has no
//! record but exists (an empty non-terminal, a namespace) is NODATA, any
//! other NXDOMAIN; a name outside the zone is the caller's (the lab has no
//! upstream: NXDOMAIN, not authoritative).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::topology::{Cluster, Protocol};

/// The cluster's domain (`--cluster-domain`).
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The cluster DNS Service's address (`kube-dns` in `kube-system`, `--cluster-dns`).
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// The records' time to live: short, so a changed Service shows at once.
pub const TTL: u32 = 5;
/// The schema `dns-version` names.
pub const SCHEMA: &str = "1.1.0";

/// A pod's `/etc/resolv.conf` under `dnsPolicy: ClusterFirst`, as the kubelet writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<Ipv4Addr>,
    /// The `search` list.
    pub search: Vec<String>,
    /// `options ndots:N`.
    pub ndots: usize,
}

impl ResolvConf {
    /// What the kubelet writes for a pod in `namespace`.
    pub fn cluster_first(namespace: &str, domain: &str, dns: Ipv4Addr) -> ResolvConf {
        ResolvConf {
            nameservers: vec![dns],
            search: vec![
                format!("{namespace}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.to_string(),
            ],
            ndots: 5,
        }
    }

    /// The names a resolver asks, in order, for `name` (glibc's rule): a
    /// name ending in a dot only as it is; one with fewer than `ndots` dots
    /// with each search suffix first, then as it is; others as they are
    /// first, then with each suffix. (musl tries a name with `ndots` dots
    /// or more only as it is, and stops at the first answer that is not
    /// NXDOMAIN.)
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(abs) = name.strip_suffix('.') {
            return vec![abs.to_string()];
        }
        let with: Vec<String> = self.search.iter().map(|s| format!("{name}.{s}")).collect();
        if name.matches('.').count() < self.ndots {
            with.into_iter().chain([name.to_string()]).collect()
        } else {
            [name.to_string()].into_iter().chain(with).collect()
        }
    }
}

impl fmt::Display for ResolvConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "search {}", self.search.join(" "))?;
        for n in &self.nameservers {
            writeln!(f, "nameserver {n}")?;
        }
        writeln!(f, "options ndots:{}", self.ndots)
    }
}

/// A record's data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Data {
    /// An address.
    A(Ipv4Addr),
    /// A port of a Service: priority, weight, port and the name that has it.
    Srv {
        /// Priority (0).
        priority: u16,
        /// Weight: 100 shared among the records of one name.
        weight: u16,
        /// The port.
        port: u16,
        /// The name of the address (a Service or an endpoint).
        target: String,
    },
    /// The name of an address.
    Ptr(String),
    /// Another name (an ExternalName Service).
    Cname(String),
    /// Text.
    Txt(String),
}

/// The type a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QType {
    /// A.
    A,
    /// SRV.
    Srv,
    /// PTR.
    Ptr,
    /// CNAME.
    Cname,
    /// TXT.
    Txt,
    /// Any other type (AAAA, MX, …): the name exists or not, no data here.
    Other,
}

impl Data {
    fn qtype(&self) -> QType {
        match self {
            Data::A(_) => QType::A,
            Data::Srv { .. } => QType::Srv,
            Data::Ptr(_) => QType::Ptr,
            Data::Cname(_) => QType::Cname,
            Data::Txt(_) => QType::Txt,
        }
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::A(ip) => write!(f, "A {ip}"),
            Data::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(f, "SRV {priority} {weight} {port} {target}."),
            Data::Ptr(n) => write!(f, "PTR {n}."),
            Data::Cname(n) => write!(f, "CNAME {n}."),
            Data::Txt(t) => write!(f, "TXT \"{t}\""),
        }
    }
}

/// How a name is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// These records (a CNAME answers any type).
    Records(Vec<Data>),
    /// The name exists, without records of that type (NOERROR, empty).
    NoData,
    /// No such name in the zone.
    NxDomain,
    /// Not a name of this server's zones.
    OutOfZone,
}

/// What a Service is, to DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsKind {
    /// A ClusterIP.
    ClusterIp(Ipv4Addr),
    /// Headless: its ready endpoints, each with its hostname if it has one.
    Headless(Vec<(Ipv4Addr, Option<String>)>),
    /// An ExternalName.
    ExternalName(String),
}

/// A Service as DNS needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsService {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What it is.
    pub kind: DnsKind,
    /// Its named ports: (name, protocol, port).
    pub ports: Vec<(String, Protocol, u16)>,
}

/// The records of one cluster domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    domain: String,
    records: BTreeMap<String, Vec<Data>>,
    /// Every name that exists: owners and their ancestors up to the zone.
    names: BTreeSet<String>,
    /// Namespaces, for `a-b-c-d.<ns>.pod` names.
    namespaces: BTreeSet<String>,
}

/// `10.96.0.20` as `20.0.96.10.in-addr.arpa`.
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// A Service's name in the zone.
pub fn service_name(namespace: &str, name: &str, domain: &str) -> String {
    format!("{name}.{namespace}.svc.{domain}")
}

/// A pod's name in the zone: its address with dashes.
pub fn pod_name(ip: Ipv4Addr, namespace: &str, domain: &str) -> String {
    format!(
        "{}.{namespace}.pod.{domain}",
        ip.to_string().replace('.', "-")
    )
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "_tcp",
        Protocol::Udp => "_udp",
    }
}

impl Zone {
    /// A zone for `domain` from Services as DNS sees them, and the
    /// cluster's namespaces (pod records exist only in those).
    pub fn new(
        domain: &str,
        services: &[DnsService],
        namespaces: impl IntoIterator<Item = String>,
    ) -> Zone {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut z = Zone {
            domain: domain.clone(),
            namespaces: namespaces
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            ..Zone::default()
        };
        z.add(format!("dns-version.{domain}"), Data::Txt(SCHEMA.into()));
        for name in [format!("svc.{domain}"), format!("pod.{domain}")] {
            z.exist(&name);
        }
        for ns in z.namespaces.clone() {
            z.exist(&format!("{ns}.svc.{domain}"));
            z.exist(&format!("{ns}.pod.{domain}"));
        }
        for s in services {
            z.add_service(s);
        }
        z
    }

    /// The zone of a modelled cluster: its Services (all ClusterIP) and
    /// the namespaces of its pods and Services.
    pub fn of(cluster: &Cluster) -> Zone {
        let services: Vec<DnsService> = cluster
            .services()
            .iter()
            .map(|s| DnsService {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                kind: DnsKind::ClusterIp(s.cluster_ip),
                ports: s
                    .ports
                    .iter()
                    .filter(|p| !p.name.is_empty())
                    .map(|p| (p.name.clone(), p.protocol, p.port))
                    .collect(),
            })
            .collect();
        let namespaces = cluster
            .pods()
            .iter()
            .map(|p| p.namespace.clone())
            .chain(cluster.services().iter().map(|s| s.namespace.clone()));
        Zone::new(CLUSTER_DOMAIN, &services, namespaces)
    }

    /// The zone's domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    fn exist(&mut self, name: &str) {
        let mut n = name;
        loop {
            self.names.insert(n.to_string());
            if n == self.domain {
                return;
            }
            match n.split_once('.') {
                Some((_, rest)) if rest.len() >= self.domain.len() => n = rest,
                _ => return,
            }
        }
    }

    fn add(&mut self, name: String, data: Data) {
        let name = name.to_ascii_lowercase();
        self.exist(&name);
        let list = self.records.entry(name).or_default();
        if !list.contains(&data) {
            list.push(data);
        }
    }

    fn add_service(&mut self, s: &DnsService) {
        let d = self.domain.clone();
        let fqdn = service_name(&s.namespace, &s.name, &d).to_ascii_lowercase();
        self.namespaces.insert(s.namespace.to_ascii_lowercase());
        self.exist(&format!("{}.svc.{d}", s.namespace.to_ascii_lowercase()));
        match &s.kind {
            DnsKind::ClusterIp(ip) => {
                self.add(fqdn.clone(), Data::A(*ip));
                self.add(reverse_name(*ip), Data::Ptr(fqdn.clone()));
                for (port, p, number) in &s.ports {
                    self.add(
                        format!("_{port}.{}.{fqdn}", proto(*p)),
                        Data::Srv {
                            priority: 0,
                            weight: 100,
                            port: *number,
                            target: fqdn.clone(),
                        },
                    );
                }
            }
            DnsKind::Headless(eps) => {
                // No ready endpoint: the name does not exist (spec §2.4.1).
                let weight = u16::try_from(100 / eps.len().max(1)).unwrap_or(100);
                for (ip, hostname) in eps {
                    let host = hostname
                        .clone()
                        .unwrap_or_else(|| ip.to_string().replace('.', "-"));
                    let own = format!("{host}.{fqdn}").to_ascii_lowercase();
                    self.add(fqdn.clone(), Data::A(*ip));
                    self.add(own.clone(), Data::A(*ip));
                    self.add(reverse_name(*ip), Data::Ptr(own.clone()));
                    for (port, p, number) in &s.ports {
                        self.add(
                            format!("_{port}.{}.{fqdn}", proto(*p)),
                            Data::Srv {
                                priority: 0,
                                weight,
                                port: *number,
                                target: own.clone(),
                            },
                        );
                    }
                }
            }
            DnsKind::ExternalName(target) => {
                self.add(fqdn, Data::Cname(target.trim_end_matches('.').to_string()));
            }
        }
    }

    /// Whether a name is this zone's to answer (the domain or under it, or
    /// an address's reverse name it holds).
    fn owns(&self, name: &str) -> bool {
        name == self.domain
            || name.ends_with(&format!(".{}", self.domain))
            || self.records.contains_key(name)
    }

    /// The answer to a query for `qname` (with or without the final dot,
    /// any case) of type `qtype`.
    pub fn lookup(&self, qname: &str, qtype: QType) -> Answer {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        if !self.owns(&name) {
            return Answer::OutOfZone;
        }
        if let Some(data) = self.records.get(&name) {
            let cname: Vec<Data> = data
                .iter()
                .filter(|d| matches!(d, Data::Cname(_)))
                .cloned()
                .collect();
            if !cname.is_empty() {
                return Answer::Records(cname);
            }
            let of_type: Vec<Data> = data
                .iter()
                .filter(|d| d.qtype() == qtype)
                .cloned()
                .collect();
            return if of_type.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(of_type)
            };
        }
        if let Some(ip) = self.pod_address(&name) {
            return if qtype == QType::A {
                Answer::Records(vec![Data::A(ip)])
            } else {
                Answer::NoData
            };
        }
        if self.names.contains(&name) {
            Answer::NoData
        } else {
            Answer::NxDomain
        }
    }

    /// `a-b-c-d.<ns>.pod.<zone>` in a namespace that exists: its address.
    fn pod_address(&self, name: &str) -> Option<Ipv4Addr> {
        let rest = name.strip_suffix(&format!(".pod.{}", self.domain))?;
        let (label, ns) = rest.split_once('.')?;
        if ns.contains('.') || !self.namespaces.contains(ns) {
            return None;
        }
        label.replace('-', ".").parse().ok()
    }

    /// Every name with its records, sorted: what the explainer lists.
    pub fn records(&self) -> impl Iterator<Item = (&str, &[Data])> {
        self.records.iter().map(|(n, d)| (n.as_str(), d.as_slice()))
    }
}

/// How a pod's resolver finds `name`: each candidate asked in turn and
/// what the zone says, up to the first with records (what glibc's
/// `getent hosts` does, for A).
pub fn resolve(zone: &Zone, conf: &ResolvConf, name: &str) -> Vec<(String, Answer)> {
    let mut out = Vec::new();
    for c in conf.candidates(name) {
        let a = zone.lookup(&c, QType::A);
        let found = matches!(a, Answer::Records(_));
        out.push((c, a));
        if found {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::scenario;

    fn svc(name: &str, kind: DnsKind, ports: &[(&str, Protocol, u16)]) -> DnsService {
        DnsService {
            namespace: "e2e".into(),
            name: name.into(),
            kind,
            ports: ports
                .iter()
                .map(|(n, p, x)| (n.to_string(), *p, *x))
                .collect(),
        }
    }

    #[test]
    fn web_through_the_search_list() {
        let c = scenario::service();
        let zone = Zone::of(&c);
        let conf = ResolvConf::cluster_first("default", CLUSTER_DOMAIN, DNS_IP);
        assert_eq!(
            conf.to_string(),
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        let steps = resolve(&zone, &conf, "web");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].0, "web.default.svc.cluster.local");
        let ip = c.service_named("default/web").unwrap().cluster_ip;
        assert_eq!(steps[0].1, Answer::Records(vec![Data::A(ip)]));
        // "web.default" tries web.default.default.svc… first: NXDOMAIN.
        let steps = resolve(&zone, &conf, "web.default");
        assert_eq!(
            steps[0],
            (
                "web.default.default.svc.cluster.local".into(),
                Answer::NxDomain
            )
        );
        assert_eq!(steps[1].0, "web.default.svc.cluster.local");
        // Fully qualified: asked once.
        assert_eq!(conf.candidates("example.org.").len(), 1);
        assert_eq!(conf.candidates("a.b.c.d.e.f")[0], "a.b.c.d.e.f");
        assert_eq!(
            zone.lookup(&reverse_name(ip), QType::Ptr),
            Answer::Records(vec![Data::Ptr("web.default.svc.cluster.local".into())])
        );
        assert_eq!(
            zone.lookup("_http._tcp.web.default.svc.cluster.local", QType::Srv),
            Answer::Records(vec![Data::Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "web.default.svc.cluster.local".into()
            }])
        );
    }

    #[test]
    fn answers_as_the_specification_says() {
        let services = [
            svc(
                "test-service-2",
                DnsKind::ClusterIp("10.96.0.42".parse().unwrap()),
                &[("http", Protocol::Tcp, 80)],
            ),
            svc(
                "dns-test-service",
                DnsKind::Headless(vec![
                    ("10.244.1.5".parse().unwrap(), Some("dns-querier-1".into())),
                    ("10.244.2.7".parse().unwrap(), None),
                ]),
                &[("http", Protocol::Tcp, 80)],
            ),
            svc("empty-headless", DnsKind::Headless(vec![]), &[]),
            svc(
                "dns-test-service-3",
                DnsKind::ExternalName("foo.example.com.".into()),
                &[],
            ),
        ];
        let z = Zone::new("cluster.local", &services, ["e2e".to_string()]);
        let a = |n: &str| z.lookup(n, QType::A);
        assert_eq!(
            a("Test-Service-2.E2E.svc.cluster.local."),
            Answer::Records(vec![Data::A("10.96.0.42".parse().unwrap())])
        );
        assert_eq!(
            a("dns-test-service.e2e.svc.cluster.local"),
            Answer::Records(vec![
                Data::A("10.244.1.5".parse().unwrap()),
                Data::A("10.244.2.7".parse().unwrap())
            ])
        );
        assert_eq!(
            a("dns-querier-1.dns-test-service.e2e.svc.cluster.local"),
            Answer::Records(vec![Data::A("10.244.1.5".parse().unwrap())])
        );
        assert_eq!(
            a("10-244-2-7.dns-test-service.e2e.svc.cluster.local"),
            Answer::Records(vec![Data::A("10.244.2.7".parse().unwrap())])
        );
        assert_eq!(a("empty-headless.e2e.svc.cluster.local"), Answer::NxDomain);
        assert_eq!(
            z.lookup(
                "_http._tcp.dns-test-service.e2e.svc.cluster.local",
                QType::Srv
            ),
            Answer::Records(vec![
                Data::Srv {
                    priority: 0,
                    weight: 50,
                    port: 80,
                    target: "dns-querier-1.dns-test-service.e2e.svc.cluster.local".into()
                },
                Data::Srv {
                    priority: 0,
                    weight: 50,
                    port: 80,
                    target: "10-244-2-7.dns-test-service.e2e.svc.cluster.local".into()
                },
            ])
        );
        assert_eq!(
            z.lookup("dns-test-service-3.e2e.svc.cluster.local", QType::Cname),
            Answer::Records(vec![Data::Cname("foo.example.com".into())])
        );
        assert_eq!(
            z.lookup("42.0.96.10.in-addr.arpa", QType::Ptr),
            Answer::Records(vec![Data::Ptr(
                "test-service-2.e2e.svc.cluster.local".into()
            )])
        );
        assert_eq!(
            a("10-244-1-5.e2e.pod.cluster.local"),
            Answer::Records(vec![Data::A("10.244.1.5".parse().unwrap())])
        );
        assert_eq!(a("10-244-1-5.nons.pod.cluster.local"), Answer::NxDomain);
        // Only a whole dashed address is a pod's name.
        for bad in [
            "1-2-3",
            "01-2-3-4",
            "1--2-3-4",
            "1-2-3-4-5",
            "300-1-1-1",
            "a-b-c-d",
        ] {
            assert_eq!(
                a(&format!("{bad}.e2e.pod.cluster.local")),
                Answer::NxDomain,
                "{bad}"
            );
        }
        assert_eq!(
            z.lookup("test-service-2.e2e.svc.cluster.local", QType::Other),
            Answer::NoData
        );
        assert_eq!(a("e2e.svc.cluster.local"), Answer::NoData);
        assert_eq!(a("nosuch.e2e.svc.cluster.local"), Answer::NxDomain);
        assert_eq!(a("example.com"), Answer::OutOfZone);
        assert_eq!(
            z.lookup("9.9.9.9.in-addr.arpa", QType::Ptr),
            Answer::OutOfZone
        );
        assert_eq!(
            z.lookup("dns-version.cluster.local", QType::Txt),
            Answer::Records(vec![Data::Txt("1.1.0".into())])
        );
    }
}

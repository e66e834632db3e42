//! What each scene shows, computed by podnet-core: never hand-written facts.
//!
//! [`SceneModel::build`] turns the parts of [`State`] a scene depends on into
//! a cluster, and where the scene sends a packet, its [`Trace`]; scene d also
//! gets the requirement [`Matrix`]. Bad sandbox input becomes an error text
//! and whatever part of the cluster could be built.

use std::rc::Rc;

use podnet_core::forward::{Matrix, Network, ProbeKind, Trace};
use podnet_core::join::{timeline, JoinStep};
use podnet_core::topology::{scenario, Backend, Cluster, Endpoint};

use crate::sandbox::SandboxSpec;
use crate::state::{Outside, PolicyCase, Scene, ServiceCase, State};

/// The inputs a scene's model depends on (the memo key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    scene: Scene,
    network_on: bool,
    recreated: u32,
    service: ServiceCase,
    outside: Outside,
    reply: bool,
    backend: Backend,
    sandbox: Option<SandboxSpec>,
    cell: Option<(String, String)>,
    policy: Option<PolicyCase>,
}

impl ModelKey {
    /// The key of a state.
    pub fn of(s: &State) -> ModelKey {
        ModelKey {
            scene: s.scene,
            network_on: s.network_on,
            recreated: s.recreated,
            service: if s.scene == Scene::Service {
                s.service
            } else {
                ServiceCase::default()
            },
            outside: s.outside,
            reply: s.reply && s.scene.has_reply(),
            backend: s.backend,
            sandbox: (s.scene == Scene::Sandbox).then(|| s.sandbox.clone()),
            cell: s.cell.clone().filter(|_| s.scene == Scene::Requirements),
            policy: (s.scene == Scene::Policy).then(|| s.policy.clone()),
        }
    }
}

/// A scene's data.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneModel {
    /// The cluster drawn.
    pub cluster: Rc<Cluster>,
    /// The packet, if the scene sends one.
    pub trace: Option<Rc<Trace>>,
    /// Who the packet was meant for.
    pub intended: Option<Endpoint>,
    /// The requirement matrix (scene d).
    pub matrix: Option<Rc<Matrix>>,
    /// What was wrong with the input.
    pub error: Option<String>,
    /// How the nodes join (scene j), step by step.
    pub join: Option<Rc<Vec<JoinStep>>>,
    /// What scene b2 lists beside its packet.
    pub service: Option<Rc<ServiceFacts>>,
    /// Scene g2's table and policies.
    pub policy: Option<Rc<PolicyFacts>>,
    /// The reply was asked for, but the request got nowhere: the request
    /// is shown.
    pub no_reply: bool,
}

/// Scene g2's facts, all from core: who reaches whom on one port under
/// the policies, each cell with the verdict that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFacts {
    /// The pods, `x/a` …, in the layout's order (the table's rows and columns).
    pub pods: Vec<String>,
    /// Each pod's node.
    pub nodes: Vec<String>,
    /// Row by row, on the chosen port and protocol: allowed or not, and
    /// why; none for a pod to itself (loopback: it never leaves the pod).
    pub cells: Vec<Option<(bool, String)>>,
    /// Of every pair on every port and protocol (TCP and UDP, 80 and 81):
    /// how many are allowed, of how many.
    pub allowed: (usize, usize),
    /// Each policy: its name, and what it isolates, in words.
    pub policies: Vec<(String, String)>,
    /// The pair whose packet plays.
    pub pair: (usize, usize),
}

/// Scene b2's facts, all from core: the endpoints with their odds,
/// kube-proxy's rules for the Service on the sending node, and its name.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFacts {
    /// `namespace/name`, ClusterIP and port, target port.
    pub name: String,
    /// Its ClusterIP.
    pub cluster_ip: String,
    /// The first port: `80/TCP -> 8080`.
    pub port: String,
    /// Its selector, as `app=web`.
    pub selector: String,
    /// Every endpoint in kube-proxy's order: pod, node, address, chance.
    pub endpoints: Vec<(String, String, String, f64)>,
    /// The `statistic` rules of its chain: the probability as the kernel
    /// prints it, and of how many endpoints it picks one.
    pub draws: Vec<(String, usize)>,
    /// The sending node's kube-proxy lines this packet can pass (the
    /// Service's own, the hooks, the marks and the masquerade).
    pub rules: Vec<String>,
    /// The node whose rules they are.
    pub node: String,
    /// pod-c's address before the last recreate, if it was recreated.
    pub before: Option<String>,
    /// pod-c's address now.
    pub now: String,
    /// The client's `/etc/resolv.conf`.
    pub resolv: String,
    /// What its resolver asks for `web`, and what cluster DNS answers.
    pub lookups: Vec<(String, String)>,
}

/// The packet from `from` to `to` (a node, pod or client, or a Service:
/// its ClusterIP), and who it was meant for (`None` for a Service, whose
/// rules choose).
fn probe(
    net: &Network,
    from: &str,
    to: &str,
    kind: ProbeKind,
) -> Result<(Trace, Option<Endpoint>), String> {
    let c = net.cluster();
    let src = c.endpoint_named(from).map_err(|e| e.to_string())?;
    if let Some(s) = c.service_named(to) {
        let t = net
            .probe(src, s.cluster_ip, kind)
            .map_err(|e| e.to_string())?;
        return Ok((t, None));
    }
    let dst = c.endpoint_named(to).map_err(|e| e.to_string())?;
    let ip = c.address_of(dst).ok_or("receiver has no address")?;
    Ok((
        net.probe(src, ip, kind).map_err(|e| e.to_string())?,
        Some(dst),
    ))
}

impl SceneModel {
    fn plain(cluster: Cluster) -> SceneModel {
        SceneModel {
            cluster: Rc::new(cluster),
            trace: None,
            intended: None,
            matrix: None,
            error: None,
            join: None,
            service: None,
            policy: None,
            no_reply: false,
        }
    }

    fn with_trace(cluster: Cluster, from: &str, to: &str, kind: ProbeKind) -> SceneModel {
        SceneModel::computed(cluster, Some((from, to, kind)), false)
    }

    /// The same scene with its packet's reply as the packet, meant for
    /// whoever sent the request (conntrack undoing its NAT on the way); a
    /// request that got nowhere has none, and stays ([`SceneModel::no_reply`]).
    fn into_reply(mut self) -> SceneModel {
        let Some(req) = self.trace.clone() else {
            return self;
        };
        match Network::new(&self.cluster).and_then(|n| n.reply(&req)) {
            Ok(Some(back)) => {
                self.intended = Some(req.from);
                self.trace = Some(Rc::new(back));
            }
            Ok(None) => self.no_reply = true,
            Err(e) => self.error = Some(e.to_string()),
        }
        self
    }

    /// The probe's trace and the matrix, from one compiled network: a
    /// large sandbox's compile is as long as its probe.
    fn computed(
        cluster: Cluster,
        sent: Option<(&str, &str, ProbeKind)>,
        matrix: bool,
    ) -> SceneModel {
        let mut m = SceneModel::plain(cluster);
        if sent.is_none() && !matrix {
            return m;
        }
        let cluster = m.cluster.clone();
        let net = match Network::new(&cluster) {
            Ok(n) => n,
            Err(e) => {
                m.error = Some(e.to_string());
                return m;
            }
        };
        if let Some((from, to, kind)) = sent {
            match probe(&net, from, to, kind) {
                Ok((t, dst)) => {
                    m.trace = Some(Rc::new(t));
                    m.intended = dst;
                }
                Err(e) => m.error = Some(e),
            }
        }
        if matrix {
            match Matrix::compute(&net) {
                Ok(x) => m.matrix = Some(Rc::new(x)),
                Err(e) => m.error = m.error.or(Some(e.to_string())),
            }
        }
        m
    }

    /// Computes a scene (in the full build: only what calls this links
    /// every scene's model).
    pub fn build(key: &ModelKey) -> SceneModel {
        let m = SceneModel::build_request(key);
        if key.reply {
            m.into_reply()
        } else {
            m
        }
    }

    /// What the page's build computes: scenes a and b, which draw a
    /// cluster and no packet (the others show a loader there,
    /// `scenes::on_demand`, and are computed by [`SceneModel::build`] in
    /// the full build).
    pub fn shell(key: &ModelKey) -> SceneModel {
        match key.scene {
            Scene::Node => SceneModel::plain(recreated(key.recreated)),
            _ => SceneModel::plain(scenario::one_node()),
        }
    }

    /// A scene with its packet as sent.
    fn build_request(key: &ModelKey) -> SceneModel {
        match key.scene {
            Scene::Pod => SceneModel::plain(scenario::one_node()),
            Scene::Node => SceneModel::plain(recreated(key.recreated)),
            Scene::Service => service_scene(key.service),
            Scene::Unconnected => SceneModel::with_trace(
                scenario::unconnected_nodes(),
                "pod-a",
                "pod-d",
                ProbeKind::Ping,
            ),
            Scene::Requirements => {
                let mut c = scenario::demo();
                c.set_backend(if key.network_on {
                    Backend::HostGw
                } else {
                    Backend::None
                });
                // A picked cell's ping plays in the player.
                let cell = key.cell.as_ref();
                let sent = cell.map(|(from, to)| (from.as_str(), to.as_str(), ProbeKind::Ping));
                SceneModel::computed(c, sent, true)
            }
            Scene::Ranges => SceneModel::plain(scenario::demo()),
            Scene::Packet => {
                SceneModel::with_trace(scenario::demo(), "pod-a", "pod-c", ProbeKind::Ping)
            }
            Scene::Overlay => {
                let c = scenario::routed(key.backend);
                SceneModel::computed(c, Some(("pod-a", "pod-c", ProbeKind::Ping)), true)
            }
            Scene::Outside => {
                let mut c = scenario::node_port();
                // As podnet-agent programs it: pods leave the cluster with their node's address.
                c.egress_masq = true;
                // The NodePort's packet is for node1; core's verdict says
                // its Service handed it to pod-d.
                match key.outside {
                    Outside::ViaNode => {
                        SceneModel::with_trace(c, "node1", "pod-c", ProbeKind::TcpSyn(8080))
                    }
                    Outside::NodePort => {
                        SceneModel::with_trace(c, "laptop", "node1", ProbeKind::TcpSyn(30080))
                    }
                    Outside::Direct => {
                        SceneModel::with_trace(c, "laptop", "pod-d", ProbeKind::TcpSyn(8080))
                    }
                    Outside::Egress => {
                        SceneModel::with_trace(c, "pod-a", "laptop", ProbeKind::TcpSyn(80))
                    }
                }
            }
            Scene::Policy => policy_scene(key.policy.clone().unwrap_or_default()),
            Scene::Sandbox => sandbox(key.sandbox.as_ref().cloned().unwrap_or_default()),
            // The live scene draws what the lab's server reports, not a model.
            Scene::Live => SceneModel::plain(scenario::demo()),
            Scene::Join => {
                let mut m = SceneModel::plain(scenario::demo());
                let c = &m.cluster;
                let names: Vec<&str> = c.nodes().iter().map(|n| n.name.as_str()).collect();
                match timeline(c.cidr(), c.node_prefix(), &names) {
                    Ok(steps) => m.join = Some(Rc::new(steps)),
                    Err(e) => m.error = Some(e.to_string()),
                }
                m
            }
        }
    }
}

/// Scene g2: the layout under the case's policies, the table on its
/// port, and the packet of its pair (by default the first one denied).
fn policy_scene(case: PolicyCase) -> SceneModel {
    use podnet_core::policy::{layout, manifest, PolicyProtocol};
    let mut c = scenario::netpol();
    let built = manifest::read(&case.yaml, "default")
        .map_err(|e| e.to_string())
        .and_then(|policies| {
            c.set_policies(policies.clone())
                .map_err(|e| e.to_string())?;
            layout::truth_table(policies).map_err(|e| e.to_string())
        });
    let (_, cells) = match built {
        Ok(t) => t,
        Err(e) => {
            let mut m = SceneModel::plain(c);
            m.error = Some(e);
            return m;
        }
    };
    let protocol = if case.udp {
        PolicyProtocol::Udp
    } else {
        PolicyProtocol::Tcp
    };
    let pods = c.pods().to_vec();
    let n = pods.len();
    let table: Vec<Option<(bool, String)>> = cells
        .iter()
        .filter(|x| x.port == case.port && x.protocol == protocol)
        .map(|x| x.verdict.as_ref().map(|v| (v.allowed(), v.explain())))
        .collect();
    let cross = cells.iter().filter(|x| x.verdict.is_some());
    let allowed = (cross.clone().filter(|x| x.allowed()).count(), cross.count());
    let first_denied = table
        .iter()
        .position(|x| matches!(x, Some((false, _))))
        .map(|k| (k / n, k % n));
    let pair = case
        .pair
        .map(|(a, b)| (usize::from(a), usize::from(b)))
        .filter(|&(a, b)| a < n && b < n)
        .or(first_denied)
        // Nothing denied: x/a to x/c, across the nodes.
        .unwrap_or((0, 2));
    let policies = c
        .policies()
        .iter()
        .map(|p| {
            let (ingress, egress) = p.types();
            let selected: Vec<String> = pods
                .iter()
                .filter(|pod| p.selects(&pod.namespace, &pod.labels))
                .map(|pod| pod.full_name())
                .collect();
            let ways = match (ingress, egress) {
                (true, true) => "ingress and egress",
                (true, false) => "ingress",
                (false, true) => "egress",
                (false, false) => "nothing",
            };
            let what = if selected.is_empty() {
                "selects no pod: isolates nothing".to_string()
            } else {
                format!("isolates {} for {ways}", selected.join(", "))
            };
            (p.full_name(), what)
        })
        .collect();
    let facts = PolicyFacts {
        pods: pods.iter().map(|p| p.full_name()).collect(),
        nodes: pods
            .iter()
            .map(|p| c.node(p.node).map_or_else(String::new, |x| x.name.clone()))
            .collect(),
        cells: table,
        allowed,
        policies,
        pair,
    };
    let kind = if case.udp {
        ProbeKind::Udp(case.port)
    } else {
        ProbeKind::TcpSyn(case.port)
    };
    let (from, to) = (pods[pair.0].clone(), pods[pair.1].clone());
    let mut m = SceneModel::plain(c);
    if pair.0 != pair.1 {
        let sent = Network::new(&m.cluster)
            .and_then(|net| net.probe(Endpoint::Pod(from.id), to.ip, kind))
            .map_err(|e| e.to_string());
        match sent {
            Ok(t) => {
                m.trace = Some(Rc::new(t));
                m.intended = Some(Endpoint::Pod(to.id));
            }
            Err(e) => m.error = Some(e),
        }
    }
    m.policy = Some(Rc::new(facts));
    m
}

/// Scene b: the one-node cluster after pod "web" was deleted and created `times` times.
pub fn recreated(times: u32) -> Cluster {
    let mut c = scenario::one_node();
    for _ in 0..times.min(1000) {
        let (Some(web), Some(node)) = (
            c.pod_named("web").map(|p| p.id),
            c.node_named("node1").map(|n| n.id),
        ) else {
            break;
        };
        if c.remove_pod(web).is_err()
            || c.add_pod_in(node, "default", "web", &["nginx", "log-shipper"])
                .is_err()
        {
            break;
        }
    }
    c
}

/// Scene b2's cluster: the Service scenario after pod-c was deleted and
/// created again `times` times (its labels with it: the endpoints follow).
pub fn service_cluster(times: u32) -> Cluster {
    let mut c = scenario::service();
    for _ in 0..times.min(1000) {
        let (Some(pod), Some(node)) = (
            c.pod_named("pod-c").cloned(),
            c.node_named("node2").map(|n| n.id),
        ) else {
            break;
        };
        let again = c
            .remove_pod(pod.id)
            .and_then(|()| c.add_pod_in(node, &pod.namespace, &pod.name, &["web"]))
            .and_then(|id| c.set_pod_labels(id, pod.labels.clone()));
        if again.is_err() {
            break;
        }
    }
    c
}

/// Scene b2: a client pod to the Service's ClusterIP, following the
/// endpoint the case picks (or the reply), with the facts beside it.
fn service_scene(case: ServiceCase) -> SceneModel {
    use podnet_core::services::{choices, dns, render};
    let cluster = service_cluster(case.recreated);
    let mut m = SceneModel::plain(cluster.clone());
    let built = (|| -> Result<(ServiceFacts, Trace, Endpoint), String> {
        let c = &cluster;
        let svc = c.service_named("default/web").ok_or("no Service web")?;
        let port = svc.ports.first().ok_or("Service web has no port")?;
        let odds = choices(c, svc, port);
        let client_name = if case.hairpin { "pod-b" } else { "pod-a" };
        let client = c.pod_named(client_name).ok_or("no client pod")?;
        let pick = if case.hairpin {
            odds.iter()
                .position(|(e, _)| e.pod == Some(client.id))
                .unwrap_or(0)
        } else {
            usize::from(case.pick).min(odds.len().saturating_sub(1))
        };
        let net = Network::new(c).map_err(|e| e.to_string())?;
        let kind = ProbeKind::TcpSyn(port.port);
        let req = net
            .probe_picking(Endpoint::Pod(client.id), svc.cluster_ip, kind, pick)
            .map_err(|e| e.to_string())?;
        let picked = odds
            .get(pick)
            .and_then(|(e, _)| e.pod)
            .map_or(Endpoint::Pod(client.id), Endpoint::Pod);
        let (trace, intended) = if case.reply {
            let back = net.reply(&req).map_err(|e| e.to_string())?;
            (
                back.ok_or("the request got nowhere: no reply")?,
                Endpoint::Pod(client.id),
            )
        } else {
            (req, picked)
        };
        let node = c.node(client.node).ok_or("no node")?;
        let label = format!("{}/{}:{}", svc.namespace, svc.name, port.name);
        let rules = render(c, node)
            .nat_lines()
            .into_iter()
            .filter(|l| {
                l.contains(&format!("\"{label}"))
                    || [
                        "-A KUBE-MARK-MASQ ",
                        "-A KUBE-POSTROUTING ",
                        "-A PREROUTING ",
                        "-A OUTPUT ",
                        "-A POSTROUTING ",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect();
        let n = odds.len();
        let draws = (0..n.saturating_sub(1))
            .map(|i| {
                (
                    podnet_core::services::rules::Probability::one_in(n - i).to_string(),
                    n - i,
                )
            })
            .collect();
        let endpoints = odds
            .iter()
            .map(|(e, p)| {
                let pod = e.pod.and_then(|id| c.pod(id));
                (
                    pod.map_or_else(|| e.addr.ip().to_string(), |p| p.name.clone()),
                    pod.and_then(|p| c.node(p.node))
                        .map_or_else(String::new, |n| n.name.clone()),
                    e.addr.to_string(),
                    *p,
                )
            })
            .collect();
        let ip_of = |times: u32| {
            service_cluster(times)
                .pod_named("pod-c")
                .map(|p| p.ip.to_string())
                .unwrap_or_default()
        };
        let conf =
            dns::ResolvConf::cluster_first(&client.namespace, dns::CLUSTER_DOMAIN, dns::DNS_IP);
        let zone = dns::Zone::of(c);
        let lookups = dns::resolve(&zone, &conf, &svc.name)
            .into_iter()
            .map(|(name, a)| {
                let said = match a {
                    dns::Answer::Records(r) => r
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    dns::Answer::NoData => "no record of that type".into(),
                    dns::Answer::NxDomain => "NXDOMAIN: no such name".into(),
                    dns::Answer::OutOfZone => "not cluster DNS's".into(),
                };
                (name, said)
            })
            .collect();
        let facts = ServiceFacts {
            name: svc.full_name(),
            cluster_ip: svc.cluster_ip.to_string(),
            port: format!(
                "{}/{} -> {}",
                port.port,
                port.protocol.name().to_uppercase(),
                port.target
            ),
            selector: svc
                .selector
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            endpoints,
            draws,
            rules,
            node: node.name.clone(),
            before: (case.recreated > 0).then(|| ip_of(case.recreated - 1)),
            now: ip_of(case.recreated),
            resolv: conf.to_string(),
            lookups,
        };
        Ok((facts, trace, intended))
    })();
    match built {
        Ok((facts, trace, intended)) => {
            m.service = Some(Rc::new(facts));
            m.trace = Some(Rc::new(trace));
            m.intended = Some(intended);
        }
        Err(e) => m.error = Some(e),
    }
    m
}

/// The sandbox's scene: its cluster as [`crate::sandbox::build`] made it,
/// the packet and the matrix.
pub fn sandbox(spec: SandboxSpec) -> SceneModel {
    let b = crate::sandbox::build(spec);
    let sent = b
        .sent
        .as_ref()
        .map(|(from, to, kind)| (from.as_str(), to.as_str(), *kind));
    let mut m = SceneModel::computed(b.cluster, sent, b.matrix);
    m.error = b.error.or(m.error);
    if sent.is_none() {
        m.error = m
            .error
            .or_else(|| Some("pick a sender and a receiver".into()));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::forward::Verdict;

    fn build(s: &State) -> SceneModel {
        SceneModel::build(&ModelKey::of(s))
    }

    #[test]
    fn scene_g_plays_the_reply_with_conntrack_undoing_the_nat() {
        use podnet_core::forward::Step;
        let at = |outside, reply| {
            build(&State {
                scene: Scene::Outside,
                outside,
                reply,
                ..State::default()
            })
        };
        let m = at(Outside::NodePort, true);
        assert_eq!(m.error, None);
        let t = m.trace.clone().unwrap();
        let laptop = m.cluster.endpoint_named("laptop").unwrap();
        assert_eq!(t.verdict, Verdict::Delivered { to: laptop });
        assert_eq!(m.intended, Some(laptop));
        let undone = |f: fn(&Step) -> bool| t.hops.iter().filter(|h| f(&h.step)).count();
        assert_eq!(undone(|s| matches!(s, Step::UnSnat { .. })), 1);
        assert_eq!(undone(|s| matches!(s, Step::UnDnat { .. })), 1);
        // The request was dropped: no reply, and it says so.
        let m = at(Outside::Direct, true);
        assert!(m.no_reply && m.error.is_none());
        // The URL keeps it.
        let st = State {
            scene: Scene::Outside,
            outside: Outside::Egress,
            reply: true,
            ..State::default()
        };
        assert!(State::from_query(&st.to_query()).reply);
        // Any scene with a packet: the cross-node one comes back to pod-a.
        let m = build(&State {
            scene: Scene::Packet,
            reply: true,
            ..State::default()
        });
        let pod_a = m.cluster.endpoint_named("pod-a").unwrap();
        assert_eq!(m.trace.unwrap().verdict, Verdict::Delivered { to: pod_a });
    }

    #[test]
    fn every_scene_builds_without_error() {
        for scene in Scene::ALL {
            for network_on in [false, true] {
                let m = build(&State {
                    scene,
                    network_on,
                    ..State::default()
                });
                assert_eq!(m.error, None, "{scene:?}");
            }
        }
    }

    #[test]
    fn scene_b2_follows_the_picked_endpoint_its_reply_and_the_hairpin() {
        use crate::state::ServiceCase;
        let at = |service: ServiceCase| {
            build(&State {
                scene: Scene::Service,
                service,
                ..State::default()
            })
        };
        let m = at(ServiceCase::default());
        let f = m.service.clone().unwrap();
        assert_eq!(f.endpoints.len(), 3);
        assert_eq!(f.endpoints[1].0, "pod-c");
        assert!(f
            .rules
            .iter()
            .any(|l| l.contains("--probability 0.33333333349")));
        assert_eq!(
            f.lookups[0],
            (
                "web.default.svc.cluster.local".to_string(),
                "A 10.96.0.20".to_string()
            )
        );
        let t = m.trace.clone().unwrap();
        println!("{}", t.summary(&m.cluster, m.intended).text);
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: m.intended.unwrap()
            }
        );
        assert!(!t.rules.is_empty(), "the rules that acted are named");
        let reply = at(ServiceCase {
            reply: true,
            ..ServiceCase::default()
        });
        let r = reply.trace.clone().unwrap();
        println!("{}", r.summary(&reply.cluster, reply.intended).text);
        assert_eq!(
            r.verdict,
            Verdict::Delivered {
                to: reply.intended.unwrap()
            }
        );
        let hp = at(ServiceCase {
            hairpin: true,
            ..ServiceCase::default()
        });
        let h = hp.trace.clone().unwrap();
        println!("{}", h.summary(&hp.cluster, hp.intended).text);
        for hop in h.hops.iter() {
            println!("{}", podnet_core::forward::describe(&hop.step, &hp.cluster));
        }
        assert_eq!(
            h.verdict,
            Verdict::Delivered {
                to: hp.intended.unwrap()
            }
        );
        let again = at(ServiceCase {
            recreated: 1,
            ..ServiceCase::default()
        })
        .service
        .unwrap();
        assert_ne!(again.now, f.now, "a recreated pod has a new address");
        assert_eq!(again.before.as_deref(), Some(f.now.as_str()));
        assert_eq!(again.cluster_ip, f.cluster_ip, "the ClusterIP stays");
        assert!(
            again.endpoints.iter().any(|e| e.2.starts_with(&again.now)),
            "the endpoints follow"
        );
    }

    #[test]
    fn scene_c_delivers_to_the_wrong_pod_and_f_to_the_right_one() {
        let c = build(&State {
            scene: Scene::Unconnected,
            ..State::default()
        });
        let t = c.trace.unwrap();
        assert_ne!(
            t.verdict,
            Verdict::Delivered {
                to: c.intended.unwrap()
            }
        );
        let f = build(&State {
            scene: Scene::Packet,
            ..State::default()
        });
        assert_eq!(
            f.trace.unwrap().verdict,
            Verdict::Delivered {
                to: f.intended.unwrap()
            }
        );
    }

    #[test]
    fn a_pod_reaching_outside_leaves_with_its_node_s_address() {
        let m = build(&State {
            scene: Scene::Outside,
            outside: Outside::Egress,
            ..State::default()
        });
        let t = m.trace.unwrap();
        assert!(t
            .hops
            .iter()
            .any(|h| matches!(h.step, podnet_core::forward::Step::Snat { .. })));
        assert_eq!(
            t.summary(&m.cluster, m.intended).text,
            "Delivered to laptop; source rewritten from 10.244.1.2 to 192.168.1.11 (NAT)."
        );
    }

    #[test]
    fn the_overlay_scene_fails_with_host_gw_and_delivers_with_vxlan() {
        let at = |backend| {
            build(&State {
                scene: Scene::Overlay,
                backend,
                ..State::default()
            })
        };
        let hg = at(Backend::HostGw);
        assert!(matches!(hg.trace.unwrap().verdict, Verdict::Dropped { .. }));
        for b in [Backend::Vxlan, Backend::Auto] {
            let m = at(b);
            let t = m.trace.unwrap();
            assert_eq!(
                t.verdict,
                Verdict::Delivered {
                    to: m.intended.unwrap()
                }
            );
            assert!(t.encapsulated());
            assert!(m.matrix.unwrap().requirements().met());
        }
    }

    #[test]
    fn the_sandbox_spreads_nodes_over_lans_with_a_backend() {
        let spec = |backend| SandboxSpec {
            pods: vec![Some(1), Some(1), Some(1)],
            from: "p1-1".into(),
            to: "p2-1".into(),
            backend,
            lans: 2,
            ..SandboxSpec::default()
        };
        let hg = sandbox(spec(Backend::HostGw));
        assert_eq!(hg.cluster.lans().len(), 2);
        assert!(matches!(hg.trace.unwrap().verdict, Verdict::Dropped { .. }));
        let vx = sandbox(spec(Backend::Vxlan));
        assert!(matches!(
            vx.trace.unwrap().verdict,
            Verdict::Delivered { .. }
        ));
    }

    #[test]
    fn recreating_a_pod_changes_its_address() {
        let ip = |n| recreated(n).pod_named("web").unwrap().ip;
        assert_ne!(ip(0), ip(1));
        assert_ne!(ip(1), ip(2));
    }

    #[test]
    fn bad_sandbox_input_is_an_error_not_a_panic() {
        let bad = |f: fn(&mut SandboxSpec)| {
            let mut s = SandboxSpec::default();
            f(&mut s);
            sandbox(s).error.unwrap_or_default()
        };
        assert!(bad(|s| s.cidr = "10.244.0.0/33".into()).contains("/33"));
        assert!(bad(|s| s.prefix = "8".into()).contains("node prefix /8"));
        assert!(bad(|s| s.prefix = "abc".into()).contains("not a number"));
        assert!(
            bad(|s| s.prefix = "30".into()).contains("no free address"),
            "{}",
            bad(|s| s.prefix = "30".into())
        );
        assert!(bad(|s| {
            s.cidr = "10.244.0.0/23".into();
            s.pods = vec![Some(1), Some(1), Some(1)];
        })
        .contains("exhausted"));
        assert!(bad(|s| s.from = "nobody".into()).contains("sender"));
        assert_eq!(bad(|_| {}), "");
    }

    #[test]
    fn removing_a_node_keeps_the_others_names_ranges_and_the_receiver() {
        let before = sandbox(SandboxSpec::default());
        let after = sandbox(SandboxSpec {
            pods: vec![Some(2), None, Some(1)],
            ..SandboxSpec::default()
        });
        let range = |m: &SceneModel, n: &str| m.cluster.node_named(n).map(|n| n.pod_range);
        assert_eq!(range(&after, "node3"), range(&before, "node3"));
        assert_eq!(range(&after, "node2"), None);
        assert_eq!(after.cluster.nodes().len(), 2);
        assert!(after.trace.is_some(), "p1-1 -> p3-1 is still the packet");
        assert_eq!(after.error, None);
    }

    #[test]
    fn a_full_node_keeps_the_rest_of_the_cluster_and_the_packet() {
        let m = sandbox(SandboxSpec {
            prefix: "29".into(),
            pods: vec![Some(2), Some(9), Some(1)],
            ..SandboxSpec::default()
        });
        assert!(
            m.error.as_deref().unwrap_or_default().contains("p2-"),
            "{:?}",
            m.error
        );
        assert!(m.cluster.node_named("node3").is_some());
        assert!(m.trace.is_some(), "the player stays");
    }

    #[test]
    fn a_big_sandbox_builds() {
        let m = sandbox(SandboxSpec {
            pods: vec![Some(30); 20],
            to: "p20-30".into(),
            ..SandboxSpec::default()
        });
        assert_eq!(m.error, None);
        assert_eq!(m.cluster.pods().len(), 600);
        assert!(m.trace.is_some());
    }
}

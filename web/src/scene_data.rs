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
use crate::state::{Outside, Scene, State};

/// The inputs a scene's model depends on (the memo key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    scene: Scene,
    network_on: bool,
    recreated: u32,
    outside: Outside,
    backend: Backend,
    sandbox: Option<SandboxSpec>,
    cell: Option<(String, String)>,
}

impl ModelKey {
    /// The key of a state.
    pub fn of(s: &State) -> ModelKey {
        ModelKey {
            scene: s.scene,
            network_on: s.network_on,
            recreated: s.recreated,
            outside: s.outside,
            backend: s.backend,
            sandbox: (s.scene == Scene::Sandbox).then(|| s.sandbox.clone()),
            cell: s.cell.clone().filter(|_| s.scene == Scene::Requirements),
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
}

fn probe(
    net: &Network,
    from: &str,
    to: &str,
    kind: ProbeKind,
) -> Result<(Trace, Endpoint), String> {
    let c = net.cluster();
    let (src, dst) = (c.endpoint_named(from), c.endpoint_named(to));
    let (src, dst) = (
        src.map_err(|e| e.to_string())?,
        dst.map_err(|e| e.to_string())?,
    );
    let ip = c.address_of(dst).ok_or("receiver has no address")?;
    Ok((net.probe(src, ip, kind).map_err(|e| e.to_string())?, dst))
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
        }
    }

    fn with_trace(cluster: Cluster, from: &str, to: &str, kind: ProbeKind) -> SceneModel {
        SceneModel::computed(cluster, Some((from, to, kind)), false)
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
                    m.intended = Some(dst);
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

    /// Computes a scene.
    pub fn build(key: &ModelKey) -> SceneModel {
        match key.scene {
            Scene::Pod => SceneModel::plain(scenario::one_node()),
            Scene::Node => SceneModel::plain(recreated(key.recreated)),
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

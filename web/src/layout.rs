//! Where things are drawn: a pure function of the cluster, so it is tested natively.
//!
//! Nodes stand side by side; inside each, pods on top, their veths down to
//! the bridge (cni0), the node's kernel (routing) below it, eth0 at the
//! bottom, and the LAN joining every eth0 and the outside clients. With
//! several LANs, each LAN's nodes stand together over their own segment of
//! the LAN line, and the router sits below the gaps, wired to every segment.

use std::collections::HashMap;

use podnet_core::forward::{Hop, Place};
use podnet_core::topology::{ClientId, Cluster, NodeId, PodId};

/// Height of a node's box.
pub const NODE_H: f64 = 250.0;
const TOP: f64 = 20.0;
const GAP: f64 = 40.0;
/// Pod box height.
pub const POD_H: f64 = 56.0;

/// A rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// Centre.
    pub fn center(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// Positions of everything in a cluster drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
    /// Node boxes, in cluster order.
    pub nodes: Vec<(NodeId, Rect)>,
    /// Pod boxes.
    pub pods: HashMap<PodId, Rect>,
    /// Client boxes.
    pub clients: HashMap<ClientId, Rect>,
    /// y of the LAN line.
    pub lan_y: f64,
    /// Each LAN's segment of the line: (index, x from, x to).
    pub lans: Vec<(u8, f64, f64)>,
    /// The router's box, when there is more than one LAN.
    pub router: Option<Rect>,
}

impl Layout {
    /// y of the bridge bar in a node box at `top`.
    pub fn bridge_y(top: f64) -> f64 {
        top + 130.0
    }

    /// y of the kernel (routing) circle.
    pub fn kernel_y(top: f64) -> f64 {
        top + 180.0
    }

    /// y of the eth0 box centre.
    pub fn eth0_y(top: f64) -> f64 {
        top + 226.0
    }

    /// Centre of a node's VTEP box: right of the routing circle, halfway down to eth0.
    pub fn vtep_center(node: Rect) -> (f64, f64) {
        let x = node.center().0 + node.w * 0.3;
        (x, (Layout::kernel_y(node.y) + Layout::eth0_y(node.y)) / 2.0)
    }

    /// y of the veth midpoint.
    pub fn veth_y(top: f64) -> f64 {
        top + 34.0 + POD_H + 20.0
    }

    /// Lays out a cluster.
    pub fn new(c: &Cluster) -> Layout {
        let mut x = 20.0;
        let mut nodes = Vec::new();
        let mut pods = HashMap::new();
        let mut lans: Vec<(u8, f64, f64)> = Vec::new();
        let lan_y = TOP + NODE_H + 36.0;
        let mut clients = HashMap::new();
        let mut place_clients = |x: &mut f64, routed: bool| {
            for cl in c.clients() {
                if routed && c.lan_of(cl.ip).unwrap_or(0) != 0 {
                    continue;
                }
                clients.insert(
                    cl.id,
                    Rect {
                        x: *x,
                        y: lan_y + 24.0,
                        w: 150.0,
                        h: 48.0,
                    },
                );
                *x += 150.0 + GAP;
            }
        };
        // Behind a router the first LAN's clients stand at its left end, so
        // the router can sit in the gap after it.
        let routed = c.lans().len() > 1;
        if routed {
            place_clients(&mut x, true);
        }
        let mut order: Vec<_> = c.nodes().iter().collect();
        // Stable: within a LAN, cluster order.
        order.sort_by_key(|n| n.lan);
        for n in order {
            match lans.last_mut() {
                Some(l) if l.0 == n.lan => {}
                last => {
                    if let Some(l) = last {
                        l.2 = x - GAP / 2.0;
                        x += GAP * 2.0;
                    }
                    lans.push((n.lan, x - GAP / 2.0 + 10.0, 0.0));
                }
            }
            let mine: Vec<_> = c.pods_on(n.id).collect();
            let pod_w = if mine.len() <= 4 { 104.0 } else { 44.0 };
            let step = pod_w + 12.0;
            let w = (mine.len() as f64 * step + 24.0).max(280.0);
            let rect = Rect {
                x,
                y: TOP,
                w,
                h: NODE_H,
            };
            let start = x + (w - mine.len() as f64 * step + 12.0) / 2.0;
            for (i, p) in mine.iter().enumerate() {
                pods.insert(
                    p.id,
                    Rect {
                        x: start + i as f64 * step,
                        y: TOP + 34.0,
                        w: pod_w,
                        h: POD_H,
                    },
                );
            }
            nodes.push((n.id, rect));
            x += w + GAP;
        }
        if let Some(l) = lans.last_mut() {
            l.2 = x - GAP / 2.0;
        }
        // Under the gap after the first LAN's segment, wired to every segment.
        let router = (c.lans().len() > 1 && lans.len() > 1).then(|| {
            let mid = (lans[0].2 + lans[1].1) / 2.0;
            Rect {
                x: mid - 80.0,
                y: lan_y + 30.0,
                w: 160.0,
                h: 40.0,
            }
        });
        if lans.is_empty() {
            lans.push((0, 10.0, x));
        }
        if routed {
            if let Some(l) = lans.iter_mut().find(|l| l.0 == 0) {
                l.1 = 10.0;
            }
        } else {
            place_clients(&mut x, false);
        }
        let width = x.max(400.0);
        if lans.len() == 1 {
            lans[0] = (lans[0].0, 10.0, width - 10.0);
        }
        Layout {
            width,
            // Room under the LAN only where clients or the router hang off it.
            height: if clients.is_empty() && router.is_none() {
                lan_y + 16.0
            } else {
                lan_y + 96.0
            },
            nodes,
            pods,
            clients,
            lan_y,
            lans,
            router,
        }
    }

    fn node(&self, id: NodeId) -> Option<Rect> {
        self.nodes.iter().find(|(n, _)| *n == id).map(|(_, r)| *r)
    }

    /// Where a place is, if it is drawn (the LAN has no single point: `None`).
    pub fn point(&self, c: &Cluster, place: Place) -> Option<(f64, f64)> {
        let node_of_pod = |p: PodId| c.pod(p).and_then(|p| self.node(p.node));
        match place {
            Place::Pod(p) => self.pods.get(&p).map(Rect::center),
            Place::Veth(p) => Some((
                self.pods.get(&p)?.center().0,
                Layout::veth_y(node_of_pod(p)?.y),
            )),
            Place::Bridge(n) => self.node(n).map(|r| (r.center().0, Layout::bridge_y(r.y))),
            Place::Node(n) => self.node(n).map(|r| (r.center().0, Layout::kernel_y(r.y))),
            Place::Uplink(n) => self.node(n).map(|r| (r.center().0, Layout::eth0_y(r.y))),
            Place::Vtep(n) => self.node(n).map(Layout::vtep_center),
            Place::Client(id) => self.clients.get(&id).map(Rect::center),
            Place::Router => self.router.map(|r| r.center()),
            Place::Lan(_) => None,
        }
    }

    /// One point per hop. A bridge hop sits above the veth it comes from or
    /// goes to; a LAN hop halfway between the machines it joins.
    pub fn hop_points(&self, c: &Cluster, hops: &[Hop]) -> Vec<(f64, f64)> {
        let raw: Vec<Option<(f64, f64)>> = hops.iter().map(|h| self.point(c, h.place)).collect();
        let near = |i: usize, back: bool| -> Option<(f64, f64)> {
            if back {
                raw[..i].iter().rev().flatten().next().copied()
            } else {
                raw[i + 1..].iter().flatten().next().copied()
            }
        };
        hops.iter()
            .enumerate()
            .map(|(i, h)| match h.place {
                Place::Lan(_) => match (near(i, true), near(i, false)) {
                    (Some(a), Some(b)) => ((a.0 + b.0) / 2.0, self.lan_y),
                    (Some(a), None) | (None, Some(a)) => (a.0, self.lan_y),
                    (None, None) => (self.width / 2.0, self.lan_y),
                },
                Place::Bridge(_) => {
                    let (_, y) = raw[i].unwrap_or((0.0, 0.0));
                    let veth = [i.checked_sub(1), Some(i + 1)]
                        .into_iter()
                        .flatten()
                        .find_map(|j| {
                            // Lazily: a packet dropped at the bridge has no hop after it.
                            hops.get(j)
                                .filter(|h| matches!(h.place, Place::Veth(_)))
                                .and_then(|_| raw[j])
                        });
                    (veth.or(raw[i]).map_or(0.0, |p| p.0), y)
                }
                _ => raw[i].unwrap_or((0.0, 0.0)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::forward::{Network, ProbeKind};
    use podnet_core::topology::{scenario, Endpoint};

    #[test]
    fn a_packet_dropped_at_the_bridge_has_a_point_for_every_hop() {
        // p1-1 asking its own Service with hairpin off: DNAT, SNAT, then
        // dropped at the bridge, with no veth hop after it.
        let s = crate::challenges::by_key("hairpin").unwrap().start();
        let m = crate::scene_data::sandbox(crate::sandbox::SandboxSpec {
            from: "p1-1".into(),
            to: "web".into(),
            proto: podnet_core::forward::Proto::Tcp,
            ..s
        });
        let t = m.trace.expect("a packet");
        let last = &t.hops[t.hops.len() - 2..];
        assert!(
            last.iter().all(|h| matches!(h.place, Place::Bridge(_))),
            "{last:?}"
        );
        let l = Layout::new(&m.cluster);
        assert_eq!(l.hop_points(&m.cluster, &t.hops).len(), t.hops.len());
    }

    #[test]
    fn two_lans_stand_apart_with_the_router_between() {
        let c = scenario::routed(podnet_core::topology::Backend::Vxlan);
        let l = Layout::new(&c);
        assert_eq!(l.lans.len(), 2);
        let (a, b) = (l.lans[0], l.lans[1]);
        assert!(a.2 < b.1, "segments do not overlap: {a:?} {b:?}");
        let r = l.router.expect("a router");
        assert!(r.x < b.1 && r.x + r.w > a.2, "the router spans the gap");
        // node2 (LAN 2) is drawn after node1 and node3 (LAN 1).
        let x = |name: &str| {
            let id = c.node_named(name).unwrap().id;
            l.nodes.iter().find(|(n, _)| *n == id).unwrap().1.x
        };
        assert!(x("node1") < x("node3") && x("node3") < x("node2"));
        let net = Network::new(&c).unwrap();
        let (p, q) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
        let t = net
            .probe(Endpoint::Pod(p.id), q.ip, ProbeKind::Ping)
            .unwrap();
        let pts = l.hop_points(&c, &t.hops);
        let at = t
            .hops
            .iter()
            .position(|h| h.place == Place::Router)
            .unwrap();
        assert_eq!(pts[at], r.center());
        assert!(pts
            .iter()
            .all(|p| p.0 > 0.0 && p.0 < l.width && p.1 > 0.0 && p.1 < l.height));
    }

    #[test]
    fn every_hop_of_a_cross_node_trace_has_a_distinct_sensible_point() {
        let c = scenario::node_port();
        let l = Layout::new(&c);
        assert_eq!(l.nodes.len(), 2);
        assert!(
            l.nodes[0].1.x + l.nodes[0].1.w < l.nodes[1].1.x,
            "nodes do not overlap"
        );
        let net = Network::new(&c).unwrap();
        let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
        let t = net
            .probe(Endpoint::Pod(a.id), cpod.ip, ProbeKind::Ping)
            .unwrap();
        let pts = l.hop_points(&c, &t.hops);
        assert_eq!(pts.len(), t.hops.len());
        for p in &pts {
            assert!(
                p.0 > 0.0 && p.0 < l.width && p.1 > 0.0 && p.1 < l.height,
                "{p:?}"
            );
        }
        assert_eq!(pts.first(), l.pods.get(&a.id).map(Rect::center).as_ref());
        assert_eq!(pts.last(), l.pods.get(&cpod.id).map(Rect::center).as_ref());
        let bare = Layout::new(&scenario::demo());
        assert!(
            bare.height < l.height,
            "no blank band under the LAN without clients"
        );
        assert!(bare.height > bare.lan_y);
        let lan = t
            .hops
            .iter()
            .position(|h| h.place == Place::Lan(0))
            .unwrap();
        assert!(
            pts[lan].0 > pts[0].0 && pts[lan].0 < pts[pts.len() - 1].0,
            "LAN hop between the nodes"
        );
    }
}

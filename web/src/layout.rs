//! Where things are drawn: a pure function of the cluster, so it is tested natively.
//!
//! Nodes stand side by side; inside each, pods on top, their veths down to
//! the bridge (cni0), the node's kernel (routing) below it, eth0 at the
//! bottom, and the LAN joining every eth0 and the outside clients. With
//! several LANs, each LAN's nodes stand together over their own segment of
//! the LAN line, and the router sits below the gaps, wired to every segment.
//! [`Layout::fit`] stands the nodes in rows instead, the overview of a large
//! cluster: each row has its own piece of the LAN line, and a LAN that
//! spans rows joins its pieces with a trunk at the left.

use std::collections::HashMap;

use podnet_core::forward::{Hop, Place};
use podnet_core::topology::{ClientId, Cluster, NodeId, PodId};

/// Height of a node's box.
pub const NODE_H: f64 = 250.0;
const TOP: f64 = 20.0;
const GAP: f64 = 40.0;
/// From a row's top to the next's: the nodes, the LAN line, the clients' band.
const ROW_H: f64 = NODE_H + 36.0 + 96.0;
/// The width:height "fit" aims for: about a drawing column's.
const FIT_ASPECT: f64 = 2.0;
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

/// A piece of a LAN's line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LanSeg {
    /// The LAN's index.
    pub lan: u8,
    /// From x.
    pub x0: f64,
    /// To x.
    pub x1: f64,
    /// At y.
    pub y: f64,
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
    /// y of the first row's LAN line.
    pub lan_y: f64,
    /// Each LAN's segments of the line, one per row it has nodes in.
    pub lans: Vec<LanSeg>,
    /// A LAN over several rows: its segments joined at x, from y to y.
    pub trunks: Vec<(u8, f64, f64, f64)>,
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

    /// y of the LAN line under a node box at `top`.
    pub fn lan_y_under(top: f64) -> f64 {
        top + NODE_H + 36.0
    }

    /// y of the veth midpoint.
    pub fn veth_y(top: f64) -> f64 {
        top + 34.0 + POD_H + 20.0
    }

    /// Lays out a cluster in one row (drawn at a readable size and panned
    /// when wide).
    pub fn new(c: &Cluster) -> Layout {
        Layout::rows(c, f64::INFINITY)
    }

    /// The overview of a wide cluster: rows of nodes, about twice as wide
    /// as tall, so that shrunk into the page it is more than a strip.
    pub fn fit(c: &Cluster) -> Layout {
        let one = Layout::new(c);
        let rows = (one.width / (FIT_ASPECT * ROW_H)).sqrt().ceil().max(1.0);
        if rows <= 1.0 {
            return one;
        }
        Layout::rows(c, one.width / rows)
    }

    /// Lays out a cluster, a new row of nodes when one would pass `max_w`.
    fn rows(c: &Cluster, max_w: f64) -> Layout {
        let mut x = 20.0;
        let mut top = TOP;
        let mut widest: f64 = 0.0;
        let mut nodes = Vec::new();
        let mut pods = HashMap::new();
        let mut lans: Vec<LanSeg> = Vec::new();
        let lan_y = Layout::lan_y_under(TOP);
        let mut clients = HashMap::new();
        let mut place_clients = |x: &mut f64, lan_y: f64, routed: bool| {
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
            place_clients(&mut x, lan_y, true);
        }
        let mut order: Vec<_> = c.nodes().iter().collect();
        // Stable: within a LAN, cluster order.
        order.sort_by_key(|n| n.lan);
        for n in order {
            let mine: Vec<_> = c.pods_on(n.id).collect();
            let pod_w = if mine.len() <= 4 { 104.0 } else { 44.0 };
            let step = pod_w + 12.0;
            let w = (mine.len() as f64 * step + 24.0).max(280.0);
            // A new row when this one is full, and in rows (Fit) for each
            // LAN: two LANs never share a row's line.
            let other_lan = lans.last().is_some_and(|l| l.lan != n.lan);
            if !nodes.is_empty() && (x + w > max_w || (other_lan && max_w.is_finite())) {
                if let Some(l) = lans.last_mut() {
                    l.x1 = x - GAP / 2.0;
                }
                widest = widest.max(x);
                x = 20.0;
                top += ROW_H;
                lans.push(LanSeg {
                    lan: n.lan,
                    x0: 10.0,
                    x1: 0.0,
                    y: Layout::lan_y_under(top),
                });
            }
            match lans.last_mut() {
                Some(l) if l.lan == n.lan => {}
                last => {
                    if let Some(l) = last {
                        l.x1 = x - GAP / 2.0;
                        x += GAP * 2.0;
                    }
                    lans.push(LanSeg {
                        lan: n.lan,
                        x0: x - GAP / 2.0 + 10.0,
                        x1: 0.0,
                        y: Layout::lan_y_under(top),
                    });
                }
            }
            let rect = Rect {
                x,
                y: top,
                w,
                h: NODE_H,
            };
            let start = x + (w - mine.len() as f64 * step + 12.0) / 2.0;
            for (i, p) in mine.iter().enumerate() {
                pods.insert(
                    p.id,
                    Rect {
                        x: start + i as f64 * step,
                        y: top + 34.0,
                        w: pod_w,
                        h: POD_H,
                    },
                );
            }
            nodes.push((n.id, rect));
            x += w + GAP;
        }
        if let Some(l) = lans.last_mut() {
            l.x1 = x - GAP / 2.0;
        }
        let last_lan_y = Layout::lan_y_under(top);
        // Under the gap after the first LAN's last segment, wired to every segment.
        let first_end = lans.iter().rposition(|l| l.lan == lans[0].lan);
        let router = (routed && lans.len() > 1)
            .then_some(first_end)
            .flatten()
            .and_then(|i| Some((lans[i], *lans.get(i + 1)?)))
            .map(|(a, b)| {
                let mid = if a.y == b.y {
                    (a.x1 + b.x0) / 2.0
                } else {
                    a.x1 + GAP
                };
                Rect {
                    x: mid - 80.0,
                    y: a.y + 30.0,
                    w: 160.0,
                    h: 40.0,
                }
            });
        if lans.is_empty() {
            lans.push(LanSeg {
                lan: 0,
                x0: 10.0,
                x1: x,
                y: lan_y,
            });
        }
        if routed {
            if let Some(l) = lans.iter_mut().find(|l| l.lan == 0) {
                l.x0 = 10.0;
            }
        } else {
            place_clients(&mut x, last_lan_y, false);
            // The last row's piece reaches its clients.
            if let Some(l) = lans.last_mut() {
                l.x1 = l.x1.max(x - GAP / 2.0);
            }
        }
        let width = x.max(widest).max(400.0);
        let router_right = router.map_or(0.0, |r| r.x + r.w + 10.0);
        let width = width.max(router_right);
        // One LAN in one row: the line spans the drawing.
        if lans.len() == 1 {
            lans[0].x0 = 10.0;
            lans[0].x1 = width - 10.0;
        }
        // A LAN in several rows: a trunk down the left joins its pieces.
        let mut trunks = Vec::new();
        for k in 0..c.lans().len() {
            let ys: Vec<f64> = lans
                .iter()
                .filter(|l| usize::from(l.lan) == k)
                .map(|l| l.y)
                .collect();
            if let (Some(&y0), Some(&y1)) = (ys.first(), ys.last()) {
                if y1 > y0 {
                    trunks.push((k as u8, 4.0 + 3.0 * k as f64, y0, y1));
                }
            }
        }
        for seg in lans.iter_mut() {
            if trunks.iter().any(|t| t.0 == seg.lan) {
                seg.x0 = seg.x0.min(4.0 + 3.0 * f64::from(seg.lan));
            }
        }
        let below =
            clients.values().any(|r| r.y > last_lan_y) || router.is_some_and(|r| r.y > last_lan_y);
        Layout {
            width,
            // Room under the LAN only where clients or the router hang off it.
            height: if below {
                last_lan_y + 96.0
            } else {
                last_lan_y + 16.0
            },
            nodes,
            pods,
            clients,
            lan_y,
            lans,
            trunks,
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

    /// LAN `k`'s piece nearest to a machine at `at`: the one of its row.
    pub fn piece_near(&self, k: u8, at: (f64, f64)) -> Option<LanSeg> {
        let far = |s: &LanSeg| (s.y - at.1).abs() + (at.0.clamp(s.x0, s.x1) - at.0).abs();
        self.lans
            .iter()
            .filter(|s| s.lan == k)
            .min_by(|a, b| far(a).total_cmp(&far(b)))
            .copied()
    }

    /// The x of LAN `k`'s trunk (the left edge if it has none).
    fn trunk_x(&self, k: u8) -> f64 {
        self.trunks.iter().find(|t| t.0 == k).map_or(10.0, |t| t.1)
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
                Place::Lan(k) => match (near(i, true), near(i, false)) {
                    (Some(a), Some(b)) => {
                        let (pa, pb) = (self.piece_near(k, a), self.piece_near(k, b));
                        match (pa, pb) {
                            (Some(pa), Some(pb)) if pa == pb => {
                                (((a.0 + b.0) / 2.0).clamp(pa.x0, pa.x1), pa.y)
                            }
                            // From one row to another: where the sender's
                            // piece meets the LAN's trunk.
                            (Some(pa), Some(_)) => (self.trunk_x(k).max(pa.x0), pa.y),
                            _ => ((a.0 + b.0) / 2.0, self.lan_y),
                        }
                    }
                    (Some(a), None) | (None, Some(a)) => match self.piece_near(k, a) {
                        Some(p) => (a.0.clamp(p.x0, p.x1), p.y),
                        None => (a.0, self.lan_y),
                    },
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
        assert!(a.x1 < b.x0, "segments do not overlap: {a:?} {b:?}");
        let r = l.router.expect("a router");
        assert!(r.x < b.x0 && r.x + r.w > a.x1, "the router spans the gap");
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

    #[test]
    fn fit_stands_128_nodes_in_rows_about_twice_as_wide_as_tall() {
        for lans in [1, 3] {
            let m = crate::scene_data::sandbox(crate::sandbox::SandboxSpec {
                pods: vec![Some(1); 128],
                lans,
                from: "p1-1".into(),
                to: "p128-1".into(),
                ..Default::default()
            });
            let c = &m.cluster;
            let one = Layout::new(c);
            let fit = Layout::fit(c);
            assert!(one.width / one.height > 50.0, "one row is a strip");
            let aspect = fit.width / fit.height;
            assert!((1.0..=3.5).contains(&aspect), "{lans} LANs: {aspect}");
            assert_eq!(fit.nodes.len(), 128);
            // No two nodes overlap, and each stands over a piece of its LAN.
            for (i, &(id, a)) in fit.nodes.iter().enumerate() {
                for &(_, b) in &fit.nodes[..i] {
                    assert!(
                        a.x >= b.x + b.w || b.x >= a.x + a.w || a.y != b.y,
                        "{a:?} {b:?}"
                    );
                }
                let lan = c.node(id).unwrap().lan;
                let (x, y) = (a.center().0, Layout::lan_y_under(a.y));
                assert!(
                    fit.lans
                        .iter()
                        .any(|s| s.lan == lan && s.y == y && s.x0 <= x && x <= s.x1),
                    "node at {a:?} has no piece of LAN {lan} under it"
                );
            }
            // A packet from the first node to the last: every point inside.
            let t = m.trace.as_ref().expect("a packet");
            let pts = fit.hop_points(c, &t.hops);
            assert_eq!(pts.len(), t.hops.len());
            for p in &pts {
                assert!(
                    p.0 > 0.0 && p.0 < fit.width && p.1 > 0.0 && p.1 < fit.height,
                    "{p:?}"
                );
            }
            // Every LAN hop on its LAN's line or trunk, as drawn.
            for (h, p) in t.hops.iter().zip(&pts) {
                if let Place::Lan(k) = h.place {
                    let on_piece = fit
                        .lans
                        .iter()
                        .any(|s| s.lan == k && s.y == p.1 && s.x0 <= p.0 && p.0 <= s.x1);
                    let on_trunk = fit
                        .trunks
                        .iter()
                        .any(|t| t.0 == k && t.1 == p.0 && t.2 <= p.1 && p.1 <= t.3);
                    assert!(on_piece || on_trunk, "LAN {k} hop at {p:?}");
                }
            }
            // Two LANs never share a row's line.
            for (i, a) in fit.lans.iter().enumerate() {
                for b in &fit.lans[..i] {
                    assert!(a.lan == b.lan || a.y != b.y, "{a:?} {b:?}");
                }
            }
            // A LAN over rows is one line: its pieces joined by a trunk.
            if lans == 1 {
                assert_eq!(fit.trunks.len(), 1, "{:?}", fit.trunks);
            }
        }
        // A small cluster fits as it is.
        let c = scenario::demo();
        assert_eq!(Layout::fit(&c), Layout::new(&c));
    }
}

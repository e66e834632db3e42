//! The wire between machines: each LAN's switch, and the router joining
//! the LANs (which knows no pod range).

use super::network::LanPort;
use super::trace::{DropReason, Place, Step};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;
use crate::topology::Endpoint;

impl<'c> Network<'c> {
    /// A LAN's switch: to the node, client or router port whose MAC the frame carries.
    pub(crate) fn process_lan<R: Recorder>(&self, k: usize, w: &mut Walk<R>) -> Next {
        // The mark lives in one node's skb; it does not cross the wire.
        w.mark = 0;
        let place = Place::Lan(k as u8);
        let port = self.lans.get(k).and_then(|l| l.ports.get(&w.f.dst_mac));
        match port {
            Some(&LanPort::Node(m)) => {
                let node = self.nodes[m].node;
                w.hop(
                    place,
                    Step::Switch {
                        to: Endpoint::Node(node.id),
                    },
                );
                w.hop(Place::Uplink(node.id), Step::Receive { dev: node.uplink });
                Ok(At::NodeRecv(m))
            }
            Some(&LanPort::Client(c)) => {
                w.hop(
                    place,
                    Step::Switch {
                        to: Endpoint::Client(self.clients[c].client.id),
                    },
                );
                Ok(At::ClientRecv(c))
            }
            Some(LanPort::Router) => {
                w.hop(place, Step::SwitchToRouter);
                Ok(At::Router)
            }
            None => Err(End::drop(
                place,
                DropReason::UnknownMac { mac: w.f.dst_mac },
            )),
        }
    }

    /// The router forwards between LANs: TTL, its connected routes, ARP on
    /// the outgoing LAN. It has no route to any pod range.
    pub(crate) fn process_router<R: Recorder>(&self, w: &mut Walk<R>) -> Next {
        let place = Place::Router;
        let Some(r) = &self.router else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        if r.ports.iter().any(|&(ip, _)| ip == w.f.dst) {
            return Err(End::drop(
                place,
                DropReason::NotForThisHost { dst: w.f.dst },
            ));
        }
        let Some(route) = r.routes.lookup(w.f.dst) else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        if w.f.ttl <= 1 {
            return Err(End::drop(place, DropReason::TtlExceeded));
        }
        w.f.ttl -= 1;
        w.hop(place, Step::Forward { route: *route });
        let k = r
            .routes
            .routes()
            .iter()
            .position(|x| x == route)
            .unwrap_or(0);
        let Some(&mac) = self.lans.get(k).and_then(|l| l.arp.get(&w.f.dst)) else {
            return Err(End::drop(place, DropReason::NoArpReply { ip: w.f.dst }));
        };
        (w.f.src_mac, w.f.dst_mac) = (r.ports[k].1, mac);
        w.hop(
            place,
            Step::Arp {
                ip: w.f.dst,
                mac,
                dev: route.dev,
            },
        );
        Ok(At::Lan(k))
    }
}

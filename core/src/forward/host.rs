//! Hosts with one link and one address: a pod (its eth0, then the veth to
//! its node's bridge) and an outside client on a LAN. Each sends by its own
//! route table and ARP, and takes only what carries its address.

use std::net::Ipv4Addr;

use super::trace::{DropReason, Place, Step};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;
use crate::net::MacAddr;
use crate::route::RouteTable;
use crate::topology::Endpoint;

/// A sender with one link and one address.
pub(crate) struct Host {
    pub(crate) me: Endpoint,
    pub(crate) place: Place,
    pub(crate) ip: Ipv4Addr,
    pub(crate) mac: MacAddr,
    pub(crate) mtu: u16,
}

impl<'c> Network<'c> {
    /// A pod sends: its own route table and ARP on eth0, then across its veth.
    pub(crate) fn process_pod_egress<R: Recorder>(&self, p: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.pods[p];
        let node = &self.nodes[rt.node];
        let host = Host {
            me: Endpoint::Pod(rt.pod.id),
            place: Place::Pod(rt.pod.id),
            ip: rt.pod.ip,
            mac: rt.pod.mac,
            mtu: node.pod_mtu,
        };
        self.host_send(&host, &rt.routes, |ip| node.arp_on_bridge(ip), w)?;
        Ok(self.process_veth_to_bridge(p, w))
    }

    /// The pod's frame comes out of the veth's host end, a port of the bridge.
    pub(crate) fn process_veth_to_bridge<R: Recorder>(&self, p: usize, w: &mut Walk<R>) -> At {
        let rt = &self.pods[p];
        w.hop(Place::Veth(rt.pod.id), Step::CrossVeth);
        w.in_port = Some(p);
        At::Bridge(rt.node)
    }

    /// A pod receives: its socket takes the packet only if it carries its
    /// address, and a new connection only on a port the pod listens on —
    /// the model takes a pod that declares container ports to listen on
    /// those alone (one that declares none, on any).
    pub(crate) fn process_pod_ingress<R: Recorder>(&self, p: usize, w: &Walk<R>) -> End {
        let pod = self.pods[p].pod;
        let place = Place::Pod(pod.id);
        let end = End::receive(place, Endpoint::Pod(pod.id), pod.ip, w.f.dst);
        let (Some(protocol), Some((_, port))) = (w.f.l4.transport(), w.f.l4.ports()) else {
            return end;
        };
        let listens = pod.ports.is_empty()
            || pod
                .ports
                .iter()
                .any(|c| c.protocol == protocol && c.port == port);
        if !w.reply && !listens && w.f.dst == pod.ip {
            return End::drop(place, DropReason::NotListening { protocol, port });
        }
        end
    }

    /// An outside client sends: its route table and ARP on the LAN.
    pub(crate) fn process_client_egress<R: Recorder>(&self, c: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.clients[c];
        let host = Host {
            me: Endpoint::Client(rt.client.id),
            place: Place::Client(rt.client.id),
            ip: rt.client.ip,
            mac: rt.client.mac,
            mtu: self.cluster.mtu,
        };
        let lan = &self.lans[rt.lan];
        self.host_send(&host, &rt.routes, |ip| lan.arp.get(&ip).copied(), w)?;
        Ok(At::Lan(rt.lan))
    }

    /// An outside client receives: only what carries its address.
    pub(crate) fn process_client_ingress<R: Recorder>(&self, c: usize, w: &Walk<R>) -> End {
        let client = self.clients[c].client;
        End::receive(
            Place::Client(client.id),
            Endpoint::Client(client.id),
            client.ip,
            w.f.dst,
        )
    }

    /// How a host with one link sends (a pod, an outside client): its own
    /// address as source, itself and loopback delivered at once, else its
    /// route table and ARP on its link.
    pub(crate) fn host_send<R: Recorder>(
        &self,
        host: &Host,
        routes: &RouteTable,
        arp: impl Fn(Ipv4Addr) -> Option<MacAddr>,
        w: &mut Walk<R>,
    ) -> Result<(), End> {
        if w.f.src.is_unspecified() {
            w.f.src = host.ip;
        }
        // The source MAC is the sender's own from the start (a packet with
        // no route still left a host with one link); the destination is
        // known once ARP answers (the next hop).
        w.f.src_mac = host.mac;
        if w.f.dst == host.ip || w.f.dst.is_loopback() {
            w.sent = Some(w.f);
            return Err(End::deliver(host.place, host.me));
        }
        let drop = |reason| End::drop(host.place, reason);
        let route = routes
            .lookup(w.f.dst)
            .ok_or(drop(DropReason::NoRoute { dst: w.f.dst }))?;
        w.hop(host.place, Step::Send { route: *route });
        w.check_mtu(host.place, host.mtu)?;
        let next = route.next_hop(w.f.dst);
        let mac = arp(next).ok_or(drop(DropReason::NoArpReply { ip: next }))?;
        (w.f.src_mac, w.f.dst_mac) = (host.mac, mac);
        w.hop(
            host.place,
            Step::Arp {
                ip: next,
                mac,
                dev: route.dev,
            },
        );
        w.sent = Some(w.f);
        Ok(())
    }
}

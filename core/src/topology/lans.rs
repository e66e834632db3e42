//! The LANs nodes and clients sit on, and the router between them.
//!
//! A cluster starts with one LAN (its underlay); [`Cluster::add_lan`] adds
//! more behind one router, which has `.1` on each. Every LAN hands out its
//! own addresses from `.11` on, like the seed's pictures. [`nth_lan`] is
//! the numbering the sandbox and the lab both use: LAN k is
//! 192.168.(k+1).0/24.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::{Cluster, Router};
use crate::alloc::{AllocKey, IpamConfig, NodeIpam};
use crate::error::{Error, Result};
use crate::net::MacAddr;

/// At most this many LANs in a cluster: `lab up --lans` takes up to this
/// many (one router port and one /24 of 192.168.0.0/16 each). The
/// sandbox draws fewer (its own limit, for the page's width).
pub const MAX_LANS: usize = 8;

/// LAN `k` (from 0) of a cluster spread over several: 192.168.(k+1).0/24.
pub fn nth_lan(k: usize) -> Result<Ipv4Network> {
    if k >= MAX_LANS {
        return Err(Error::config(
            "LAN",
            format!("at most {MAX_LANS} LANs: #{} would be one more", k + 1),
        ));
    }
    Ok(Ipv4Network::new(Ipv4Addr::new(192, 168, k as u8 + 1, 0), 24).expect("a /24"))
}

/// The automatic address range of a LAN: .11 on, like the seed's pictures
/// (.1 is the router's).
pub(crate) fn lan_ipam(lan: Ipv4Network) -> Result<NodeIpam> {
    let mut cfg = IpamConfig::new(lan);
    if lan.size() > 16 {
        cfg.range_start = Some(Ipv4Addr::from(u32::from(lan.network()) + 11));
    }
    NodeIpam::new(cfg)
}

impl Cluster {
    /// The first LAN (the only one unless [`Cluster::add_lan`] added more).
    pub fn underlay(&self) -> Ipv4Network {
        self.lans[0].subnet()
    }

    /// Every LAN, by index.
    pub fn lans(&self) -> Vec<Ipv4Network> {
        self.lans.iter().map(NodeIpam::subnet).collect()
    }

    /// The index of the LAN an address is on.
    pub fn lan_of(&self, ip: Ipv4Addr) -> Option<u8> {
        self.lans
            .iter()
            .position(|l| l.subnet().contains(ip))
            .map(|i| i as u8)
    }

    /// Adds a LAN behind the router (which has .1 on every LAN); returns its index.
    pub fn add_lan(&mut self, subnet: Ipv4Network) -> Result<u8> {
        let subnet = Ipv4Network::new(subnet.network(), subnet.prefix()).expect("a network");
        if self.lans.len() >= MAX_LANS {
            return Err(Error::config(
                "LAN",
                format!("at most {MAX_LANS} LANs: {subnet} would be one more"),
            ));
        }
        if subnet.prefix() > 29 {
            return Err(Error::config(
                "LAN",
                format!("{subnet} is too small for a router and a node (at most /29)"),
            ));
        }
        if let Some(other) = self
            .lans()
            .into_iter()
            .chain([self.cidr()])
            .find(|l| l.overlaps(subnet))
        {
            return Err(Error::config("LAN", format!("{subnet} overlaps {other}")));
        }
        self.lans.push(lan_ipam(subnet)?);
        Ok((self.lans.len() - 1) as u8)
    }

    /// A LAN's gateway, as a machine's default route names it: its first
    /// address (the router's port there when there are several LANs).
    pub fn lan_gateway(&self, lan: u8) -> Option<Ipv4Addr> {
        let l = self.lans.get(usize::from(lan))?.subnet();
        Some(Ipv4Addr::from(u32::from(l.network()) + 1))
    }

    /// The router between the LANs, when there is more than one.
    pub fn router(&self) -> Option<Router> {
        (self.lans.len() > 1).then(|| Router {
            ports: self
                .lans
                .iter()
                .enumerate()
                .filter_map(|(k, _)| self.lan_gateway(k as u8))
                .map(|ip| (ip, MacAddr::on_lan(ip)))
                .collect(),
        })
    }

    /// The address LAN `lan` would hand node `name` next (nothing is taken yet).
    pub(crate) fn next_lan_address(&self, name: &str, lan: u8) -> Result<Ipv4Addr> {
        let ipam = self
            .lans
            .get(usize::from(lan))
            .ok_or_else(|| Error::Unknown {
                kind: "LAN",
                name: format!("#{lan} (this cluster has {})", self.lans.len()),
            })?;
        ipam.clone()
            .allocate(AllocKey::new(format!("node/{name}"), "eth0"))
    }

    /// Takes a LAN address a real machine already has. Automatic addresses
    /// start at .11 (the seed's pictures); a given one may be anywhere in
    /// the LAN, but never the network or broadcast address or a taken one.
    pub(crate) fn claim_lan_address(&mut self, key: AllocKey, ip: Ipv4Addr) -> Result<Ipv4Addr> {
        let Some(index) = self.lan_of(ip) else {
            let lans: Vec<String> = self.lans().iter().map(|l| l.to_string()).collect();
            return Err(Error::Unusable {
                ip,
                reason: format!("not on the LAN {}", lans.join(" or ")),
            });
        };
        let lan = self.lans[usize::from(index)].subnet();
        let router = Ipv4Addr::from(u32::from(lan.network()) + 1);
        if ip == lan.network() || ip == lan.broadcast() || (self.lans.len() > 1 && ip == router) {
            return Err(Error::Unusable {
                ip,
                reason: format!("not a host address of the LAN {lan}"),
            });
        }
        let taken = self
            .nodes
            .iter()
            .map(|n| (n.underlay_ip, n.name.as_str()))
            .chain(self.clients.iter().map(|c| (c.ip, c.name.as_str())));
        if let Some((_, holder)) = taken.into_iter().find(|(a, _)| *a == ip) {
            return Err(Error::AddressInUse {
                ip,
                container_id: holder.to_string(),
            });
        }
        match self.lans[usize::from(index)].allocate_ip(key, ip) {
            // Below the automatic range: nothing there to collide with but the checks above.
            Err(Error::Unusable { .. }) => Ok(ip),
            r => r.map(|()| ip),
        }
    }
}

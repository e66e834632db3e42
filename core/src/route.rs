//! Routes and route tables with longest-prefix match.
//!
//! A [`Route`] is one line of `ip route`; a [`RouteTable`] answers "which
//! route does the kernel pick for this destination" the way the kernel's FIB
//! does for a main table without metrics: the longest matching prefix wins,
//! and of two routes to the same prefix the first one added wins.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::net::IfName;

/// Who installed a route: the kernel's `proto` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteProto {
    /// Added by the kernel for an address on an interface (connected route).
    Kernel,
    /// Added at boot or by CNI inside a pod.
    Boot,
    /// Added by an administrator.
    Static,
    /// Added by the podnet agent; it owns these and only these.
    Podnet,
}

impl RouteProto {
    /// The routing protocol number the podnet agent tags its routes with.
    /// 2–4 are kernel/boot/static in `/etc/iproute2/rt_protos`; 150 is unassigned.
    pub const PODNET_NUMBER: u8 = 150;

    /// The number netlink carries in `rtm_protocol`.
    pub fn number(self) -> u8 {
        match self {
            RouteProto::Kernel => 2,
            RouteProto::Boot => 3,
            RouteProto::Static => 4,
            RouteProto::Podnet => Self::PODNET_NUMBER,
        }
    }
}

/// One route: destination, optional gateway, output device, preferred source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination range (0.0.0.0/0 for the default route).
    pub dst: Ipv4Network,
    /// Next-hop gateway; `None` means the destination is on the link.
    pub via: Option<Ipv4Addr>,
    /// Output interface.
    pub dev: IfName,
    /// Preferred source address for locally generated packets.
    pub src: Option<Ipv4Addr>,
    /// Who installed it.
    pub proto: RouteProto,
    /// `onlink`: the gateway is taken as on the device's link even though no
    /// address there covers it (a VXLAN route's gateway is the peer's VTEP).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
}

impl Route {
    /// A connected route, as the kernel adds for `addr/prefix` on `dev`.
    pub fn connected(addr: Ipv4Network, dev: IfName) -> Route {
        Route {
            dst: Ipv4Network::new(addr.network(), addr.prefix()).expect("prefix from a network"),
            via: None,
            dev,
            src: Some(addr.ip()),
            proto: RouteProto::Kernel,
            onlink: false,
        }
    }

    /// A route through a gateway.
    pub fn via(dst: Ipv4Network, gateway: Ipv4Addr, dev: IfName, proto: RouteProto) -> Route {
        Route {
            dst,
            via: Some(gateway),
            dev,
            src: None,
            proto,
            onlink: false,
        }
    }

    /// The same route marked `onlink`.
    pub fn onlink(self) -> Route {
        Route {
            onlink: true,
            ..self
        }
    }

    /// The address the next frame is sent to: the gateway, or the destination itself.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.via.unwrap_or(dst)
    }
}

impl fmt::Display for Route {
    /// Prints the route as `ip route` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dst.prefix() == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        write!(f, " dev {}", self.dev)?;
        match self.proto {
            RouteProto::Boot => {}
            RouteProto::Kernel => f.write_str(" proto kernel scope link")?,
            RouteProto::Static => f.write_str(" proto static")?,
            RouteProto::Podnet => f.write_str(" proto podnet")?,
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        Ok(())
    }
}

/// A set of routes indexed for longest-prefix match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Per prefix length present, longest first: network bits → route index.
    /// A table has few distinct lengths, so a lookup is a handful of hash probes
    /// even with thousands of peer-node routes.
    by_len: Vec<(u8, HashMap<u32, usize>)>,
}

impl RouteTable {
    /// A table from routes; of two routes to one prefix the first is kept.
    pub fn new(routes: impl IntoIterator<Item = Route>) -> RouteTable {
        let mut t = RouteTable::default();
        for r in routes {
            t.add(r);
        }
        t
    }

    /// Adds a route unless one to the same prefix exists; returns whether it was added.
    pub fn add(&mut self, route: Route) -> bool {
        let len = route.dst.prefix();
        let key = u32::from(route.dst.network());
        let pos = match self.by_len.iter().position(|(l, _)| *l <= len) {
            Some(p) if self.by_len[p].0 == len => p,
            Some(p) => {
                self.by_len.insert(p, (len, HashMap::new()));
                p
            }
            None => {
                self.by_len.push((len, HashMap::new()));
                self.by_len.len() - 1
            }
        };
        let map = &mut self.by_len[pos].1;
        if map.contains_key(&key) {
            return false;
        }
        map.insert(key, self.routes.len());
        self.routes.push(route);
        true
    }

    /// The route the kernel would pick for `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        let d = u32::from(dst);
        self.by_len.iter().find_map(|(len, map)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
            map.get(&(d & mask)).map(|&i| &self.routes[i])
        })
    }

    /// All routes in the order they were added.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{ifname, parse_cidr};

    #[test]
    fn longest_prefix_wins() {
        let t = RouteTable::new([
            Route::via(
                parse_cidr("0.0.0.0/0").unwrap(),
                Ipv4Addr::new(192, 168, 1, 1),
                ifname("eth0"),
                RouteProto::Boot,
            ),
            Route::connected(
                Ipv4Network::new(Ipv4Addr::new(10, 244, 1, 1), 24).unwrap(),
                ifname("cni0"),
            ),
            Route::via(
                parse_cidr("10.244.2.0/24").unwrap(),
                Ipv4Addr::new(192, 168, 1, 12),
                ifname("eth0"),
                RouteProto::Podnet,
            ),
            Route::via(
                parse_cidr("10.244.0.0/16").unwrap(),
                Ipv4Addr::new(192, 168, 1, 13),
                ifname("eth0"),
                RouteProto::Static,
            ),
        ]);
        let pick = |s: &str| t.lookup(s.parse().unwrap()).unwrap().to_string();
        assert_eq!(
            pick("10.244.1.7"),
            "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1"
        );
        assert_eq!(
            pick("10.244.2.7"),
            "10.244.2.0/24 via 192.168.1.12 dev eth0 proto podnet"
        );
        assert_eq!(
            pick("10.244.3.7"),
            "10.244.0.0/16 via 192.168.1.13 dev eth0 proto static"
        );
        assert_eq!(pick("8.8.8.8"), "default via 192.168.1.1 dev eth0");
        assert!(RouteTable::new([])
            .lookup(Ipv4Addr::new(1, 2, 3, 4))
            .is_none());
    }

    #[test]
    fn first_route_to_a_prefix_is_kept() {
        let a = Route::via(
            parse_cidr("10.0.0.0/8").unwrap(),
            Ipv4Addr::new(1, 1, 1, 1),
            ifname("eth0"),
            RouteProto::Static,
        );
        let mut b = a;
        b.via = Some(Ipv4Addr::new(2, 2, 2, 2));
        let mut t = RouteTable::new([a]);
        assert!(!t.add(b));
        assert_eq!(t.lookup(Ipv4Addr::new(10, 1, 1, 1)).unwrap().via, a.via);
    }
}

//! IPv4 routes of the main table: read, add (with the owner's protocol
//! number), delete exactly one, and the kernel's choice for a destination
//! (`ip route get`).

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use nix::errno::Errno;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::RouteMessageBuilder;

use crate::error::{errno, Error, Result};
use crate::Netlink;

/// An IPv4 route of the main table as read back from the kernel.
#[derive(Debug, Clone)]
pub struct KernelRoute {
    /// Destination.
    pub dst: Ipv4Network,
    /// Gateway, if any.
    pub via: Option<Ipv4Addr>,
    /// `rtm_protocol`: who added it.
    pub proto: u8,
    /// The kernel's message, for deleting exactly this route.
    message: RouteMessage,
}

/// Where the kernel sends a packet for one destination (`ip route get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChoice {
    /// The gateway, if the destination is not on-link.
    pub via: Option<Ipv4Addr>,
    /// The output device's name.
    pub dev: String,
}

impl Netlink {
    /// Adds `default via gw dev index` unless it is there.
    pub fn add_default_route(&self, index: u32, gw: Ipv4Addr) -> Result<()> {
        let r = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gw)
            .output_interface(index)
            .build();
        self.block(async {
            match self.h.route().add(r).execute().await {
                Err(e) if errno(&e) == Some(Errno::EEXIST) => Ok(()),
                r => r.map_err(Error::kernel(format!("add default route via {gw}"))),
            }
        })
    }

    /// The gateway of the main table's default route, if any.
    pub fn default_gateway(&self) -> Result<Option<Ipv4Addr>> {
        Ok(self
            .routes()?
            .into_iter()
            .find(|r| r.dst.prefix() == 0)
            .and_then(|r| r.via))
    }

    /// The main table's IPv4 unicast routes.
    pub fn routes(&self) -> Result<Vec<KernelRoute>> {
        self.block(async {
            let mut out = Vec::new();
            let mut s = self
                .h
                .route()
                .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
                .execute();
            while let Some(m) = s.try_next().await.map_err(Error::kernel("list routes"))? {
                let table = m
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(u32::from(m.header.table));
                if table != u32::from(RouteHeader::RT_TABLE_MAIN)
                    || m.header.kind != RouteType::Unicast
                {
                    continue;
                }
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let mut via = None;
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => via = Some(*g),
                        _ => {}
                    }
                }
                if let Ok(dst) = Ipv4Network::new(dst, m.header.destination_prefix_length) {
                    out.push(KernelRoute {
                        dst,
                        via,
                        proto: u8::from(m.header.protocol),
                        message: m,
                    });
                }
            }
            Ok(out)
        })
    }

    /// The kernel's route choice for `dst`, or `None` when there is no route.
    pub fn route_choice(&self, dst: Ipv4Addr) -> Result<Option<RouteChoice>> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, 32)
            .build();
        let reply = self.block(async {
            match self.h.route().get(msg).execute().try_next().await {
                Ok(m) => Ok(m),
                // ENETUNREACH and friends: no route.
                Err(e) if errno(&e).is_some() => Ok(None),
                Err(e) => Err(Error::kernel(format!("route get {dst}"))(e)),
            }
        })?;
        let Some(reply) = reply else {
            return Ok(None);
        };
        let mut via = None;
        let mut oif = None;
        for a in &reply.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => via = Some(*g),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let dev = match oif {
            Some(i) => self.link_by_index(i)?.map(|l| l.name).unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(RouteChoice { via, dev }))
    }

    /// Adds `dst via gw proto <proto>` to the main table; with `onlink`
    /// (`dev` and the `onlink` flag) when the gateway is a VXLAN peer's VTEP.
    pub fn add_route(
        &self,
        dst: Ipv4Network,
        via: Ipv4Addr,
        proto: u8,
        onlink: Option<u32>,
    ) -> Result<()> {
        let mut r = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.network(), dst.prefix())
            .gateway(via)
            .protocol(RouteProtocol::from(proto));
        if let Some(dev) = onlink {
            r = r.output_interface(dev).onlink();
        }
        self.block(async {
            self.h
                .route()
                .add(r.build())
                .execute()
                .await
                .map_err(Error::kernel(format!("add route {dst} via {via}")))
        })
    }

    /// Deletes a route as read by [`Netlink::routes`].
    pub fn del_route(&self, r: &KernelRoute) -> Result<()> {
        self.block(async {
            self.h
                .route()
                .del(r.message.clone())
                .execute()
                .await
                .map_err(Error::kernel(format!("delete route {}", r.dst)))
        })
    }
}

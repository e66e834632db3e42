//! Neighbour (`ip neigh`) and bridge FDB (`bridge fdb`) entries on one
//! device: what the VXLAN backend writes for every peer instead of letting
//! the kernel learn.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use rtnetlink::packet_route::AddressFamily;

use crate::error::{errno, Error, Result};
use crate::Netlink;

/// A neighbour or FDB entry on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The IPv4 address (`ip neigh`) or the FDB entry's `dst` (`bridge fdb`).
    pub ip: Option<Ipv4Addr>,
    /// The MAC.
    pub mac: Option<[u8; 6]>,
    message: NeighbourMessage,
}

/// Which table [`Netlink::neighbours`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `ip neigh`: IPv4 address → MAC.
    Arp,
    /// `bridge fdb`: MAC → where frames for it go.
    Fdb,
}

impl Netlink {
    /// The entries of one table on device `index`.
    pub fn neighbours(&self, index: u32, table: Table) -> Result<Vec<Neighbour>> {
        let family = match table {
            Table::Arp => AddressFamily::Inet,
            Table::Fdb => AddressFamily::Bridge,
        };
        self.block(async {
            let mut out = Vec::new();
            let mut s = self
                .h
                .neighbours()
                .get()
                .set_address_family(family)
                .execute();
            while let Some(m) = s
                .try_next()
                .await
                .map_err(Error::kernel("list neighbours"))?
            {
                if m.header.ifindex != index || m.header.family != family {
                    continue;
                }
                let mut n = Neighbour {
                    ip: None,
                    mac: None,
                    message: m.clone(),
                };
                for a in &m.attributes {
                    match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                            n.ip = Some(*ip)
                        }
                        NeighbourAttribute::LinkLayerAddress(b) => {
                            n.mac = <[u8; 6]>::try_from(&b[..]).ok()
                        }
                        _ => {}
                    }
                }
                out.push(n);
            }
            Ok(out)
        })
    }

    /// `ip neigh replace IP lladdr MAC dev INDEX nud permanent`.
    pub fn set_neighbour(&self, index: u32, ip: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
        self.block(async {
            self.h
                .neighbours()
                .add(index, IpAddr::V4(ip))
                .link_layer_address(&mac)
                .replace()
                .execute()
                .await
                .map_err(Error::kernel(format!("add neighbour {ip}")))
        })
    }

    /// `bridge fdb replace MAC dev INDEX dst IP self permanent`: frames for
    /// the peer VTEP's MAC go inside UDP to its underlay address.
    pub fn set_fdb(&self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> Result<()> {
        self.block(async {
            self.h
                .neighbours()
                .add_bridge(index, &mac)
                .flags(NeighbourFlags::Own)
                .destination(IpAddr::V4(dst))
                .replace()
                .execute()
                .await
                .map_err(Error::kernel(format!("add FDB entry towards {dst}")))
        })
    }

    /// Deletes an entry read by [`Netlink::neighbours`]; already gone is fine.
    pub fn del_neighbour(&self, n: &Neighbour) -> Result<()> {
        self.block(async {
            match self.h.neighbours().del(n.message.clone()).execute().await {
                Err(e) if errno(&e) == Some(Errno::ENOENT) => Ok(()),
                r => r.map_err(Error::kernel(format!("delete neighbour {:?}", n.ip))),
            }
        })
    }
}

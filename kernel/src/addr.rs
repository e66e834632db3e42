//! IPv4 addresses on links.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use nix::errno::Errno;
use rtnetlink::packet_route::address::AddressAttribute;

use crate::error::{errno, Error, Result};
use crate::Netlink;

impl Netlink {
    /// Adds an address unless the link already has it.
    pub fn ensure_addr(&self, index: u32, addr: Ipv4Network) -> Result<()> {
        self.block(async {
            let req = self
                .h
                .address()
                .add(index, IpAddr::V4(addr.ip()), addr.prefix());
            match req.execute().await {
                Err(e) if errno(&e) == Some(Errno::EEXIST) => Ok(()),
                r => r.map_err(Error::kernel(format!("add address {addr}"))),
            }
        })
    }

    /// The IPv4 addresses on a link.
    pub fn addresses(&self, index: u32) -> Result<Vec<Ipv4Network>> {
        self.block(async {
            let mut out = Vec::new();
            let mut s = self
                .h
                .address()
                .get()
                .set_link_index_filter(index)
                .execute();
            while let Some(m) = s
                .try_next()
                .await
                .map_err(Error::kernel("list addresses"))?
            {
                for a in &m.attributes {
                    if let AddressAttribute::Address(IpAddr::V4(ip)) = a {
                        if let Ok(n) = Ipv4Network::new(*ip, m.header.prefix_len) {
                            out.push(n);
                        }
                    }
                }
            }
            Ok(out)
        })
    }
}

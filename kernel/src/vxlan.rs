//! The VXLAN device (flannel's layout: learning off, every FDB and
//! neighbour entry written by the agent).

use std::net::Ipv4Addr;

use nix::errno::Errno;
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::{LinkUnspec, LinkVxlan};

use crate::error::{errno, Error, Result};
use crate::{Link, Netlink};

/// A VXLAN device as podnet configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    /// Device name.
    pub name: String,
    /// VNI.
    pub vni: u32,
    /// UDP destination port.
    pub port: u16,
    /// Outer source address (the node's underlay address).
    pub local: Ipv4Addr,
    /// The underlay device's index.
    pub dev: u32,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its MTU.
    pub mtu: u32,
}

/// What a VXLAN link says about itself: (VNI, port, local, underlay index).
fn vxlan_params(l: &LinkMessage) -> Option<(u32, u16, Option<Ipv4Addr>, Option<u32>)> {
    let infos = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(i) => Some(i),
        _ => None,
    })?;
    let data = infos.iter().find_map(|i| match i {
        LinkInfo::Data(InfoData::Vxlan(d)) => Some(d),
        _ => None,
    })?;
    let (mut vni, mut port, mut local, mut dev) = (None, None, None, None);
    for d in data {
        match d {
            InfoVxlan::Id(v) => vni = Some(*v),
            InfoVxlan::Port(p) => port = Some(*p),
            InfoVxlan::Local(a) => local = Some(*a),
            InfoVxlan::Link(i) => dev = Some(*i),
            _ => {}
        }
    }
    Some((vni?, port?, local, dev))
}

impl Netlink {
    /// Deletes the link `name` if it is a VXLAN device (a link of that name
    /// that is something else is not podnet's and stays); `true` if deleted.
    pub fn delete_vxlan(&self, name: &str) -> Result<bool> {
        match self.block(self.get_link(name))? {
            Some(l) if vxlan_params(&l).is_some() => self.delete(name),
            _ => Ok(false),
        }
    }

    /// Creates the VXLAN device, or recreates it when an existing one of
    /// that name has another VNI, port, local address or underlay device
    /// (a changed node address); sets its MTU and brings it up.
    pub fn ensure_vxlan(&self, v: &Vxlan) -> Result<Link> {
        if let Some(l) = self.block(self.get_link(&v.name))? {
            let want = (v.vni, v.port, Some(v.local), Some(v.dev));
            match vxlan_params(&l) {
                None => return Err(Error::Foreign(v.name.clone())),
                Some(have) if have != want => {
                    self.delete(&v.name)?;
                }
                Some(_) => {}
            }
        }
        if self.link(&v.name)?.is_none() {
            let b = LinkVxlan::new(&v.name, v.vni)
                .dev(v.dev)
                .port(v.port)
                .local(v.local)
                .learning(false)
                .address(v.mac.to_vec())
                .mtu(v.mtu);
            self.block(async {
                match self.h.link().add(b.build()).execute().await {
                    Err(e) if errno(&e) == Some(Errno::EEXIST) => Ok(()),
                    r => r.map_err(Error::kernel(format!("create VXLAN device {}", v.name))),
                }
            })?;
        }
        let l = self.must_link(&v.name)?;
        self.block(self.set(
            format!("set {} up", v.name),
            LinkUnspec::new_with_index(l.index).mtu(v.mtu).up().build(),
        ))?;
        Ok(l)
    }
}

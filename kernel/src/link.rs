//! Links: bridges, veth pairs, bridge ports, MTU and GSO sizes, deletion,
//! and [`Link`], what a link says about itself.

use futures::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::error::{errno, Error, Result};
use crate::{Netlink, Netns};

/// The GSO size every Linux device starts with; larger packets are "BIG TCP".
pub const GSO_LEGACY_MAX: u32 = 65_536;

/// The kernel's ceiling for a GSO packet (`GSO_MAX_SIZE`, a veth's `tso_max_size`).
pub const GSO_MAX: u32 = 524_280;

/// A link as the kernel describes it: the few attributes podnet reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind (`bridge`, `veth`, `vxlan`; empty for a plain device).
    pub kind: String,
    /// Its MAC address (none for a device without one, such as `lo`'s zeros).
    pub mac: Option<[u8; 6]>,
    /// The bridge it is a port of.
    pub controller: Option<u32>,
    /// The other end of a veth pair (an index in the peer's namespace).
    pub peer: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// The largest IPv4 GSO packet it takes (`gso_ipv4_max_size`); the
    /// legacy 64 KiB on kernels before 6.3, which do not report it.
    pub gso_ipv4_max: u32,
    /// The largest GSO packet its driver can take (`tso_max_size`).
    pub tso_max: Option<u32>,
}

impl Link {
    /// Reads a link message.
    pub fn parse(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            kind: String::new(),
            mac: None,
            controller: None,
            peer: None,
            up: m.header.flags.contains(LinkFlags::Up),
            mtu: None,
            gso_ipv4_max: GSO_LEGACY_MAX,
            tso_max: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Address(b) => l.mac = <[u8; 6]>::try_from(&b[..]).ok(),
                LinkAttribute::Controller(i) => l.controller = Some(*i),
                LinkAttribute::Link(i) => l.peer = Some(*i),
                LinkAttribute::Mtu(v) => l.mtu = Some(*v),
                LinkAttribute::GsoIpv4MaxSize(v) => l.gso_ipv4_max = *v,
                LinkAttribute::TsoMaxSize(v) => l.tso_max = Some(*v),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            l.kind = k.to_string();
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }

    /// The MAC as `aa:bb:cc:dd:ee:ff` (empty when it has none).
    pub fn mac_text(&self) -> String {
        self.mac.map_or_else(String::new, |m| {
            m.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
    }
}

fn gso_attributes(size: u32) -> [LinkAttribute; 2] {
    [
        LinkAttribute::GsoIpv4MaxSize(size),
        LinkAttribute::GroIpv4MaxSize(size),
    ]
}

/// One end of a veth pair as [`Netlink::add_veth`] creates it.
#[derive(Debug, Clone, Copy)]
pub struct VethEnd<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its MAC, if it must have a given one.
    pub mac: Option<[u8; 6]>,
}

impl Netlink {
    /// A link by name, if it exists.
    pub fn link(&self, name: &str) -> Result<Option<Link>> {
        self.block(self.get_link(name))
            .map(|m| m.as_ref().map(Link::parse))
    }

    pub(crate) async fn get_link(&self, name: &str) -> Result<Option<LinkMessage>> {
        let mut req = self.h.link().get().match_name(name.to_string()).execute();
        match req.try_next().await {
            Ok(m) => Ok(m),
            Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(Error::kernel(format!("get link {name}"))(e)),
        }
    }

    /// A link by index, if it exists.
    pub fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        self.block(async {
            let mut req = self.h.link().get().match_index(index).execute();
            match req.try_next().await {
                Ok(m) => Ok(m.as_ref().map(Link::parse)),
                Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
                Err(e) => Err(Error::kernel(format!("get link {index}"))(e)),
            }
        })
    }

    /// A link that must exist.
    pub fn must_link(&self, name: &str) -> Result<Link> {
        self.link(name)?.ok_or_else(|| Error::NoLink(name.into()))
    }

    /// Every link of the namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        self.block(async {
            let mut out = Vec::new();
            let mut s = self.h.link().get().execute();
            while let Some(m) = s.try_next().await.map_err(Error::kernel("list links"))? {
                out.push(Link::parse(&m));
            }
            Ok(out)
        })
    }

    pub(crate) async fn set(&self, what: String, m: LinkMessage) -> Result<()> {
        self.h
            .link()
            .set(m)
            .execute()
            .await
            .map_err(Error::kernel(what))
    }

    /// Creates the bridge if missing and brings it up; returns it. A new
    /// bridge gets `mac`: without a fixed address a Linux bridge takes its
    /// lowest port's MAC and changes it whenever ports come and go.
    pub fn ensure_bridge(&self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> Result<Link> {
        if self.link(name)?.is_none() {
            let mut b = LinkBridge::new(name).address(mac.to_vec());
            if let Some(mtu) = mtu {
                b = b.mtu(mtu);
            }
            self.block(async {
                match self.h.link().add(b.build()).execute().await {
                    // Another ADD created it at the same moment.
                    Err(e) if errno(&e) == Some(Errno::EEXIST) => Ok(()),
                    r => r.map_err(Error::kernel(format!("create bridge {name}"))),
                }
            })?;
        }
        self.set_up(name)
    }

    /// Creates a veth pair: `host` in this namespace, `peer` born directly
    /// in `peer_ns` under its final name (and MAC). Creating it there is
    /// what the reference plugins do too: moving a link into another
    /// namespace afterwards makes the kernel wait for an RCU grace period,
    /// which was most of an ADD's time. `mtu` and the GSO size `gso_max`
    /// are set at creation on both ends, so no packet ever meets a smaller
    /// limit.
    pub fn add_veth(
        &self,
        host: &str,
        peer: VethEnd<'_>,
        peer_ns: &Netns,
        mtu: Option<u32>,
        gso_max: Option<u32>,
    ) -> Result<()> {
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.name.to_string())
            .setns_by_fd(peer_ns.fd());
        if let Some(mac) = peer.mac {
            peer_msg = peer_msg.address(mac.to_vec());
        }
        let mut v = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string());
        if let Some(mtu) = mtu {
            peer_msg = peer_msg.mtu(mtu);
            v = v.mtu(mtu);
        }
        for a in gso_max.map(gso_attributes).into_iter().flatten() {
            peer_msg = peer_msg.append_extra_attribute(a.clone());
            v = v.append_extra_attribute(a);
        }
        let msg = v
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
            .build();
        self.block(async {
            self.h
                .link()
                .add(msg)
                .execute()
                .await
                .map_err(Error::kernel(format!(
                    "create veth {host} with {} in the other namespace",
                    peer.name
                )))
        })
    }

    /// Attaches a link to a bridge, sets hairpin mode as asked (a frame may
    /// leave by the port it came in on: what a pod reaching itself through
    /// a Service needs), and brings it up; returns it.
    pub fn attach(&self, name: &str, bridge: u32, hairpin: bool) -> Result<Link> {
        let i = self.must_link(name)?.index;
        self.block(async {
            let m = LinkUnspec::new_with_index(i).controller(bridge).build();
            self.set(format!("attach {name}"), m).await?;
            if hairpin {
                self.h
                    .link()
                    .set_port(LinkBridgePort::new(i).hairpin(true).build())
                    .execute()
                    .await
                    .map_err(Error::kernel(format!("set hairpin on {name}")))?;
            }
            Ok(())
        })?;
        self.set_up(name)
    }

    /// Brings a link up; returns it.
    pub fn set_up(&self, name: &str) -> Result<Link> {
        let i = self.must_link(name)?.index;
        self.block(self.set(
            format!("set {name} up"),
            LinkUnspec::new_with_index(i).up().build(),
        ))?;
        self.must_link(name)
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        self.block(self.set(
            format!("set MTU {mtu} on link {index}"),
            LinkUnspec::new_with_index(index).mtu(mtu).build(),
        ))
    }

    /// Sets the largest IPv4 GSO and GRO packets of a link. A forwarded
    /// packet larger than the next device's limit is cut into MTU-sized
    /// segments in software, so every link on a path must agree.
    pub fn set_gso_ipv4_max(&self, index: u32, size: u32) -> Result<()> {
        let mut m = LinkUnspec::new_with_index(index);
        for a in gso_attributes(size) {
            m = m.append_extra_attribute(a);
        }
        self.block(self.set(
            format!("set the GSO size of link {index} to {size}"),
            m.build(),
        ))
    }

    /// Gives a bridge and each of its ports the GSO size `size` (each at
    /// most its own `tso_max_size`); returns the names of the links it changed.
    pub fn follow_gso(&self, bridge: u32, size: u32) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for l in self.links()? {
            if l.index != bridge && l.controller != Some(bridge) {
                continue;
            }
            let want = size.min(l.tso_max.unwrap_or(size));
            if l.gso_ipv4_max != want {
                self.set_gso_ipv4_max(l.index, want)?;
                changed.push(l.name);
            }
        }
        Ok(changed)
    }

    /// Deletes a link; `false` if it was already gone.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let Some(l) = self.link(name)? else {
            return Ok(false);
        };
        self.block(async {
            match self.h.link().del(l.index).execute().await {
                Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(false),
                r => r
                    .map(|()| true)
                    .map_err(Error::kernel(format!("delete {name}"))),
            }
        })
    }
}

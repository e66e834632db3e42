//! The one place podnet talks to the kernel: a thin, synchronous facade over rtnetlink.
//!
//! [`run_in`] runs a batch of requests inside a network namespace: it starts
//! a thread, moves the thread (only that thread) into the namespace, opens a
//! netlink socket there and drives the requests on a one-thread tokio
//! runtime. The helpers below are every request podnet makes — the CNI
//! plugin's (bridge, veth, addresses), the agent's (routes with podnet's
//! protocol, forwarding, GSO sizes), the lab's (namespaces, LAN) and the
//! lab server's reads ([`links`], [`routes`], [`route_choice`]). Each treats
//! "already so" as success where that makes the caller idempotent (bridge
//! exists, address exists, link already gone).

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::Path;

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use nix::sched::{setns, CloneFlags};
use podnet_core::lab_api::LinkView;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan,
    RouteMessageBuilder,
};

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening a namespace, starting a thread or a runtime.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The kernel refused a request.
    #[error("{what}: {source}")]
    Kernel {
        /// The request.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// A link that must exist does not.
    #[error("no link named {0}")]
    NoLink(String),
    /// A link has the name podnet needs but is not what podnet makes; it
    /// is left alone.
    #[error("a link named {0} exists and is not a VXLAN device; podnet leaves it alone (rename or remove it)")]
    Foreign(String),
}

/// Result of a netlink operation.
pub type NlResult<T> = Result<T, NetlinkError>;

fn kernel(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let what = what.into();
    move |source| NetlinkError::Kernel { what, source }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// An open network namespace (`/run/netns/x`, `/proc/PID/ns/net`).
#[derive(Debug)]
pub struct Netns(File);

impl Netns {
    /// Opens a namespace by path.
    pub fn open(path: &Path) -> NlResult<Netns> {
        File::open(path)
            .map(Netns)
            .map_err(|source| NetlinkError::Io {
                what: format!("cannot open network namespace {}", path.display()),
                source,
            })
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> NlResult<Netns> {
        self.0
            .try_clone()
            .map(Netns)
            .map_err(|source| NetlinkError::Io {
                what: "dup namespace fd".into(),
                source,
            })
    }

    /// The raw descriptor, for moving a link into this namespace.
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }
}

/// Runs `f` with a netlink handle inside `ns` (or the caller's namespace).
pub fn run_in<T, F, Fut>(ns: Option<&Netns>, f: F) -> NlResult<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = NlResult<T>>,
{
    let ns = ns.map(Netns::try_clone).transpose()?;
    let io = |what: &str| {
        let what = what.to_string();
        move |source| NetlinkError::Io { what, source }
    };
    std::thread::spawn(move || -> NlResult<T> {
        if let Some(ns) = &ns {
            setns(ns.0.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::Io {
                what: "cannot enter the network namespace".into(),
                source: e.into(),
            })?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(io("tokio runtime"))?;
        rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection().map_err(io("netlink socket"))?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetlinkError::Io {
            what: "netlink thread panicked".into(),
            source: std::io::Error::other("panic"),
        })
    })
}

/// Runs blocking code `f` on a thread inside `ns` (sockets it opens live there).
pub fn on_thread_in<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> NlResult<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.0.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::Io {
                what: "cannot enter the network namespace".into(),
                source: e.into(),
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetlinkError::Io {
                what: "namespace thread panicked".into(),
                source: std::io::Error::other("panic"),
            })
        })
    })
}

/// Creates a named namespace (`/run/netns/NAME`, as `ip netns add`).
pub fn add_netns(name: &str) -> NlResult<()> {
    let n = name.to_string();
    run_in(None, move |_| async move {
        rtnetlink::NetworkNamespace::add(n.clone())
            .await
            .map_err(kernel(format!("create namespace {n}")))
    })
}

/// Deletes a named namespace; `false` if it did not exist.
pub fn del_netns(name: &str) -> NlResult<bool> {
    if !Path::new("/run/netns").join(name).exists() {
        return Ok(false);
    }
    let n = name.to_string();
    run_in(None, move |_| async move {
        rtnetlink::NetworkNamespace::del(n.clone())
            .await
            .map_err(kernel(format!("delete namespace {n}")))
    })?;
    Ok(true)
}

/// Names of the namespaces in `/run/netns` that start with `prefix`.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A link by name, if it exists.
pub async fn link(h: &Handle, name: &str) -> NlResult<Option<LinkMessage>> {
    match h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
    {
        Ok(m) => Ok(m),
        Err(e) if errno(&e) == Some(libc_enodev()) => Ok(None),
        Err(e) => Err(kernel(format!("get link {name}"))(e)),
    }
}

const fn libc_enodev() -> i32 {
    19 // ENODEV: what the kernel answers for an unknown link name
}
const EEXIST: i32 = 17;

/// A link's MAC address as `aa:bb:…`.
pub fn mac(m: &LinkMessage) -> String {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(b) => Some(
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// A link's name.
pub fn name(m: &LinkMessage) -> String {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The bridge a link is attached to.
pub fn controller(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

async fn must_link(h: &Handle, name: &str) -> NlResult<LinkMessage> {
    link(h, name)
        .await?
        .ok_or_else(|| NetlinkError::NoLink(name.into()))
}

/// Creates the bridge if missing and brings it up; returns it. A new bridge
/// gets `mac`: without a fixed address a Linux bridge takes its lowest
/// port's MAC and changes it whenever ports come and go.
pub async fn ensure_bridge(
    h: &Handle,
    name: &str,
    mtu: Option<u32>,
    mac: [u8; 6],
) -> NlResult<LinkMessage> {
    if link(h, name).await?.is_none() {
        let mut b = LinkBridge::new(name).address(mac.to_vec());
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        match h.link().add(b.build()).execute().await {
            // Another ADD created it at the same moment.
            Err(e) if errno(&e) == Some(EEXIST) => {}
            r => r.map_err(kernel(format!("create bridge {name}")))?,
        }
    }
    let br = must_link(h, name).await?;
    h.link()
        .set(LinkUnspec::new_with_index(br.header.index).up().build())
        .execute()
        .await
        .map_err(kernel(format!("set {name} up")))?;
    Ok(br)
}

/// Adds an address unless the link already has it.
pub async fn ensure_addr(h: &Handle, index: u32, addr: Ipv4Network) -> NlResult<()> {
    match h
        .address()
        .add(index, IpAddr::V4(addr.ip()), addr.prefix())
        .execute()
        .await
    {
        Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
        r => r.map_err(kernel(format!("add address {addr}"))),
    }
}

/// The IPv4 addresses on a link.
pub async fn addresses(h: &Handle, index: u32) -> NlResult<Vec<Ipv4Network>> {
    let mut out = Vec::new();
    let mut s = h.address().get().set_link_index_filter(index).execute();
    while let Some(m) = s.try_next().await.map_err(kernel("list addresses"))? {
        for a in &m.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = a {
                if let Ok(n) = Ipv4Network::new(*ip, m.header.prefix_len) {
                    out.push(n);
                }
            }
        }
    }
    Ok(out)
}

/// Creates a veth pair: `host` in the caller's namespace, `peer` born
/// directly in the namespace `peer_ns` under its final name (and MAC and
/// GSO size, if given). Creating it there is what the reference plugins do
/// too: moving a link into another namespace afterwards makes the kernel
/// wait for an RCU grace period, which was most of an ADD's time.
pub async fn add_veth_into(
    h: &Handle,
    host: &str,
    peer: &str,
    peer_ns: std::os::fd::RawFd,
    mtu: Option<u32>,
    peer_mac: Option<[u8; 6]>,
    gso_max: Option<u32>,
) -> NlResult<()> {
    let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .setns_by_fd(peer_ns);
    if let Some(mac) = peer_mac {
        peer_msg = peer_msg.address(mac.to_vec());
    }
    let mut v =
        LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth).name(host.to_string());
    if let Some(mtu) = mtu {
        peer_msg = peer_msg.mtu(mtu);
        v = v.mtu(mtu);
    }
    // Set at creation, on both ends, so no packet ever meets a smaller limit.
    for a in gso_max.map(gso_attributes).into_iter().flatten() {
        peer_msg = peer_msg.append_extra_attribute(a.clone());
        v = v.append_extra_attribute(a);
    }
    let msg = v
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
        .build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(kernel(format!("create veth {host} with {peer} in the pod")))
}

/// The GSO size every Linux device starts with; larger packets are "BIG TCP".
pub const GSO_LEGACY_MAX: u32 = 65_536;

/// The kernel's ceiling for a GSO packet (`GSO_MAX_SIZE`, a veth's `tso_max_size`).
pub const GSO_MAX: u32 = 524_280;

/// The largest IPv4 GSO packet a link takes (`gso_ipv4_max_size`); the
/// legacy 64 KiB on kernels before 6.3, which do not report it.
pub fn gso_ipv4_max(l: &LinkMessage) -> u32 {
    l.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::GsoIpv4MaxSize(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(GSO_LEGACY_MAX)
}

fn gso_attributes(size: u32) -> [LinkAttribute; 2] {
    [
        LinkAttribute::GsoIpv4MaxSize(size),
        LinkAttribute::GroIpv4MaxSize(size),
    ]
}

/// Sets the largest IPv4 GSO and GRO packets of a link. A forwarded packet
/// larger than the next device's limit is cut into MTU-sized segments in
/// software, so every link on a path must agree.
pub async fn set_gso_ipv4_max(h: &Handle, index: u32, size: u32) -> NlResult<()> {
    let mut m = LinkUnspec::new_with_index(index);
    for a in gso_attributes(size) {
        m = m.append_extra_attribute(a);
    }
    h.link()
        .set(m.build())
        .execute()
        .await
        .map_err(kernel(format!(
            "set the GSO size of link {index} to {size}"
        )))
}

/// Gives a bridge and each of its ports the GSO size `size` (each at most
/// its own `tso_max_size`); returns the names of the links it changed.
pub async fn follow_gso(h: &Handle, bridge: u32, size: u32) -> NlResult<Vec<String>> {
    let mut changed = Vec::new();
    let mut s = h.link().get().execute();
    let mut todo = Vec::new();
    while let Some(m) = s.try_next().await.map_err(kernel("list links"))? {
        if m.header.index != bridge && controller(&m) != Some(bridge) {
            continue;
        }
        let tso_max = m
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::TsoMaxSize(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(size);
        let want = size.min(tso_max);
        if gso_ipv4_max(&m) != want {
            todo.push((m.header.index, name(&m), want));
        }
    }
    for (index, name, want) in todo {
        set_gso_ipv4_max(h, index, want).await?;
        changed.push(name);
    }
    Ok(changed)
}

/// Attaches a link to a bridge, sets hairpin as asked, and brings it up.
pub async fn attach(h: &Handle, name: &str, bridge: u32, hairpin: bool) -> NlResult<LinkMessage> {
    let l = must_link(h, name).await?;
    let i = l.header.index;
    h.link()
        .set(LinkUnspec::new_with_index(i).controller(bridge).build())
        .execute()
        .await
        .map_err(kernel(format!("attach {name}")))?;
    if hairpin {
        h.link()
            .set_port(LinkBridgePort::new(i).hairpin(true).build())
            .execute()
            .await
            .map_err(kernel("set hairpin"))?;
    }
    h.link()
        .set(LinkUnspec::new_with_index(i).up().build())
        .execute()
        .await
        .map_err(kernel(format!("set {name} up")))?;
    must_link(h, name).await
}

/// Brings a link up; returns it.
pub async fn set_up(h: &Handle, name: &str) -> NlResult<LinkMessage> {
    let i = must_link(h, name).await?.header.index;
    h.link()
        .set(LinkUnspec::new_with_index(i).up().build())
        .execute()
        .await
        .map_err(kernel(format!("set {name} up")))?;
    must_link(h, name).await
}

/// Writes a sysctl of the namespace the calling thread is in (call it from
/// inside [`run_in`]: `/proc/sys/net` follows the thread's namespace).
pub fn sysctl(key: &str, value: &str) -> NlResult<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|source| NetlinkError::Io {
        what: format!("write {path}"),
        source,
    })
}

/// Adds `default via gw dev index`.
pub async fn add_default_route(h: &Handle, index: u32, gw: Ipv4Addr) -> NlResult<()> {
    let r = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gw)
        .output_interface(index)
        .build();
    match h.route().add(r).execute().await {
        Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
        r => r.map_err(kernel(format!("add default route via {gw}"))),
    }
}

/// The gateway of the main table's default route, if any.
pub async fn default_gateway(h: &Handle) -> NlResult<Option<Ipv4Addr>> {
    let mut s = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(m) = s.try_next().await.map_err(kernel("list routes"))? {
        if m.header.destination_prefix_length != 0 {
            continue;
        }
        for a in &m.attributes {
            if let RouteAttribute::Gateway(RouteAddress::Inet(gw)) = a {
                return Ok(Some(*gw));
            }
        }
    }
    Ok(None)
}

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
    pub message: RouteMessage,
}

/// The main table's IPv4 unicast routes.
pub async fn routes(h: &Handle) -> NlResult<Vec<KernelRoute>> {
    let mut out = Vec::new();
    let mut s = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(m) = s.try_next().await.map_err(kernel("list routes"))? {
        let table = m
            .attributes
            .iter()
            .find_map(|a| {
                if let RouteAttribute::Table(t) = a {
                    Some(*t)
                } else {
                    None
                }
            })
            .unwrap_or(u32::from(m.header.table));
        if table != u32::from(RouteHeader::RT_TABLE_MAIN) || m.header.kind != RouteType::Unicast {
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
}

/// The kernel's route choice for `dst` (`ip route get`): gateway and output
/// device name, or `None` when there is no route.
pub async fn route_choice(
    h: &Handle,
    dst: Ipv4Addr,
) -> NlResult<Option<(Option<Ipv4Addr>, String)>> {
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst, 32)
        .build();
    let reply = match h.route().get(msg).execute().try_next().await {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) if errno(&e).is_some() => return Ok(None), // ENETUNREACH and friends
        Err(e) => return Err(kernel(format!("route get {dst}"))(e)),
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
        Some(i) => h
            .link()
            .get()
            .match_index(i)
            .execute()
            .try_next()
            .await
            .map_err(kernel("get link"))?
            .map(|l| name(&l))
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(Some((via, dev)))
}

/// Adds `dst via gw proto <proto>` to the main table; with `onlink`
/// (`dev` and the `onlink` flag) when the gateway is a VXLAN peer's VTEP.
pub async fn add_route(
    h: &Handle,
    dst: Ipv4Network,
    via: Ipv4Addr,
    proto: u8,
    onlink: Option<u32>,
) -> NlResult<()> {
    let mut r = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst.network(), dst.prefix())
        .gateway(via)
        .protocol(RouteProtocol::from(proto));
    if let Some(dev) = onlink {
        r = r.output_interface(dev).onlink();
    }
    h.route()
        .add(r.build())
        .execute()
        .await
        .map_err(kernel(format!("add route {dst} via {via}")))
}

/// A VXLAN device as podnet configures it (flannel's layout).
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

/// Whether a link is a VXLAN device.
pub fn is_vxlan(l: &LinkMessage) -> bool {
    vxlan_params(l).is_some()
}

/// Creates the VXLAN device, or recreates it when an existing one of that
/// name has another VNI, port, local address or underlay device (a
/// changed node address); sets its MTU and brings it up. Learning is off:
/// the agent writes every FDB and neighbour entry, as flannel does.
pub async fn ensure_vxlan(h: &Handle, v: &Vxlan) -> NlResult<LinkMessage> {
    if let Some(l) = link(h, &v.name).await? {
        let want = (v.vni, v.port, Some(v.local), Some(v.dev));
        match vxlan_params(&l) {
            None => return Err(NetlinkError::Foreign(v.name.clone())),
            Some(have) if have != want => {
                delete(h, &v.name).await?;
            }
            Some(_) => {}
        }
    }
    if link(h, &v.name).await?.is_none() {
        let b = LinkVxlan::new(&v.name, v.vni)
            .dev(v.dev)
            .port(v.port)
            .local(v.local)
            .learning(false)
            .address(v.mac.to_vec())
            .mtu(v.mtu);
        match h.link().add(b.build()).execute().await {
            Err(e) if errno(&e) == Some(EEXIST) => {}
            r => r.map_err(kernel(format!("create VXLAN device {}", v.name)))?,
        }
    }
    let l = must_link(h, &v.name).await?;
    h.link()
        .set(
            LinkUnspec::new_with_index(l.header.index)
                .mtu(v.mtu)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(kernel(format!("set {} up", v.name)))?;
    Ok(l)
}

/// A link's MTU.
pub fn link_mtu(l: &LinkMessage) -> Option<u32> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

/// Sets a link's MTU.
pub async fn set_mtu(h: &Handle, index: u32, mtu: u32) -> NlResult<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
        .execute()
        .await
        .map_err(kernel(format!("set MTU {mtu} on link {index}")))
}

/// A neighbour or FDB entry on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The IPv4 address (`ip neigh`) or the FDB entry's `dst` (`bridge fdb`).
    pub ip: Option<Ipv4Addr>,
    /// The MAC.
    pub mac: Option<[u8; 6]>,
    message: NeighbourMessage,
}

/// The entries on device `index`: `ip neigh` (family inet) or `bridge fdb`
/// (family bridge).
pub async fn neighbours(h: &Handle, index: u32, fdb: bool) -> NlResult<Vec<Neighbour>> {
    let family = if fdb {
        AddressFamily::Bridge
    } else {
        AddressFamily::Inet
    };
    let mut out = Vec::new();
    let mut s = h.neighbours().get().set_address_family(family).execute();
    while let Some(m) = s.try_next().await.map_err(kernel("list neighbours"))? {
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
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => n.ip = Some(*ip),
                NeighbourAttribute::LinkLayerAddress(b) => n.mac = <[u8; 6]>::try_from(&b[..]).ok(),
                _ => {}
            }
        }
        out.push(n);
    }
    Ok(out)
}

/// `ip neigh replace IP lladdr MAC dev INDEX nud permanent`.
pub async fn set_neighbour(h: &Handle, index: u32, ip: Ipv4Addr, mac: [u8; 6]) -> NlResult<()> {
    h.neighbours()
        .add(index, IpAddr::V4(ip))
        .link_layer_address(&mac)
        .replace()
        .execute()
        .await
        .map_err(kernel(format!("add neighbour {ip}")))
}

/// `bridge fdb replace MAC dev INDEX dst IP self permanent`: frames for the
/// peer VTEP's MAC go inside UDP to its underlay address.
pub async fn set_fdb(h: &Handle, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> NlResult<()> {
    h.neighbours()
        .add_bridge(index, &mac)
        .flags(NeighbourFlags::Own)
        .destination(IpAddr::V4(dst))
        .replace()
        .execute()
        .await
        .map_err(kernel(format!("add FDB entry towards {dst}")))
}

/// Deletes an entry read by [`neighbours`].
pub async fn del_neighbour(h: &Handle, n: &Neighbour) -> NlResult<()> {
    match h.neighbours().del(n.message.clone()).execute().await {
        Err(e) if errno(&e) == Some(2) => Ok(()),
        r => r.map_err(kernel(format!("delete neighbour {:?}", n.ip))),
    }
}

/// Deletes a route as read by [`routes`].
pub async fn del_route(h: &Handle, r: &KernelRoute) -> NlResult<()> {
    h.route()
        .del(r.message.clone())
        .execute()
        .await
        .map_err(kernel(format!("delete route {}", r.dst)))
}

/// Deletes a link; `false` if it was already gone.
pub async fn delete(h: &Handle, name: &str) -> NlResult<bool> {
    let Some(l) = link(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(l.header.index).execute().await {
        Err(e) if errno(&e) == Some(libc_enodev()) => Ok(false),
        r => r.map(|()| true).map_err(kernel(format!("delete {name}"))),
    }
}

/// Every link of the namespace, with its addresses.
pub async fn links(h: &Handle) -> NlResult<Vec<LinkView>> {
    let mut out = Vec::new();
    let mut s = h.link().get().execute();
    while let Some(m) = s.try_next().await.map_err(kernel("list links"))? {
        let mut l = LinkView {
            index: m.header.index,
            name: String::new(),
            kind: String::new(),
            mac: mac(&m),
            controller: controller(&m),
            peer: None,
            up: m
                .header
                .flags
                .contains(rtnetlink::packet_route::link::LinkFlags::Up),
            mtu: None,
            gso_max: gso_ipv4_max(&m),
            addrs: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Mtu(v) => l.mtu = Some(*v),
                LinkAttribute::Link(i) => l.peer = Some(*i),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let rtnetlink::packet_route::link::LinkInfo::Kind(k) = i {
                            l.kind = k.to_string();
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(l);
    }
    for l in &mut out {
        l.addrs = addresses(h, l.index).await?;
    }
    Ok(out)
}

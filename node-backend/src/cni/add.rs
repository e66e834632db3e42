//! ADD: an address from the IPAM, then bridge, veth pair, address and route.
//!
//! The address is allocated and saved first, so a crash after that point
//! leaves a record GC can reclaim. If any kernel step fails, the veth pair
//! (and with it the pod end) is deleted and the address released: a failed
//! ADD leaves nothing behind.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use podnet_core::net::MacAddr;
use serde_json::json;

use super::conf::{self, NetConf};
use super::error::{CniError, CniResult, Code};
use super::store::Store;
use super::{netlink_error, Attachment};
use crate::netlink::{self, Netns};

/// Fault injection for the crash test: sleep this many milliseconds after the
/// allocation is saved and before the kernel is touched.
pub const HOLD_AFTER_ALLOC_ENV: &str = "PODNET_CNI_HOLD_AFTER_ALLOC_MS";

/// Runs ADD and returns the result JSON.
pub fn run(conf: &NetConf, att: &Attachment) -> CniResult<String> {
    let netns_path = att.netns.clone().unwrap_or_default();
    let pod_ns = Netns::open(&netns_path).map_err(|e| {
        CniError::new(
            Code::UnknownContainer,
            format!("network namespace {} does not exist", netns_path.display()),
        )
        .details(e.to_string())
    })?;
    let store = Store::open(&conf.data_dir, &conf.name)?;
    let key = att.key();
    let ip = store.with_ipam(&conf.ipam, |ipam| Ok(ipam.allocate(key.clone())?))?;
    if let Some(ms) = std::env::var(HOLD_AFTER_ALLOC_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    match plumb(conf, att, &pod_ns, ip) {
        Ok(result) => Ok(result),
        Err(e) => {
            let host = att.host_veth.to_string();
            let _ = netlink::run_in(
                None,
                move |h| async move { netlink::delete(&h, &host).await },
            );
            let _ = store.with_ipam(&conf.ipam, |ipam| Ok(ipam.release(&key).map(|_| ())?));
            Err(e)
        }
    }
}

fn plumb(conf: &NetConf, att: &Attachment, pod_ns: &Netns, ip: Ipv4Addr) -> CniResult<String> {
    let prefix = conf.ipam.subnet.prefix();
    let gw = conf.gateway();
    let (bridge, mtu, hairpin, is_gateway, gso) = (
        conf.bridge.to_string(),
        conf.mtu,
        conf.hairpin,
        conf.is_gateway,
        conf.gso_max_size,
    );
    let (host, ifname) = (att.host_veth.to_string(), att.ifname.to_string());
    let ns_fd = pod_ns.fd();
    // The model's MACs, so a captured frame compares with it byte for byte.
    let bridge_mac = MacAddr::on_pod_network(gw);
    let pod_mac = MacAddr::on_pod_network(ip);
    let gw_net = Ipv4Network::new(gw, prefix)
        .map_err(|e| CniError::new(Code::InvalidConfig, e.to_string()))?;
    let (br, host_link) = {
        let (host, ifname) = (host.clone(), ifname.clone());
        netlink::run_in(None, move |h| async move {
            let br = netlink::ensure_bridge(&h, &bridge, mtu, bridge_mac.0).await?;
            if is_gateway {
                netlink::ensure_addr(&h, br.header.index, gw_net).await?;
            }
            netlink::add_veth_into(&h, &host, &ifname, ns_fd, mtu, Some(pod_mac.0), gso).await?;
            let host_link = netlink::attach(&h, &host, br.header.index, hairpin).await?;
            // An empty bridge cannot take more than 64 KiB; with its first
            // port it can, and forwarded packets must not be cut there. Best
            // effort: if another port keeps it smaller, the pod still works
            // and larger packets are segmented in software.
            if let Some(size) = gso.filter(|&g| g != netlink::gso_ipv4_max(&br)) {
                let _ = netlink::set_gso_ipv4_max(&h, br.header.index, size).await;
            }
            Ok((br, host_link))
        })
        .map_err(netlink_error)?
    };
    let addr = Ipv4Network::new(ip, prefix)
        .map_err(|e| CniError::new(Code::InvalidConfig, e.to_string()))?;
    let pod_link = {
        let ifname = ifname.clone();
        netlink::run_in(Some(pod_ns), move |h| async move {
            let l = netlink::set_up(&h, &ifname).await?;
            netlink::ensure_addr(&h, l.header.index, addr).await?;
            if is_gateway {
                netlink::add_default_route(&h, l.header.index, gw).await?;
            }
            Ok(l)
        })
        .map_err(netlink_error)?
    };
    let mut ipc = json!({ "address": addr.to_string(), "interface": 2 });
    if conf::tags_ip_version(&conf.cni_version) {
        ipc["version"] = json!("4");
    }
    let mut routes = vec![];
    if is_gateway {
        ipc["gateway"] = json!(gw.to_string());
        routes.push(json!({ "dst": "0.0.0.0/0", "gw": gw.to_string() }));
    }
    Ok(json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            { "name": conf.bridge.to_string(), "mac": netlink::mac(&br) },
            { "name": host, "mac": netlink::mac(&host_link) },
            { "name": ifname, "mac": netlink::mac(&pod_link), "sandbox": att.netns.as_ref().map(|p| p.display().to_string()) },
        ],
        "ips": [ipc],
        "routes": routes,
        "dns": {},
    })
    .to_string())
}

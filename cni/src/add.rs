//! ADD: an address from the IPAM, then bridge, veth pair, address and route.
//!
//! The address is allocated and saved first, so a crash after that point
//! leaves a record GC can reclaim. If any kernel step fails, the veth pair
//! (and with it the pod end) is deleted and the address released: a failed
//! ADD leaves nothing behind.

use std::net::Ipv4Addr;
use std::time::Duration;

use podnet_core::net::{Ipv4Network, MacAddr};
use serde_json::json;

use super::conf::{self, NetConf};
use super::error::{CniError, CniResult, Code};
use super::store::Store;
use super::{netlink_error, Attachment};
use podnet_kernel::link::VethEnd;
use podnet_kernel::{Netlink, Netns};

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
    let host = Netlink::here().map_err(netlink_error)?;
    let store = Store::open(&conf.data_dir, &conf.name)?;
    let key = att.key();
    let ip = store.with_ipam(&conf.ipam, |ipam| Ok(ipam.allocate(key.clone())?))?;
    if let Some(ms) = std::env::var(HOLD_AFTER_ALLOC_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    match plumb(conf, att, &host, &pod_ns, ip) {
        Ok(result) => Ok(result),
        Err(e) => {
            // The pod end goes with the host end.
            let _ = host.delete(att.host_veth.as_str());
            let _ = store.with_ipam(&conf.ipam, |ipam| Ok(ipam.release(&key).map(|_| ())?));
            Err(e)
        }
    }
}

fn plumb(
    conf: &NetConf,
    att: &Attachment,
    host: &Netlink,
    pod_ns: &Netns,
    ip: Ipv4Addr,
) -> CniResult<String> {
    let prefix = conf.ipam.subnet.prefix();
    let gw = conf.gateway();
    fn bad(e: impl std::fmt::Display) -> CniError {
        CniError::new(Code::InvalidConfig, e.to_string())
    }
    let gw_net = Ipv4Network::new(gw, prefix).map_err(bad)?;
    let addr = Ipv4Network::new(ip, prefix).map_err(bad)?;
    // The model's MACs, so a captured frame compares with it byte for byte.
    let bridge_mac = MacAddr::on_pod_network(gw);
    let pod_mac = MacAddr::on_pod_network(ip);
    let (br, host_link) = (|| {
        let br = host.ensure_bridge(conf.bridge.as_str(), conf.mtu, bridge_mac.0)?;
        if conf.is_gateway {
            host.ensure_addr(br.index, gw_net)?;
        }
        let peer = VethEnd {
            name: att.ifname.as_str(),
            mac: Some(pod_mac.0),
        };
        host.add_veth(
            att.host_veth.as_str(),
            peer,
            pod_ns,
            conf.mtu,
            conf.gso_max_size,
        )?;
        let host_link = host.attach(att.host_veth.as_str(), br.index, conf.hairpin)?;
        // An empty bridge cannot take more than 64 KiB; with its first
        // port it can, and forwarded packets must not be cut there. Best
        // effort: if another port keeps it smaller, the pod still works
        // and larger packets are segmented in software.
        if let Some(size) = conf.gso_max_size.filter(|&g| g != br.gso_ipv4_max) {
            let _ = host.set_gso_ipv4_max(br.index, size);
        }
        Ok((br, host_link))
    })()
    .map_err(netlink_error)?;
    let pod_link = (|| {
        let pod = Netlink::open(pod_ns)?;
        let l = pod.set_up(att.ifname.as_str())?;
        pod.ensure_addr(l.index, addr)?;
        if conf.is_gateway {
            pod.add_default_route(l.index, gw)?;
        }
        Ok(l)
    })()
    .map_err(netlink_error)?;
    let mut ipc = json!({ "address": addr.to_string(), "interface": 2 });
    if conf::tags_ip_version(&conf.cni_version) {
        ipc["version"] = json!("4");
    }
    let mut routes = vec![];
    if conf.is_gateway {
        ipc["gateway"] = json!(gw.to_string());
        routes.push(json!({ "dst": "0.0.0.0/0", "gw": gw.to_string() }));
    }
    Ok(json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            { "name": conf.bridge.to_string(), "mac": br.mac_text() },
            { "name": att.host_veth.to_string(), "mac": host_link.mac_text() },
            { "name": att.ifname.to_string(), "mac": pod_link.mac_text(), "sandbox": att.netns.as_ref().map(|p| p.display().to_string()) },
        ],
        "ips": [ipc],
        "routes": routes,
        "dns": {},
    })
    .to_string())
}

//! The VXLAN backend on one node: the `podnet.1` device, its address, and
//! the neighbour and FDB entries towards each peer, as the plan's
//! [`VtepPlan`] says. Everything on `podnet.1` is podnet's, so entries the
//! plan no longer names are removed; without a VTEP in the plan (host-gw),
//! the device is deleted and its routes go with it.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use podnet_core::plan::VtepPlan;
use rtnetlink::Handle;

use crate::netlink::{self, NetlinkError, NlResult, Vxlan};

/// Brings the VTEP to the plan; returns its index when there is one.
pub async fn reconcile(h: &Handle, plan: Option<&VtepPlan>, uplink: &str) -> NlResult<Option<u32>> {
    let Some(p) = plan else {
        // Ours by name, but only if it is a VXLAN device.
        if let Some(l) = netlink::link(h, podnet_core::topology::vxlan::DEVICE).await? {
            if netlink::is_vxlan(&l) {
                netlink::delete(h, podnet_core::topology::vxlan::DEVICE).await?;
            }
        }
        return Ok(None);
    };
    let up = netlink::link(h, uplink)
        .await?
        .ok_or_else(|| NetlinkError::NoLink(uplink.into()))?;
    let dev = netlink::ensure_vxlan(
        h,
        &Vxlan {
            name: p.name.to_string(),
            vni: p.vni,
            port: p.port,
            local: p.local,
            dev: up.header.index,
            mac: p.mac.0,
            mtu: u32::from(p.mtu),
        },
    )
    .await?;
    let index = dev.header.index;
    netlink::ensure_addr(h, index, p.address).await?;
    let neigh: Vec<(Ipv4Addr, [u8; 6])> = p.peers.iter().map(|x| (x.vtep_ip, x.mac.0)).collect();
    let fdb: Vec<([u8; 6], Ipv4Addr)> = p.peers.iter().map(|x| (x.mac.0, x.underlay)).collect();
    for n in netlink::neighbours(h, index, false).await? {
        let wanted = matches!((n.ip, n.mac), (Some(ip), Some(mac)) if neigh.contains(&(ip, mac)));
        if !wanted {
            netlink::del_neighbour(h, &n).await?;
        }
    }
    let mut have = HashSet::new();
    for n in netlink::neighbours(h, index, true).await? {
        match (n.mac, n.ip) {
            (Some(mac), Some(ip)) if fdb.contains(&(mac, ip)) => {
                have.insert((mac, ip));
            }
            // The kernel's own entry for the device's MAC has no dst.
            (Some(mac), None) if mac == p.mac.0 => {}
            _ => netlink::del_neighbour(h, &n).await?,
        }
    }
    for &(ip, mac) in &neigh {
        netlink::set_neighbour(h, index, ip, mac).await?;
    }
    for &(mac, ip) in &fdb {
        if !have.contains(&(mac, ip)) {
            netlink::set_fdb(h, index, mac, ip).await?;
        }
    }
    Ok(Some(index))
}

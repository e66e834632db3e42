//! The VXLAN backend on one node: the `podnet.1` device, its address, and
//! the neighbour and FDB entries towards each peer, as the plan's
//! [`VtepPlan`] says. Everything on `podnet.1` is podnet's, so entries the
//! plan no longer names are removed; without a VTEP in the plan (host-gw),
//! the device is deleted and its routes go with it.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use podnet_core::plan::VtepPlan;
use podnet_core::topology::vxlan::DEVICE;
use podnet_kernel::neigh::Table;
use podnet_kernel::{Error, Netlink, Result, Vxlan};

/// Brings the VTEP to the plan; returns its index when there is one.
pub fn reconcile(nl: &Netlink, plan: Option<&VtepPlan>, uplink: &str) -> Result<Option<u32>> {
    let Some(p) = plan else {
        // Ours by name, but only if it is a VXLAN device.
        nl.delete_vxlan(DEVICE)?;
        return Ok(None);
    };
    let up = nl
        .link(uplink)?
        .ok_or_else(|| Error::NoLink(uplink.into()))?;
    let dev = nl.ensure_vxlan(&Vxlan {
        name: p.name.to_string(),
        vni: p.vni,
        port: p.port,
        local: p.local,
        dev: up.index,
        mac: p.mac.0,
        mtu: u32::from(p.mtu),
    })?;
    let index = dev.index;
    nl.ensure_addr(index, p.address)?;
    let neigh: Vec<(Ipv4Addr, [u8; 6])> = p.peers.iter().map(|x| (x.vtep_ip, x.mac.0)).collect();
    let fdb: Vec<([u8; 6], Ipv4Addr)> = p.peers.iter().map(|x| (x.mac.0, x.underlay)).collect();
    for n in nl.neighbours(index, Table::Arp)? {
        let wanted = matches!((n.ip, n.mac), (Some(ip), Some(mac)) if neigh.contains(&(ip, mac)));
        if !wanted {
            nl.del_neighbour(&n)?;
        }
    }
    let mut have = HashSet::new();
    for n in nl.neighbours(index, Table::Fdb)? {
        match (n.mac, n.ip) {
            (Some(mac), Some(ip)) if fdb.contains(&(mac, ip)) => {
                have.insert((mac, ip));
            }
            // The kernel's own entry for the device's MAC has no dst.
            (Some(mac), None) if mac == p.mac.0 => {}
            _ => nl.del_neighbour(&n)?,
        }
    }
    for &(ip, mac) in &neigh {
        nl.set_neighbour(index, ip, mac)?;
    }
    for &(mac, ip) in &fdb {
        if !have.contains(&(mac, ip)) {
            nl.set_fdb(index, mac, ip)?;
        }
    }
    Ok(Some(index))
}

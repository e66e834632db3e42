//! CHECK: is the attachment still as ADD left it (address held, host veth on
//! the bridge, the pod's interface with its address and default route)?

use std::net::Ipv4Addr;

use podnet_core::net::Ipv4Network;

use super::conf::NetConf;
use super::error::{CniError, CniResult, Code};
use super::store::Store;
use super::{netlink_error, Attachment};
use podnet_kernel::{Netlink, Netns};

fn failed(what: impl Into<String>) -> CniError {
    CniError::new(Code::CheckFailed, "CHECK failed").details(what.into())
}

/// Runs CHECK.
pub fn run(conf: &NetConf, att: &Attachment) -> CniResult<()> {
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| CniError::new(Code::InvalidConfig, "CHECK needs prevResult"))?;
    let addr: Ipv4Network = prev["ips"][0]["address"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CniError::new(Code::Decode, "prevResult has no IPv4 address in ips[0]"))?;
    let held = Store::open(&conf.data_dir, &conf.name)?
        .read(&conf.ipam)?
        .get(&att.key());
    if held != Some(addr.ip()) {
        return Err(failed(format!(
            "IPAM holds {held:?} for this container, prevResult says {}",
            addr.ip()
        )));
    }
    let host = Netlink::here().map_err(netlink_error)?;
    let br = host.link(conf.bridge.as_str()).map_err(netlink_error)?;
    let hl = host.link(att.host_veth.as_str()).map_err(netlink_error)?;
    let br = br.ok_or_else(|| failed(format!("bridge {} is missing", conf.bridge)))?;
    let hl = hl.ok_or_else(|| failed(format!("host veth {} is missing", att.host_veth)))?;
    if hl.controller != Some(br.index) {
        return Err(failed(format!(
            "{} is not attached to {}",
            att.host_veth, conf.bridge
        )));
    }
    let path = att.netns.clone().unwrap_or_default();
    let ns =
        Netns::open(&path).map_err(|e| CniError::new(Code::UnknownContainer, e.to_string()))?;
    let (link, addrs, gw): (_, Vec<Ipv4Network>, Option<Ipv4Addr>) = (|| {
        let pod = Netlink::open(&ns)?;
        let Some(l) = pod.link(att.ifname.as_str())? else {
            return Ok((None, vec![], None));
        };
        let addrs = pod.addresses(l.index)?;
        Ok((Some(l), addrs, pod.default_gateway()?))
    })()
    .map_err(netlink_error)?;
    if link.is_none() {
        return Err(failed(format!(
            "{} is missing in {}",
            att.ifname,
            path.display()
        )));
    }
    if !addrs.contains(&addr) {
        return Err(failed(format!(
            "{} does not have {addr} (has {addrs:?})",
            att.ifname
        )));
    }
    if conf.is_gateway && gw != Some(conf.gateway()) {
        return Err(failed(format!(
            "default route is via {gw:?}, expected {}",
            conf.gateway()
        )));
    }
    Ok(())
}

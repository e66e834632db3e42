//! GC: release every address (and host veth) whose attachment the runtime no
//! longer lists in `cni.dev/valid-attachments`: what a crashed ADD leaked.

use std::collections::HashSet;

use podnet_core::net::host_veth_name;

use super::conf::NetConf;
use super::error::{CniError, CniResult, Code};
use super::netlink_error;
use super::store::Store;
use podnet_kernel::Netlink;

/// Runs GC.
pub fn run(conf: &NetConf) -> CniResult<()> {
    let valid = conf.valid_attachments.as_ref().ok_or_else(|| {
        CniError::new(Code::InvalidConfig, "GC needs cni.dev/valid-attachments")
            .details("without the list every address would look leaked")
    })?;
    let keep: HashSet<(&str, &str)> = valid
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    let store = Store::open(&conf.data_dir, &conf.name)?;
    let gone = store.with_ipam(&conf.ipam, |ipam| {
        let stale: Vec<_> = ipam
            .allocations()
            .into_iter()
            .filter(|a| !keep.contains(&(a.key.container_id.as_str(), a.key.ifname.as_str())))
            .map(|a| a.key)
            .collect();
        for key in &stale {
            ipam.release(key)?;
        }
        Ok(stale)
    })?;
    let host = Netlink::here().map_err(netlink_error)?;
    for k in &gone {
        host.delete(host_veth_name(&k.container_id, &k.ifname).as_str())
            .map_err(netlink_error)?;
    }
    Ok(())
}

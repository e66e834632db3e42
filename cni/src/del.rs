//! DEL: remove the veth pair, then give the address back. Succeeds when
//! things are already gone (a second DEL, a deleted namespace, a failed ADD).

use super::conf::NetConf;
use super::error::CniResult;
use super::store::Store;
use super::{netlink_error, Attachment};
use podnet_kernel::Netlink;

/// Runs DEL.
pub fn run(conf: &NetConf, att: &Attachment) -> CniResult<()> {
    // The link first: the address must not be handed out while the old interface still has it.
    Netlink::here()
        .and_then(|host| host.delete(att.host_veth.as_str()))
        .map_err(netlink_error)?;
    let key = att.key();
    Store::open(&conf.data_dir, &conf.name)?.with_ipam(&conf.ipam, |ipam| {
        let _ = ipam.release(&key); // already released: fine
        Ok(())
    })
}

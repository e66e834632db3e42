//! STATUS: can this plugin take another ADD? (the node agent has programmed
//! the node, the IPAM state is readable, an address is free)

use super::conf::NetConf;
use super::error::{CniError, CniResult, Code};
use super::store::Store;

/// Runs STATUS.
pub fn run(conf: &NetConf) -> CniResult<()> {
    if let Some(file) = conf.agent_status_file.as_ref().filter(|f| !f.is_file()) {
        return Err(CniError::new(
            Code::NotAvailable,
            "podnet-agent has not programmed this node yet",
        )
        .details(format!("{} does not exist", file.display())));
    }
    let ipam = Store::open(&conf.data_dir, &conf.name)
        .and_then(|s| s.read(&conf.ipam))
        .map_err(|e| {
            CniError::new(Code::NotAvailable, "IPAM state is not usable").details(e.to_string())
        })?;
    if ipam.len() as u32 >= ipam.capacity() {
        return Err(CniError::new(
            Code::NotAvailable,
            format!("no free address in {}", ipam.subnet()),
        )
        .details(format!("all {} addresses are allocated", ipam.capacity())));
    }
    Ok(())
}

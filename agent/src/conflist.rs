//! The CNI network config the agent writes for `podnet-cni` once it knows
//! its node's range: the file the kubelet waits for before the Node turns Ready.

use std::fs;

use podnet_core::plan::Plan;
use serde_json::json;

use crate::{AgentConfig, AgentError};

/// The file name of podnet's network config in the CNI config directory.
pub const CNI_CONF_FILE: &str = "10-podnet.conflist";

/// The CNI network config for this node's range; pods get the uplink's
/// GSO size `gso` (BIG TCP when above 64 KiB).
pub fn render(plan: &Plan, cfg: &AgentConfig, gso: u32) -> String {
    let (version, data_dir) = (&cfg.cni_version, &cfg.cni_data_dir);
    let mut conf = json!({
        "cniVersion": version,
        "name": podnet_core::plan::CNI_NETWORK,
        "plugins": [{
            "type": "podnet-cni",
            "bridge": plan.bridge.name.to_string(),
            "isGateway": true,
            // A pod reaching itself through its own Service: the bridge
            // must send the frame back out of the port it came in on.
            "hairpinMode": true,
            "mtu": plan.mtu,
            "gsoMaxSize": gso,
            "ipam": {
                "type": "host-local",
                "subnet": plan.bridge.address.network().to_string() + "/" + &plan.bridge.address.prefix().to_string(),
                "gateway": plan.bridge.address.ip().to_string(),
                "dataDir": data_dir.display().to_string(),
            }
        }]
    });
    if let Some(file) = &cfg.status_file {
        conf["plugins"][0]["agentStatusFile"] = json!(file.display().to_string());
    }
    if let Some(file) = &cfg.cni_log_file {
        conf["plugins"][0]["logFile"] = json!(file.display().to_string());
    }
    if cfg.port_mappings {
        // hostPorts: portmap DNATs the node's port to the pod's, and with
        // `snat` masquerades a pod reaching its own hostPort (hairpin).
        if let Some(plugins) = conf["plugins"].as_array_mut() {
            plugins.push(json!({
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
            }));
        }
    }
    serde_json::to_string_pretty(&conf).unwrap_or_default()
}

/// Writes the conflist atomically (a temporary file renamed over it) and
/// only when its content changes, so the kubelet never reads half a file
/// and is not woken for nothing. Returns whether it was written.
pub fn write(cfg: &AgentConfig, conf: &str) -> Result<bool, AgentError> {
    let path = cfg.cni_conf_dir.join(CNI_CONF_FILE);
    if fs::read_to_string(&path).ok().as_deref() == Some(conf) {
        return Ok(false);
    }
    let io = |e: std::io::Error| AgentError::Io(format!("cannot write {}: {e}", path.display()));
    fs::create_dir_all(&cfg.cni_conf_dir).map_err(io)?;
    let tmp = cfg.cni_conf_dir.join(format!(".{CNI_CONF_FILE}.tmp"));
    fs::write(&tmp, conf).map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    Ok(true)
}

//! The lab's pods come from the real `podnet-cni`, called as a container
//! runtime calls it: `CNI_*` variables, the agent's network config on stdin,
//! the result on stdout.

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;

use crate::error::LabError;
use crate::process::command_in;
use crate::state::{LabNode, LabState};

/// The plugin config a runtime would pass for a node: the first plugin of
/// the conflist the agent wrote, with the list's version and name.
pub(crate) fn plugin_conf(state: &LabState, node: &str) -> Result<serde_json::Value, LabError> {
    let path = state.cni_dir(node).join("10-podnet.conflist");
    let text = fs::read(&path).map_err(LabError::file("read", &path))?;
    let list: serde_json::Value = serde_json::from_slice(&text).map_err(|e| LabError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(first_plugin(&list))
}

/// A conflist's first plugin with the list's version and name: what a
/// runtime passes that plugin on stdin.
pub fn first_plugin(list: &serde_json::Value) -> serde_json::Value {
    let mut plugin = list["plugins"][0].clone();
    plugin["cniVersion"] = list["cniVersion"].clone();
    plugin["name"] = list["name"].clone();
    plugin
}

/// `ADD` for a pod namespace on a node; returns the address it got.
pub(crate) fn add(
    bin_dir: &Path,
    node: &LabNode,
    netns: &str,
    pod: &str,
    conf: &serde_json::Value,
) -> Result<Ipv4Addr, LabError> {
    let program = bin_dir.join("podnet-cni");
    let mut child = command_in(&node.netns, &program, false)?
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", &bin_dir.display().to_string()),
        ])
        .env("CNI_CONTAINERID", pod)
        .env("CNI_NETNS", Path::new("/run/netns").join(netns))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            program: program.clone(),
            source,
        })?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(conf.to_string().as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|source| LabError::Spawn { program, source })?;
    let failed = |answer: String| LabError::Cni {
        verb: "ADD",
        pod: pod.into(),
        answer,
    };
    if !out.status.success() {
        return Err(failed(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["ips"][0]["address"]
        .as_str()
        .and_then(|a| a.split('/').next()?.parse().ok())
        .ok_or_else(|| failed(format!("no address in its result: {v}")))
}

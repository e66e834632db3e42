//! `podnet-cni`, the CNI plugin: a bridge + veth + host-local-style IPAM plugin.
//!
//! Contract (CNI spec 1.1.0, 1.0.0, and 0.4.0/0.3.x for the configs existing
//! clusters carry, each answered in its own result format): the runtime sets `CNI_COMMAND`
//! (ADD, DEL, CHECK, VERSION, GC, STATUS) and, per command, `CNI_CONTAINERID`,
//! `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH`, and writes the network
//! configuration to stdin. [`run`] validates everything before touching the
//! kernel, then answers with a result (ADD), nothing (the others), or the
//! spec's error JSON and a non-zero exit. One file per verb:
//! [`add`], [`del`], [`check`], [`gc`], [`status`]; config in [`conf`],
//! `CNI_ARGS` in [`args`];
//! the IPAM state on disk, under a lock, in [`store`].

pub mod add;
pub mod args;
pub mod check;
pub mod conf;
pub mod del;
pub mod error;
pub mod gc;
pub mod status;
pub mod store;

use std::path::PathBuf;

use podnet_core::alloc::AllocKey;
use podnet_core::net::{host_veth_name, IfName};
use serde_json::json;

use conf::{NetConf, SUPPORTED_VERSIONS};
use error::{CniError, CniResult, Code};

/// The CNI environment of one call.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// CNI_COMMAND.
    pub command: Option<String>,
    /// CNI_CONTAINERID.
    pub container_id: Option<String>,
    /// CNI_NETNS.
    pub netns: Option<String>,
    /// CNI_IFNAME.
    pub ifname: Option<String>,
    /// CNI_ARGS.
    pub args: Option<String>,
    /// CNI_PATH.
    pub path: Option<String>,
}

impl Env {
    /// Reads the CNI_* variables through `get` (the process environment, or a test's map).
    pub fn from(get: impl Fn(&str) -> Option<String>) -> Env {
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        Env {
            command: non_empty("CNI_COMMAND"),
            container_id: non_empty("CNI_CONTAINERID"),
            netns: non_empty("CNI_NETNS"),
            ifname: non_empty("CNI_IFNAME"),
            args: non_empty("CNI_ARGS"),
            path: non_empty("CNI_PATH"),
        }
    }

    fn need<'a>(&'a self, name: &str, v: &'a Option<String>) -> CniResult<&'a str> {
        v.as_deref()
            .ok_or_else(|| CniError::new(Code::InvalidEnv, format!("{name} is not set")))
    }
}

/// One pod interface: who it belongs to and what it is called on both ends.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME, the name inside the pod.
    pub ifname: IfName,
    /// The host end of the veth pair.
    pub host_veth: IfName,
    /// CNI_NETNS, if given.
    pub netns: Option<PathBuf>,
}

impl Attachment {
    /// Reads and validates the attachment from the environment; `netns` says whether it is required.
    pub fn from_env(env: &Env, netns_required: bool) -> CniResult<Attachment> {
        let container_id = env.need("CNI_CONTAINERID", &env.container_id)?;
        if !container_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(CniError::new(
                Code::InvalidEnv,
                "CNI_CONTAINERID has characters outside [A-Za-z0-9_.-]",
            ));
        }
        let ifname = IfName::new(env.need("CNI_IFNAME", &env.ifname)?).map_err(|e| {
            CniError::new(Code::InvalidEnv, "CNI_IFNAME is not a valid interface name")
                .details(e.to_string())
        })?;
        let netns = match (&env.netns, netns_required) {
            (Some(p), _) => Some(PathBuf::from(p)),
            (None, true) => return Err(CniError::new(Code::InvalidEnv, "CNI_NETNS is not set")),
            (None, false) => None,
        };
        Ok(Attachment {
            host_veth: host_veth_name(container_id, ifname.as_str()),
            container_id: container_id.to_string(),
            ifname,
            netns,
        })
    }

    /// The IPAM key.
    pub fn key(&self) -> AllocKey {
        AllocKey::new(self.container_id.clone(), self.ifname.as_str())
    }
}

/// What the plugin prints and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// JSON for stdout (may be empty).
    pub stdout: String,
    /// Exit status.
    pub exit: i32,
}

/// The `cniVersion` the caller asked for, if stdin has one.
fn requested_version(stdin: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(stdin).ok()?;
    v.get("cniVersion")?.as_str().map(String::from)
}

fn version(stdin: &[u8]) -> String {
    let asked = requested_version(stdin)
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| "1.1.0".into());
    json!({ "cniVersion": asked, "supportedVersions": SUPPORTED_VERSIONS }).to_string()
}

/// Runs one CNI call.
pub fn run(env: &Env, stdin: &[u8]) -> Outcome {
    let command = env.command.as_deref().unwrap_or("");
    let result: CniResult<String> = (|| match command {
        "VERSION" => Ok(version(stdin)),
        "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" => {
            let conf: NetConf = conf::parse(stdin)?;
            if !conf::allows(&conf.cni_version, command) {
                return Err(CniError::new(
                    Code::IncompatibleVersion,
                    format!("cniVersion {} has no {command}", conf.cni_version),
                )
                .details(format!(
                    "{command} came in CNI {}",
                    conf::introduced(command)
                )));
            }
            if matches!(command, "ADD" | "DEL" | "CHECK") {
                args::CniArgs::parse(env.args.as_deref())?;
            }
            match command {
                "ADD" => add::run(&conf, &Attachment::from_env(env, true)?),
                "DEL" => {
                    del::run(&conf, &Attachment::from_env(env, false)?).map(|()| String::new())
                }
                "CHECK" => {
                    check::run(&conf, &Attachment::from_env(env, true)?).map(|()| String::new())
                }
                "GC" => gc::run(&conf).map(|()| String::new()),
                _ => status::run(&conf).map(|()| String::new()),
            }
        }
        "" => Err(CniError::new(Code::InvalidEnv, "CNI_COMMAND is not set")),
        other => Err(CniError::new(
            Code::InvalidEnv,
            format!("CNI_COMMAND {other:?} is not one of ADD, DEL, CHECK, VERSION, GC, STATUS"),
        )),
    })();
    let outcome = match &result {
        Ok(stdout) => Outcome {
            stdout: stdout.clone(),
            exit: 0,
        },
        Err(e) => {
            let v = requested_version(stdin).unwrap_or_else(|| "1.1.0".into());
            Outcome {
                stdout: e.to_json(&v),
                exit: 1,
            }
        }
    };
    log_call(env, stdin, &result);
    outcome
}

/// `logFile` (a podnet extension, like other plugins' log file options):
/// one JSON line per call, so an admin sees every ADD and DEL a runtime
/// made, with its namespace (empty on the DEL a runtime repeats after the
/// namespace is gone). Read from the raw config, so refused calls are
/// logged too; a log that cannot be written never fails the call.
fn log_call(env: &Env, stdin: &[u8], result: &CniResult<String>) {
    use std::io::Write;
    let Some(path) = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| v.get("logFile")?.as_str().map(std::path::PathBuf::from))
    else {
        return;
    };
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let line = json!({
        "timeMs": ms,
        "command": env.command,
        "containerId": env.container_id,
        "netns": env.netns.clone().unwrap_or_default(),
        "ifname": env.ifname,
        "ok": result.is_ok(),
        "error": result.as_ref().err().map(|e| e.to_string()),
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Maps a netlink failure to the CNI error a runtime understands.
pub(crate) fn netlink_error(e: podnet_kernel::Error) -> CniError {
    CniError::new(Code::Netlink, "the kernel refused a network change").details(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from(|k| map.get(k).cloned())
    }

    #[test]
    fn version_needs_nothing_else() {
        let out = run(&env(&[("CNI_COMMAND", "VERSION")]), b"");
        assert_eq!(out.exit, 0);
        assert_eq!(
            out.stdout,
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
        // A runtime asking in an older version is answered in it.
        let out = run(
            &env(&[("CNI_COMMAND", "VERSION")]),
            br#"{"cniVersion":"0.3.1"}"#,
        );
        assert!(
            out.stdout.starts_with(r#"{"cniVersion":"0.3.1","#),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn a_verb_newer_than_the_config_is_code_1() {
        let conf = |v: &str| {
            format!(r#"{{"cniVersion":"{v}","name":"n","ipam":{{"subnet":"10.1.0.0/24"}}}}"#)
        };
        let full = [
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/nonexistent"),
        ];
        for (verb, version) in [
            ("CHECK", "0.3.1"),
            ("CHECK", "0.3.0"),
            ("STATUS", "1.0.0"),
            ("GC", "0.4.0"),
        ] {
            let mut e = full.to_vec();
            e.push(("CNI_COMMAND", verb));
            let out = run(&env(&e), conf(version).as_bytes());
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(v["code"], 1, "{verb} {version}: {}", out.stdout);
            assert_eq!(v["cniVersion"], version);
            assert!(v["msg"].as_str().unwrap().contains(verb));
        }
    }

    #[test]
    fn bad_cni_args_are_code_4_before_anything_is_touched() {
        let conf = br#"{"cniVersion":"0.4.0","name":"n","ipam":{"subnet":"10.1.0.0/24"}}"#;
        let out = run(
            &env(&[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_NETNS", "/nonexistent"),
                ("CNI_ARGS", "K8S_POD_NAME=a;SOMETHING=else"),
            ]),
            conf,
        );
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["code"], 4, "{}", out.stdout);
        assert!(v["details"].as_str().unwrap().contains("SOMETHING"));
    }

    #[test]
    fn missing_or_bad_env_is_code_4_with_the_spec_json() {
        let conf = br#"{"cniVersion":"1.0.0","name":"n","ipam":{"subnet":"10.1.0.0/24"}}"#;
        for e in [
            env(&[]),
            env(&[("CNI_COMMAND", "FROB")]),
            env(&[
                ("CNI_COMMAND", "ADD"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_NETNS", "/x"),
            ]),
            env(&[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "eth0"),
            ]),
            env(&[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "sixteen-chars-xx"),
                ("CNI_NETNS", "/x"),
            ]),
            env(&[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "c/1"),
                ("CNI_IFNAME", "eth0"),
            ]),
        ] {
            let out = run(&e, conf);
            assert_eq!(out.exit, 1);
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(v["code"], 4, "{e:?}: {}", out.stdout);
            assert_eq!(v["cniVersion"], "1.0.0");
            assert!(!v["msg"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn the_host_veth_name_is_stable_and_fits() {
        let a = Attachment::from_env(
            &env(&[("CNI_CONTAINERID", "abc"), ("CNI_IFNAME", "eth0")]),
            false,
        )
        .unwrap();
        assert_eq!(a.host_veth, host_veth_name("abc", "eth0"));
    }
}

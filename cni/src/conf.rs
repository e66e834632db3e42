//! The network configuration on stdin, parsed and defaulted in one place (like
//! the reference plugins' `loadNetConf`). Field names follow the reference
//! `bridge` and `host-local` plugins so a user can switch.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use podnet_core::alloc::IpamConfig;
use podnet_core::net::{parse_cidr, IfName, Ipv4Network};
use serde::Deserialize;
use serde_json::Value;

use super::error::{CniError, CniResult, Code};
use podnet_kernel::{GSO_LEGACY_MAX, GSO_MAX};

/// CNI versions podnet-cni speaks: 1.x, and the 0.3/0.4 versions existing
/// network configs carry (flannel's and kind's 0.3.1, kindnet's 0.4.0).
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A version as (major, minor, patch); `None` if it is not `a.b.c`.
fn triple(version: &str) -> Option<(u32, u32, u32)> {
    let mut it = version.split('.').map(|p| p.parse::<u32>().ok());
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

/// The first spec version that has a verb (CHECK came in 0.4.0, GC and
/// STATUS in 1.1.0), as the reference plugins' skeleton checks it.
pub fn introduced(verb: &str) -> &'static str {
    match verb {
        "CHECK" => "0.4.0",
        "GC" | "STATUS" => "1.1.0",
        _ => "0.3.0",
    }
}

/// Whether a config of `version` may be called with `verb`.
pub fn allows(version: &str, verb: &str) -> bool {
    triple(version) >= triple(introduced(verb))
}

/// Whether results use the 0.3/0.4 format, where each IP says `"version": "4"`.
pub fn tags_ip_version(version: &str) -> bool {
    triple(version) < triple("1.0.0")
}

/// host-local's default state directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawRange {
    subnet: Option<String>,
    range_start: Option<String>,
    range_end: Option<String>,
    gateway: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawIpam {
    #[serde(rename = "type")]
    kind: Option<String>,
    subnet: Option<String>,
    range_start: Option<String>,
    range_end: Option<String>,
    gateway: Option<String>,
    ranges: Option<Vec<Vec<RawRange>>>,
    data_dir: Option<String>,
}

/// One attachment named in GC's valid list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    /// Container id.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Interface name.
    pub ifname: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConf {
    name: String,
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    bridge: Option<String>,
    is_gateway: Option<bool>,
    ip_masq: Option<bool>,
    mtu: Option<u32>,
    hairpin_mode: Option<bool>,
    gso_max_size: Option<u32>,
    agent_status_file: Option<PathBuf>,
    #[serde(default)]
    ipam: RawIpam,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<Attachment>>,
    #[serde(rename = "cni.dev/attachments")]
    attachments: Option<Vec<Attachment>>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// The spec version the runtime asked for.
    pub cni_version: String,
    /// The network name (names the IPAM state directory).
    pub name: String,
    /// Bridge device, default `cni0`.
    pub bridge: IfName,
    /// Give the bridge the gateway address.
    pub is_gateway: bool,
    /// MTU of bridge and veths, if set.
    pub mtu: Option<u32>,
    /// Let a pod reach itself through its service (bridge port hairpin).
    pub hairpin: bool,
    /// `gsoMaxSize` (a podnet extension): the largest IPv4 GSO packet of the
    /// bridge and the veths, set when above the legacy 64 KiB (BIG TCP). The
    /// agent writes the node uplink's size here.
    pub gso_max_size: Option<u32>,
    /// `agentStatusFile` (a podnet extension): the file podnet-agent writes
    /// once it has programmed this node; STATUS answers 50 while it is missing.
    pub agent_status_file: Option<PathBuf>,
    /// What the IPAM hands out.
    pub ipam: IpamConfig,
    /// Where the IPAM state lives (`<dataDir>/<name>/`).
    pub data_dir: PathBuf,
    /// The previous result (CHECK; chained plugins).
    pub prev_result: Option<Value>,
    /// GC: attachments to keep (`cni.dev/valid-attachments`, or the older `cni.dev/attachments`).
    pub valid_attachments: Option<Vec<Attachment>>,
}

impl NetConf {
    /// The bridge's address: `ipam.gateway`, else the subnet's first host
    /// (core's IPAM rule, so the plugin and the model agree).
    pub fn gateway(&self) -> Ipv4Addr {
        self.ipam.gateway()
    }
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> CniError {
    CniError::new(Code::InvalidConfig, format!("invalid {field}")).details(reason.to_string())
}

fn ip(field: &str, s: &Option<String>) -> CniResult<Option<Ipv4Addr>> {
    s.as_deref()
        .map(|v| {
            v.parse::<Ipv4Addr>()
                .map_err(|_| invalid(field, format!("{v:?} is not an IPv4 address")))
        })
        .transpose()
}

/// The `cniVersion` of a config, checked against what podnet supports.
pub fn version_of(v: &Value) -> CniResult<String> {
    let version = v
        .get("cniVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| CniError::new(Code::InvalidConfig, "cniVersion is missing"))?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!("cniVersion {version} is not supported"),
        )
        .details(format!(
            "podnet-cni supports {}",
            SUPPORTED_VERSIONS.join(", ")
        )));
    }
    Ok(version.to_string())
}

/// Parses stdin: bad JSON is code 6, an unknown version code 1, bad values code 7.
pub fn parse(stdin: &[u8]) -> CniResult<NetConf> {
    let value: Value = serde_json::from_slice(stdin).map_err(|e| {
        CniError::new(Code::Decode, "network configuration is not valid JSON")
            .details(e.to_string())
    })?;
    let cni_version = version_of(&value)?;
    let raw: RawConf = serde_json::from_value(value).map_err(|e| {
        CniError::new(Code::Decode, "cannot decode network configuration").details(e.to_string())
    })?;
    if raw.name.is_empty() || raw.name.contains('/') || raw.name.starts_with('.') {
        return Err(invalid(
            "name",
            format!("{:?} must be a plain, non-empty file name", raw.name),
        ));
    }
    if raw.ip_masq == Some(true) {
        return Err(CniError::new(
            Code::UnsupportedField,
            "ipMasq is not supported by podnet-cni",
        )
        .details("the podnet agent programs masquerading for the node; set ipMasq false"));
    }
    let bridge =
        IfName::new(raw.bridge.as_deref().unwrap_or("cni0")).map_err(|e| invalid("bridge", e))?;
    if let Some(mtu) = raw.mtu {
        if !(68..=65535).contains(&mtu) {
            return Err(invalid("mtu", format!("{mtu} is outside 68..65535")));
        }
    }
    if let Some(gso) = raw.gso_max_size {
        if !(GSO_LEGACY_MAX..=GSO_MAX).contains(&gso) {
            return Err(invalid(
                "gsoMaxSize",
                format!("{gso} is outside {GSO_LEGACY_MAX}..{GSO_MAX}"),
            ));
        }
    }
    let ipam = &raw.ipam;
    if let Some(kind) = ipam.kind.as_deref() {
        if kind != "host-local" && kind != "podnet" {
            return Err(CniError::new(
                Code::UnsupportedField,
                format!("ipam type {kind:?} is not supported"),
            )
            .details("podnet-cni has its own host-local compatible IPAM: use \"host-local\""));
        }
    }
    let range = match (&ipam.ranges, &ipam.subnet) {
        (Some(sets), None) => match sets.as_slice() {
            [set] => match set.as_slice() {
                [r] => RawRange {
                    subnet: r.subnet.clone(),
                    range_start: r.range_start.clone(),
                    range_end: r.range_end.clone(),
                    gateway: r.gateway.clone(),
                },
                _ => {
                    return Err(CniError::new(
                        Code::UnsupportedField,
                        "ipam.ranges: exactly one range is supported",
                    ))
                }
            },
            _ => {
                return Err(CniError::new(
                    Code::UnsupportedField,
                    "ipam.ranges: exactly one range set is supported",
                ))
            }
        },
        (None, Some(_)) => RawRange {
            subnet: ipam.subnet.clone(),
            range_start: ipam.range_start.clone(),
            range_end: ipam.range_end.clone(),
            gateway: ipam.gateway.clone(),
        },
        (Some(_), Some(_)) => {
            return Err(invalid("ipam", "give either subnet or ranges, not both"))
        }
        (None, None) => return Err(invalid("ipam", "a subnet (or ranges) is required")),
    };
    let subnet_text = range
        .subnet
        .as_deref()
        .ok_or_else(|| invalid("ipam.subnet", "missing"))?;
    let subnet: Ipv4Network = parse_cidr(subnet_text).map_err(|e| invalid("ipam.subnet", e))?;
    let config = IpamConfig {
        subnet,
        gateway: ip("ipam.gateway", &range.gateway)?,
        range_start: ip("ipam.rangeStart", &range.range_start)?,
        range_end: ip("ipam.rangeEnd", &range.range_end)?,
        reserved: Vec::new(),
    };
    // Validate the range now, before anything is touched.
    podnet_core::alloc::NodeIpam::new(config.clone()).map_err(|e| invalid("ipam", e))?;
    Ok(NetConf {
        cni_version,
        name: raw.name,
        bridge,
        is_gateway: raw.is_gateway.unwrap_or(true),
        mtu: raw.mtu,
        hairpin: raw.hairpin_mode.unwrap_or(false),
        gso_max_size: raw.gso_max_size.filter(|&g| g != GSO_LEGACY_MAX),
        agent_status_file: raw.agent_status_file,
        ipam: config,
        data_dir: PathBuf::from(
            ipam.data_dir
                .clone()
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        ),
        prev_result: raw.prev_result,
        valid_attachments: raw.valid_attachments.or(raw.attachments),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> String {
        format!(
            r#"{{"cniVersion":"1.1.0","name":"podnet","type":"podnet-cni","ipam":{{"type":"host-local","subnet":"10.244.1.0/24"}}{extra}}}"#
        )
    }

    #[test]
    fn defaults_follow_the_bridge_plugin() {
        let c = parse(conf("").as_bytes()).unwrap();
        assert_eq!(
            (c.bridge.as_str(), c.is_gateway, c.hairpin, c.mtu),
            ("cni0", true, false, None)
        );
        assert_eq!(c.ipam.subnet.to_string(), "10.244.1.0/24");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.gso_max_size, None);
        let big = parse(conf(r#","gsoMaxSize":524280"#).as_bytes()).unwrap();
        assert_eq!(big.gso_max_size, Some(524_280));
        let legacy = parse(conf(r#","gsoMaxSize":65536"#).as_bytes()).unwrap();
        assert_eq!(legacy.gso_max_size, None);
    }

    #[test]
    fn ranges_form_and_gc_lists_are_read() {
        let c = parse(br#"{"cniVersion":"1.0.0","name":"n","ipam":{"ranges":[[{"subnet":"10.1.0.0/16","rangeStart":"10.1.0.10","rangeEnd":"10.1.0.20"}]]},
            "cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}"#).unwrap();
        assert_eq!(c.ipam.range_start, Some("10.1.0.10".parse().unwrap()));
        assert_eq!(c.valid_attachments.unwrap()[0].container_id, "a");
    }

    #[test]
    fn each_bad_input_gets_its_code() {
        let code = |s: &str| parse(s.as_bytes()).unwrap_err().code;
        assert_eq!(code("{not json"), Code::Decode);
        assert_eq!(
            code(&conf("").replace("1.1.0", "0.9.9")),
            Code::IncompatibleVersion
        );
        assert_eq!(
            code(&conf("").replace("10.244.1.0/24", "10.244.1.0/33")),
            Code::InvalidConfig
        );
        assert_eq!(
            code(&conf("").replace("10.244.1.0/24", "banana")),
            Code::InvalidConfig
        );
        assert_eq!(code(&conf(r#","mtu":"big""#)), Code::Decode);
        assert_eq!(code(&conf(r#","mtu":20"#)), Code::InvalidConfig);
        assert_eq!(code(&conf(r#","gsoMaxSize":1500"#)), Code::InvalidConfig);
        assert_eq!(code(&conf(r#","gsoMaxSize":600000"#)), Code::InvalidConfig);
        assert_eq!(code(&conf(r#","ipMasq":true"#)), Code::UnsupportedField);
        assert_eq!(
            code(&conf(r#","bridge":"a-bridge-name-too-long""#)),
            Code::InvalidConfig
        );
        let outside = conf("").replace(
            r#""subnet":"10.244.1.0/24""#,
            r#""subnet":"10.244.1.0/24","rangeStart":"10.9.9.9""#,
        );
        assert_eq!(code(&outside), Code::InvalidConfig);
    }
}

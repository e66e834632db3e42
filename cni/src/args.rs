//! `CNI_ARGS`: `KEY=VALUE;…` from the runtime, checked as the reference
//! plugins check them (`types.LoadArgs`): each pair has one `=`, and a key
//! podnet does not know is an error unless `IgnoreUnknown=1` (or `true`).
//! podnet knows the keys containerd and CRI-O send for a Kubernetes pod.

use super::error::{CniError, CniResult, Code};

/// The arguments podnet knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `K8S_POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// `K8S_POD_NAME`.
    pub pod_name: Option<String>,
    /// `K8S_POD_INFRA_CONTAINER_ID`: the sandbox (pause) container.
    pub infra_container_id: Option<String>,
    /// `K8S_POD_UID`.
    pub pod_uid: Option<String>,
}

fn bad(what: String) -> CniError {
    CniError::new(Code::InvalidEnv, "CNI_ARGS is not valid").details(what)
}

impl CniArgs {
    /// Parses `CNI_ARGS` (absent or empty: no arguments).
    pub fn parse(args: Option<&str>) -> CniResult<CniArgs> {
        let mut out = CniArgs::default();
        let mut unknown = Vec::new();
        let mut ignore_unknown = false;
        for pair in args.unwrap_or("").split(';').filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(key), Some(value), None) = (kv.next(), kv.next(), kv.next()) else {
                return Err(bad(format!("{pair:?} is not KEY=VALUE")));
            };
            let slot = match key {
                "K8S_POD_NAMESPACE" => &mut out.pod_namespace,
                "K8S_POD_NAME" => &mut out.pod_name,
                "K8S_POD_INFRA_CONTAINER_ID" => &mut out.infra_container_id,
                "K8S_POD_UID" => &mut out.pod_uid,
                "IgnoreUnknown" => {
                    ignore_unknown = match value.to_ascii_lowercase().as_str() {
                        "1" | "true" | "t" => true,
                        "0" | "false" | "f" => false,
                        _ => return Err(bad(format!("IgnoreUnknown={value} is not a boolean"))),
                    };
                    continue;
                }
                other => {
                    unknown.push(other.to_string());
                    continue;
                }
            };
            *slot = Some(value.to_string());
        }
        if !unknown.is_empty() && !ignore_unknown {
            return Err(bad(format!(
                "unknown argument {} (set IgnoreUnknown=1 to pass arguments for other plugins)",
                unknown.join(", ")
            )));
        }
        Ok(out)
    }

    /// `namespace/name` of the pod, when the runtime said.
    pub fn pod(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.pod_namespace.as_deref()?,
            self.pod_name.as_deref()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_containerd_sends_is_accepted() {
        let a = CniArgs::parse(Some(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=4f0c",
        ))
        .unwrap();
        assert_eq!(a.pod().as_deref(), Some("default/web-0"));
        assert_eq!(a.infra_container_id.as_deref(), Some("abc123"));
        assert_eq!(a.pod_uid.as_deref(), Some("4f0c"));
        assert_eq!(CniArgs::parse(None).unwrap(), CniArgs::default());
        assert_eq!(CniArgs::parse(Some("")).unwrap(), CniArgs::default());
        // Unknown keys pass only with IgnoreUnknown, wherever it stands.
        assert!(CniArgs::parse(Some("FOO=bar;IgnoreUnknown=true")).is_ok());
    }

    #[test]
    fn bad_args_are_code_4() {
        for bad in [
            "FOO=bar",
            "K8S_POD_NAME",
            "K8S_POD_NAME=a=b",
            "IgnoreUnknown=maybe",
            "IgnoreUnknown=0;FOO=1",
        ] {
            let e = CniArgs::parse(Some(bad)).unwrap_err();
            assert_eq!(e.code, Code::InvalidEnv, "{bad}");
            assert!(!e.details.is_empty(), "{bad}");
        }
    }
}

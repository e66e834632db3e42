//! CNI errors: the spec's codes, printed as the spec's error JSON.

use serde::Serialize;

/// Error codes from the CNI spec (1–99 reserved) and podnet's own (100+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    /// Incompatible CNI version.
    IncompatibleVersion = 1,
    /// Unsupported field in network configuration.
    UnsupportedField = 2,
    /// Container unknown or does not exist.
    UnknownContainer = 3,
    /// Invalid necessary environment variables.
    InvalidEnv = 4,
    /// I/O failure.
    Io = 5,
    /// Failed to decode content.
    Decode = 6,
    /// Invalid network config.
    InvalidConfig = 7,
    /// Try again later.
    TryAgain = 11,
    /// STATUS: the plugin is not available.
    NotAvailable = 50,
    /// podnet: the container already has an attachment on this interface.
    AlreadyAttached = 100,
    /// podnet: no free address in the range.
    RangeFull = 101,
    /// podnet: CHECK found the attachment not as ADD left it.
    CheckFailed = 102,
    /// podnet: the kernel refused a netlink request.
    Netlink = 103,
}

/// An error as the CNI spec prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
pub struct CniError {
    /// The code.
    pub code: Code,
    /// Short message.
    pub msg: String,
    /// Longer explanation.
    pub details: String,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

impl CniError {
    /// An error with a message.
    pub fn new(code: Code, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Adds details.
    pub fn details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// The spec's error JSON.
    pub fn to_json(&self, cni_version: &str) -> String {
        let wire = Wire {
            cni_version,
            code: self.code as u32,
            msg: &self.msg,
            details: &self.details,
        };
        serde_json::to_string(&wire)
            .unwrap_or_else(|_| format!("{{\"code\":{}}}", self.code as u32))
    }
}

impl From<podnet_core::Error> for CniError {
    fn from(e: podnet_core::Error) -> CniError {
        use podnet_core::Error as E;
        let code = match &e {
            E::RangeExhausted { .. } => Code::RangeFull,
            E::AlreadyAllocated { .. } => Code::AlreadyAttached,
            E::NotAllocated { .. } | E::Unknown { .. } => Code::UnknownContainer,
            _ => Code::InvalidConfig,
        };
        CniError::new(code, e.to_string())
    }
}

/// Shorthand for this module's results.
pub type CniResult<T> = Result<T, CniError>;

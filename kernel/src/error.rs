//! The crate's one error type.

use nix::errno::Errno;

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a namespace, starting a thread or a runtime, writing a file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The kernel refused a request.
    #[error("{what}: {source}")]
    Kernel {
        /// The request.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// A link that must exist does not.
    #[error("no link named {0}")]
    NoLink(String),
    /// A link has the name podnet needs but is not what podnet makes; it
    /// is left alone.
    #[error("a link named {0} exists and is not a VXLAN device; podnet leaves it alone (rename or remove it)")]
    Foreign(String),
}

/// Result of a kernel request.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// Wraps a refused netlink request with what it asked.
    pub(crate) fn kernel(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
        let what = what.into();
        move |source| Error::Kernel { what, source }
    }
}

/// The errno of a netlink error answer, if it is one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<Errno> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(Errno::from_raw(-m.raw_code())),
        _ => None,
    }
}

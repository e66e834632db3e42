//! podnet-kernel: the one place podnet talks to the kernel.
//!
//! Contract: a [`Netlink`] is a route-netlink socket opened **once** in one
//! network namespace ([`Netlink::here`], [`Netlink::open`]); every request is
//! a synchronous method on it that borrows its arguments and answers with a
//! small value ([`Link`], [`KernelRoute`], [`Neighbour`]) or an [`Error`].
//! The socket stays in the namespace it was opened in, so the calling thread
//! never moves. What only the calling thread's namespace decides (a sysctl,
//! a socket for a probe) runs through [`Netns::run`], a scoped thread
//! inside the namespace.
//!
//! Each request treats "already so" as success where that makes its caller
//! idempotent (a bridge that exists, an address already there, a link
//! already gone), so setup can be repeated and teardown is safe to run after
//! any failure, as netavark's drivers are written.
//!
//! One file per kernel object: [`netns`], [`link`], [`addr`], [`route`],
//! [`neigh`], [`vxlan`], [`sysctl`].

pub mod addr;
pub mod error;
pub mod link;
pub mod neigh;
pub mod netns;
pub mod route;
pub mod sysctl;
pub mod vxlan;

use std::future::Future;

use rtnetlink::Handle;
use tokio::runtime::Runtime;

pub use error::{Error, Result};
pub use link::{Link, GSO_LEGACY_MAX, GSO_MAX};
pub use neigh::Neighbour;
pub use netns::Netns;
pub use route::KernelRoute;
pub use vxlan::Vxlan;

/// A route-netlink socket in one network namespace, opened once and used for
/// every request to that namespace.
///
/// The requests run on a single-thread runtime the handle owns, so a caller
/// may use it from plain synchronous code (the CNI plugin, the lab). It must
/// not be used from inside another async runtime's task: open and use it
/// from a blocking thread there (`tokio::task::spawn_blocking`).
#[derive(Debug)]
pub struct Netlink {
    rt: Runtime,
    h: Handle,
    /// The namespace, for what must run on a thread inside it (sysctls).
    ns: Option<Netns>,
}

impl Netlink {
    /// A socket in the calling thread's own namespace.
    pub fn here() -> Result<Netlink> {
        Netlink::connect(None)
    }

    /// A socket inside `ns`; the calling thread stays where it is.
    pub fn open(ns: &Netns) -> Result<Netlink> {
        Netlink::connect(Some(ns.try_clone()?))
    }

    /// [`Netlink::open`] when a namespace is given, [`Netlink::here`] otherwise.
    pub fn in_ns(ns: Option<&Netns>) -> Result<Netlink> {
        match ns {
            Some(ns) => Netlink::open(ns),
            None => Netlink::here(),
        }
    }

    fn connect(ns: Option<Netns>) -> Result<Netlink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::io("start a netlink runtime"))?;
        // A netlink socket belongs to the namespace it is created in: make it
        // on a thread that entered `ns`, registered with this runtime.
        let make = || {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(Error::io("open a netlink socket"))
        };
        let (conn, h, _) = match &ns {
            Some(ns) => ns.run(make)??,
            None => make()?,
        };
        rt.spawn(conn);
        Ok(Netlink { rt, h, ns })
    }

    /// Runs one request to completion.
    fn block<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        self.rt.block_on(f)
    }

    /// The namespace this socket is in (`None`: the caller's own).
    pub fn netns(&self) -> Option<&Netns> {
        self.ns.as_ref()
    }
}

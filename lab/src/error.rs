//! What `podnet lab` and `podnet lab serve` can fail with: one typed error,
//! each variant a sentence that tells the user what to do.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Not run as root.
    #[error("podnet lab {what}: run it as root")]
    NotRoot {
        /// What needs root, e.g. "creates network namespaces".
        what: &'static str,
    },
    /// A command-line value out of range.
    #[error("{flag} {rule}")]
    BadOption {
        /// The flag, e.g. `--nodes`.
        flag: &'static str,
        /// What it must be.
        rule: &'static str,
    },
    /// A lab of that name exists already.
    #[error("a lab named {name:?} already exists ({namespaces} namespaces); run `podnet lab down --name {name}` first")]
    Exists {
        /// The lab.
        name: String,
        /// How many of its namespaces are there.
        namespaces: usize,
    },
    /// No lab of that name is up.
    #[error("no lab named {name:?} is up (no {})", path.display())]
    NotUp {
        /// The lab.
        name: String,
        /// The state file looked for.
        path: PathBuf,
    },
    /// The state file cannot be read as a lab.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        reason: String,
    },
    /// A name that is not one of the lab's.
    #[error("no {kind} {name:?} in lab {lab} (it has: {})", have.join(", "))]
    NoMember {
        /// "node", "node or pod".
        kind: &'static str,
        /// The name given.
        name: String,
        /// The lab.
        lab: String,
        /// The names it has.
        have: Vec<String>,
    },
    /// A file or directory could not be read, written or removed.
    #[error("cannot {what} {}: {source}", path.display())]
    File {
        /// "write", "create", "remove", "read", …
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// podnet-cni answered with an error.
    #[error("podnet-cni {verb} for {pod} failed: {answer}")]
    Cni {
        /// ADD, DEL.
        verb: &'static str,
        /// The pod.
        pod: String,
        /// What the plugin printed.
        answer: String,
    },
    /// A node's agent did not apply the cluster file in time.
    #[error("the agent of {node} has not applied the cluster file after {after:?}; see {}", log.display())]
    AgentTimeout {
        /// The node.
        node: String,
        /// How long it was given.
        after: Duration,
        /// Its log.
        log: PathBuf,
    },
    /// The lab does not describe a cluster core accepts.
    #[error("the lab's cluster: {0}")]
    Model(#[from] podnet_core::Error),
    /// A measurement of `lab check` could not be made.
    #[error("lab check: {0}")]
    Check(String),
    /// The live server could not start or stopped with an error.
    #[error("podnet lab serve: {0}")]
    Serve(String),
    /// `podnet lab record` could not record.
    #[error("podnet lab record: {0}")]
    Record(String),
    /// The lab's Kubernetes control plane did not come up or answer.
    #[error("the lab's control plane: {0}")]
    ControlPlane(String),
    /// A node's runtime (images, containerd, kubelet, kube-proxy) or its
    /// Kubernetes objects did not come up as they should.
    #[error("the Kubernetes lab: {0}")]
    Kubernetes(String),
    /// A tool the lab needs is not installed.
    #[error("{what} is missing: {fix}")]
    Missing {
        /// What.
        what: String,
        /// The command that installs it.
        fix: &'static str,
    },
    /// kubectl refused.
    #[error("kubectl {args}: {stderr}")]
    Kubectl {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// The kernel refused.
    #[error(transparent)]
    Netlink(#[from] podnet_kernel::Error),
}

impl LabError {
    /// A file error, for `map_err`.
    pub fn file(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::File { what, path, source }
    }
}

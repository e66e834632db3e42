//! podnet's cluster DNS (`podnet-dns`): answers for `cluster.local` as the
//! Kubernetes DNS specification says, with the records core's DNS model
//! ([`podnet_core::services::dns`]) computes, the same model the explainer
//! shows. It runs as a Deployment behind the `kube-dns` Service.
//!
//! - [`api`]: Services and Endpoints as DNS sees them (pure);
//! - [`watch`]: reflectors over Services, Endpoints and Namespaces;
//! - [`answer`]: the hickory request handler over the zone snapshot.

pub mod answer;
pub mod api;
pub mod watch;

//! The cluster side: reflectors (kube-runtime's watcher feeding a store)
//! over Services, Endpoints and Namespaces. Every change rebuilds the
//! zone from the three stores and swaps it in; a watch that breaks (API
//! server restart, 410 Gone) backs off and lists again while the last
//! zone keeps being served.

use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Service};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use podnet_core::services::dns::{DnsService, Zone};
use tokio::sync::mpsc;
use tracing::warn;

use crate::api::dns_service;

/// The three stores the zone is built from.
pub struct Stores {
    services: Store<Service>,
    endpoints: Store<Endpoints>,
    namespaces: Store<Namespace>,
}

impl Stores {
    /// The zone for `domain` as the stores hold the cluster now.
    pub fn zone(&self, domain: &str) -> Zone {
        let services: Vec<DnsService> = self
            .services
            .state()
            .iter()
            .filter_map(|s| {
                let key = ObjectRef::<Endpoints>::new(s.metadata.name.as_deref()?)
                    .within(s.metadata.namespace.as_deref().unwrap_or("default"));
                dns_service(s, self.endpoints.get(&key).as_deref())
            })
            .collect();
        let namespaces = self
            .namespaces
            .state()
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect::<Vec<_>>();
        Zone::new(domain, &services, namespaces)
    }
}

/// One reflector: its store, and a task that keeps it filled and says on
/// `changed` when it changed (after the first full list: `InitDone`).
fn reflect<K>(
    api: Api<K>,
    changed: mpsc::UnboundedSender<()>,
) -> (Store<K>, impl Future<Output = ()>)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    let (store, writer) = reflector::store();
    let kind = K::kind(&()).to_string();
    let task = async move {
        let events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff();
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
                ) => {
                    if changed.send(()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, kind, "watch failed; retrying with backoff, the last answers stay")
                }
            }
        }
    };
    (store, task)
}

/// Starts the three reflectors on the current runtime; `changed` gets a
/// message after every change of any of them.
pub fn start(client: Client, changed: mpsc::UnboundedSender<()>) -> Stores {
    let (services, s) = reflect(Api::<Service>::all(client.clone()), changed.clone());
    let (endpoints, e) = reflect(Api::<Endpoints>::all(client.clone()), changed.clone());
    let (namespaces, n) = reflect(Api::<Namespace>::all(client), changed);
    tokio::spawn(s);
    tokio::spawn(e);
    tokio::spawn(n);
    Stores {
        services,
        endpoints,
        namespaces,
    }
}

/// Waits until every store has its first full list.
pub async fn ready(stores: &Stores) -> Result<(), String> {
    let why =
        |e: reflector::store::WriterDropped| format!("a watch ended before its first list: {e}");
    stores.services.wait_until_ready().await.map_err(why)?;
    stores.endpoints.wait_until_ready().await.map_err(why)?;
    stores.namespaces.wait_until_ready().await.map_err(why)
}

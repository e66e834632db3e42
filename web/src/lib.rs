//! podnet-web: the pod-network explainer in the browser.
//!
//! Every fact on the page is computed at run time by podnet-core, the same
//! model the node agent programs into real kernels.
//!
//! - [`state`]: the reducer; [`url`]: its round trip through the address bar
//! - [`scene_data`]: what each scene shows, computed from core
//! - [`sandbox`]: the learner's cluster, as typed and as core builds it
//! - [`challenges`]: break-and-fix sandbox clusters and the progress kept
//! - [`layout`]: where things are drawn
//! - [`components`]: topology drawing, player, headers, matrix
//! - [`scenes`]: one file per scene, in the seed's order
//! - [`lab_client`]: the client of `podnet lab serve` (scene i)
//! - [`app`]: the root component
//! - [`split`]: the page starts without scene i's code and fetches it when opened
//!
//! [`start`] boots the page's build, [`start_with_live_lab`] the one with scene i.

pub mod app;
pub mod challenges;
pub mod components;
pub mod lab_client;
pub mod layout;
pub mod sandbox;
pub mod scene_data;
pub mod scenes;
pub mod split;
pub mod state;
pub mod url;

pub use app::App;

/// Mounts the explainer on the page's body (the `podnet-web` build); scene
/// i is fetched when it is opened.
pub fn start() {
    split::keep(yew::Renderer::<App>::new().render());
}

/// Mounts the explainer with scene i in it (the `podnet-live` build).
pub fn start_with_live_lab() {
    scenes::live_slot::include_live_lab();
    yew::Renderer::<App>::new().render();
}

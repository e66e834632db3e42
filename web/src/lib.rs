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
//! - [`page`]: what the page's HTML tells the app
//! - [`components`]: topology drawing, player, headers, matrix
//! - [`scenes`]: one file per scene, in the seed's order
//! - [`lab_client`]: the client of `podnet lab serve` (scene i)
//! - [`app`]: the root component
//! - [`split`]: the page starts without the on-demand scenes' code and fetches it when one opens
//!
//! [`start`] boots the page's build, [`start_full`] the one with every scene.

pub mod app;
pub mod challenges;
pub mod components;
pub mod lab_client;
pub mod layout;
pub mod page;
pub mod sandbox;
pub mod scene_data;
pub mod scenes;
pub mod split;
pub mod state;
pub mod url;

pub use app::App;

/// Mounts the explainer on the page's body (the `podnet-web` build); the
/// on-demand scenes ([`scenes::on_demand`]) are fetched once the browser
/// is idle, or at once when one opens first.
pub fn start() {
    split::keep(yew::Renderer::<App>::new().render());
    split::prefetch();
}

/// Mounts the explainer with every scene in it (the `podnet-full` build).
pub fn start_full() {
    include_full();
    yew::Renderer::<App>::new().render();
}

/// Puts the on-demand scenes into this build (for a test mounting the app
/// itself, as the full build does).
pub fn include_full() {
    scenes::on_demand::include(full_build());
}

/// What the full build adds: only what calls this links it.
pub fn full_build() -> scenes::on_demand::Full {
    scenes::on_demand::Full {
        view: scenes::every_scene,
        model: scene_data::SceneModel::build,
        policy_ok: |text| podnet_core::policy::manifest::read(text, "default").is_ok(),
        challenge: |key| challenges::by_key(key).map(challenges::Challenge::start),
    }
}

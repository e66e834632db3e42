//! podnet-web: the pod-network explainer in the browser.
//!
//! Every fact on the page is computed at run time by podnet-core, the same
//! model the node agent programs into real kernels.
//!
//! - [`state`]: the reducer and the URL round trip
//! - [`scene_data`]: what each scene shows, computed from core
//! - [`challenges`]: break-and-fix sandbox clusters and the progress kept
//! - [`layout`]: where things are drawn
//! - [`components`]: topology drawing, player, headers, matrix
//! - [`scenes`]: one file per scene, in the seed's order
//! - [`lab_client`]: the client of `podnet lab serve` (scene i)
//! - [`app`]: the root component
//! - [`split`]: the page starts without scene i's code and fetches it when opened

pub mod app;
pub mod challenges;
pub mod components;
pub mod lab_client;
pub mod layout;
pub mod scene_data;
pub mod scenes;
pub mod split;
pub mod state;

pub use app::App;

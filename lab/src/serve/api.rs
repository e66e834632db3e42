//! The HTTP API and the WebSocket stream.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/lab` | the lab as the kernels report it ([`LabView`](podnet_core::lab_api::LabView)) |
//! | `GET /api/traces?after=N` | the last packets captured, after id N |
//! | `GET /api/stats` | capture counters and memory |
//! | `POST /api/probe` | `{"from","to","proto"}`: send a ping or UDP datagram inside the lab (`to` may name a Service) |
//! | `GET /api/stream` | WebSocket: every packet as it is assembled ([`Event`]) |
//! | anything else | the built explainer, when started with `--web DIR` |
//!
//! Every request passes `guard` first: the Host header must name this
//! server (so a DNS-rebinding page cannot reach it under another name), and
//! a browser's Origin must be on the allow list, else 403 before any work.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use podnet_core::lab_api::{ErrorBody, Event, LiveTrace, ProbeRequest, StatsView};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::capture::Counters;
use super::view;
use crate::probe;
use crate::LabState;

/// Packets kept for `GET /api/traces`.
pub const RECENT: usize = 256;
/// Messages buffered per WebSocket client before it starts missing some.
pub const STREAM_BUFFER: usize = 256;
/// The largest request body accepted.
pub const BODY_LIMIT: usize = 4096;

/// What every handler shares.
pub struct Shared {
    /// The lab (replaced when a Kubernetes lab's Pods change).
    pub state: std::sync::RwLock<LabState>,
    /// Capture counters.
    pub counters: Arc<Counters>,
    /// The last packets.
    pub recent: Mutex<VecDeque<LiveTrace>>,
    /// Every packet, as a JSON [`Event`], to every stream.
    pub events: broadcast::Sender<Arc<str>>,
    /// Origins a browser may call from.
    pub origins: Vec<String>,
    /// Host headers this server answers to.
    pub hosts: Vec<String>,
    /// Packets being assembled (set by the collector).
    pub open: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// The lab as it is now.
    pub fn state(&self) -> LabState {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tells every stream that the lab changed.
    pub fn changed(&self, pods: usize) {
        if let Ok(text) = serde_json::to_string(&Event::Changed(pods)) {
            let _ = self.events.send(text.into());
        }
    }

    /// Publishes a packet: kept in the recent list and sent to every stream.
    pub fn publish(&self, t: LiveTrace) {
        // Serialized once, for every stream; the event is then taken apart
        // again rather than cloned.
        let event = Event::Trace(Box::new(t));
        let text: Arc<str> = serde_json::to_string(&event).unwrap_or_default().into();
        let Event::Trace(t) = event else {
            return;
        };
        if let Ok(mut r) = self.recent.lock() {
            if r.len() >= RECENT {
                r.pop_front();
            }
            r.push_back(*t);
        }
        // No subscriber is not an error: nobody is watching.
        let _ = self.events.send(text);
    }
}

/// The origins allowed by default: this server itself and the explainer
/// as `scripts/explain.sh` serves it.
pub fn default_origins(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let mut v = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        "http://127.0.0.1:8080".into(),
        "http://localhost:8080".into(),
    ];
    if !listen.ip().is_loopback() && !listen.ip().is_unspecified() {
        v.push(format!("http://{listen}"));
    }
    v
}

/// The Host headers that name this server.
pub fn hosts(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let mut v = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !listen.ip().is_loopback() {
        v.push(listen.to_string());
    }
    v
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    let body = ErrorBody {
        error: msg.to_string(),
    };
    (status, Json(body)).into_response()
}

/// Refuses other hosts and origins; answers CORS preflights for allowed ones.
async fn guard(State(app): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !app.hosts.iter().any(|h| h == host) {
        return error(
            StatusCode::FORBIDDEN,
            format!("host {host:?} is not this server"),
        );
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    if let Some(o) = &origin {
        if !app.origins.iter().any(|a| a == o) {
            return error(
                StatusCode::FORBIDDEN,
                format!("origin {o} is not allowed (see --allow-origin)"),
            );
        }
    }
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

async fn lab(State(app): State<Arc<Shared>>) -> Response {
    let app2 = app.clone();
    match tokio::task::spawn_blocking(move || view::read(&app2.state())).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Resident memory of this process (`VmRSS`), KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

async fn stats(State(app): State<Arc<Shared>>) -> Json<StatsView> {
    Json(StatsView {
        capture: app.counters.snapshot(),
        open: app.open.load(Ordering::Relaxed),
        recent: app.recent.lock().map_or(0, |r| r.len()),
        rss_kib: rss_kib(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn traces(
    State(app): State<Arc<Shared>>,
    q: Result<Query<After>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(StatusCode::BAD_REQUEST, "use ?after=<trace id>");
    };
    let list: Vec<LiveTrace> = app.recent.lock().map_or_else(
        |_| Vec::new(),
        |r| r.iter().filter(|t| t.id > q.after).cloned().collect(),
    );
    Json(list).into_response()
}

async fn probe(
    State(app): State<Arc<Shared>>,
    body: Result<Json<ProbeRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => return error(e.status(), e.body_text()),
    };
    if let Err(e) = probe::validate(&app.state(), &req) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let app2 = app.clone();
    match tokio::task::spawn_blocking(move || probe::run(&app2.state(), &req)).await {
        Ok(Ok(r)) => Json(r).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn stream(State(app): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let rx = app.events.subscribe();
    ws.on_upgrade(move |socket| pump(app, socket, rx))
}

/// Sends every event to one client until it goes away.
async fn pump(app: Arc<Shared>, mut socket: WebSocket, mut rx: broadcast::Receiver<Arc<str>>) {
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text: String = match ev {
                    Ok(t) => t.to_string(),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        app.counters.ws_lagged.fetch_add(n, Ordering::Relaxed);
                        serde_json::to_string(&Event::Lagged(n)).unwrap_or_default()
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {} // the page has nothing to say; pings are answered by axum
            }
        }
    }
}

/// The router: API, stream and (optionally) the built explainer.
pub fn router(app: Arc<Shared>, web: Option<PathBuf>) -> Router {
    let mut r = Router::new()
        .route("/api/lab", get(lab))
        .route("/api/stats", get(stats))
        .route("/api/traces", get(traces))
        .route("/api/probe", post(probe))
        .route("/api/stream", get(stream));
    if let Some(dir) = web {
        let index = dir.join("index.html");
        r = r.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(index)),
        );
    }
    r.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

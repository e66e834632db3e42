//! Talking to `podnet lab serve`: the lab's state, probes and the packet stream.
//!
//! The wire types are core's ([`LiveTrace`], [`Event`]) where the page needs
//! them whole; the lab view is read only as far as the page shows it.

use std::net::Ipv4Addr;

use futures::StreamExt;
use gloo::net::http::Request;
use gloo::net::websocket::{futures::WebSocket, Message};
use podnet_core::forward::live::{Event, LiveTrace};
use podnet_core::topology::spec::ClusterSpec;
use serde::{Deserialize, Serialize};

/// A link as the lab's kernel reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LinkView {
    /// Name.
    pub name: String,
    /// Kind (`veth`, `bridge`, or empty).
    #[serde(default)]
    pub kind: String,
    /// MAC.
    #[serde(default)]
    pub mac: String,
    /// Up.
    #[serde(default)]
    pub up: bool,
    /// IPv4 addresses with prefix.
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// A route as the lab's kernel reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RouteView {
    /// Destination.
    pub dst: String,
    /// Gateway.
    pub via: Option<Ipv4Addr>,
    /// Routing protocol number.
    pub proto: u8,
}

/// One namespace of the lab.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NsView {
    /// Namespace name.
    pub netns: String,
    /// `lan`, `node`, `pod` or `client`.
    pub role: String,
    /// Node, pod or client name.
    pub name: String,
    /// Links.
    pub links: Vec<LinkView>,
    /// Routes.
    pub routes: Vec<RouteView>,
}

/// `GET /api/lab`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LabView {
    /// Lab name.
    pub name: String,
    /// The cluster as the kernels describe it.
    pub spec: ClusterSpec,
    /// Every namespace.
    pub namespaces: Vec<NsView>,
}

/// `POST /api/probe`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRequest {
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// `ping`, `udp` or `nodeport`.
    pub proto: String,
}

/// The probe's answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProbeResult {
    /// The receiver's address.
    pub dst: Ipv4Addr,
    /// ICMP identifier (ping).
    pub icmp_id: Option<u16>,
    /// UDP source port.
    pub src_port: Option<u16>,
    /// An answer came back.
    pub answered: bool,
    /// Round trip, µs.
    pub rtt_us: Option<u64>,
}

/// `host:port` from what the user typed (a bare host gets port 7070).
pub fn normalize(addr: &str) -> Result<String, String> {
    let a = addr.trim();
    let a = a
        .strip_prefix("http://")
        .or_else(|| a.strip_prefix("ws://"))
        .unwrap_or(a)
        .trim_end_matches('/');
    let ok = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !ok {
        return Err(format!("{addr:?} is not an address such as 127.0.0.1:7070"));
    }
    let has_port = a
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok());
    Ok(if has_port {
        a.to_string()
    } else {
        format!("{a}:7070")
    })
}

async fn error_of(resp: gloo::net::http::Response) -> String {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    match body["error"].as_str() {
        Some(e) => format!("{status}: {e}"),
        None => format!("HTTP {status}"),
    }
}

/// Reads the lab.
pub async fn fetch_lab(addr: &str) -> Result<LabView, String> {
    let resp = Request::get(&format!("http://{addr}/api/lab"))
        .send()
        .await
        .map_err(|e| format!("cannot reach podnet lab serve at {addr}: {e}"))?;
    if !resp.ok() {
        return Err(error_of(resp).await);
    }
    resp.json().await.map_err(|e| e.to_string())
}

/// Sends a probe inside the lab.
pub async fn probe(addr: &str, req: &ProbeRequest) -> Result<ProbeResult, String> {
    let resp = Request::post(&format!("http://{addr}/api/probe"))
        .json(req)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.ok() {
        return Err(error_of(resp).await);
    }
    resp.json().await.map_err(|e| e.to_string())
}

/// Opens the packet stream; `on` gets every packet, `closed` the reason it ended.
pub fn stream(
    addr: &str,
    on: impl Fn(LiveTrace) + 'static,
    closed: impl FnOnce(String) + 'static,
) -> Result<futures::stream::SplitSink<WebSocket, Message>, String> {
    let ws = WebSocket::open(&format!("ws://{addr}/api/stream")).map_err(|e| e.to_string())?;
    let (sink, mut read) = ws.split();
    yew::platform::spawn_local(async move {
        while let Some(msg) = read.next().await {
            match msg {
                Ok(Message::Text(t)) => match serde_json::from_str::<Event>(&t) {
                    Ok(Event::Trace(t)) => on(t),
                    Ok(Event::Lagged(n)) => {
                        gloo::console::warn!(format!("live stream: missed {n} packets"))
                    }
                    Err(e) => gloo::console::error!(format!("live stream: {e}")),
                },
                Ok(Message::Bytes(_)) => {}
                Err(e) => {
                    closed(e.to_string());
                    return;
                }
            }
        }
        closed("the server closed the stream".into());
    });
    Ok(sink)
}

/// Whether a captured packet is the request a probe sent.
pub fn is_probe(t: &LiveTrace, p: &ProbeResult) -> bool {
    use podnet_core::forward::L4Repr;
    let Some(sent) = t.trace.sent else {
        return false;
    };
    sent.dst == p.dst
        && match sent.l4 {
            L4Repr::IcmpEcho {
                request: true, id, ..
            } => p.icmp_id == Some(id),
            L4Repr::Udp { src_port, .. } => p.src_port == Some(src_port),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn addresses_are_normalized_or_refused() {
        assert_eq!(normalize("127.0.0.1").unwrap(), "127.0.0.1:7070");
        assert_eq!(
            normalize(" http://127.0.0.1:9000/ ").unwrap(),
            "127.0.0.1:9000"
        );
        assert_eq!(normalize("localhost:7070").unwrap(), "localhost:7070");
        assert!(normalize("").is_err());
        assert!(normalize("127.0.0.1/api?x=<script>").is_err());
        assert!(normalize("a b").is_err());
    }
}

//! The client of `podnet lab serve`: the lab's state, probes and the packet stream.
//!
//! Every message is core's ([`podnet_core::lab_api`]), the same types the
//! server sends, so the two cannot drift apart.

use futures::StreamExt;
use gloo::net::http::Request;
use gloo::net::websocket::{futures::WebSocket, Message};
use podnet_core::lab_api::{
    ErrorBody, Event, LabView, LiveTrace, ProbeRequest, ProbeResult, Recording,
};

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

/// Decodes JSON with the browser's own parser (`JSON.parse`) into core's
/// types: serde_json's parser in the wasm would make it a sixth larger.
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let value =
        js_sys::JSON::parse(text).map_err(|_| "the server sent malformed JSON".to_string())?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

async fn json<T: serde::de::DeserializeOwned>(
    resp: gloo::net::http::Response,
) -> Result<T, String> {
    decode(&resp.text().await.map_err(|e| e.to_string())?)
}

async fn error_of(resp: gloo::net::http::Response) -> String {
    let status = resp.status();
    match json::<ErrorBody>(resp).await {
        Ok(body) => format!("{status}: {}", body.error),
        Err(_) => format!("HTTP {status}"),
    }
}

/// What to say when the browser could not reach the server at all: the
/// browser's own words ("TypeError: Failed to fetch") say nothing of why,
/// and the usual reasons are these three.
fn unreachable(addr: &str) -> String {
    let origin = gloo::utils::window()
        .location()
        .origin()
        .unwrap_or_default();
    format!(
        "cannot reach podnet lab serve at {addr}: nothing answered. Is it running (as root: podnet lab serve --listen {addr}), and does it allow this page's origin {origin} (--allow-origin {origin})?"
    )
}

/// Reads the lab.
pub async fn fetch_lab(addr: &str) -> Result<LabView, String> {
    let resp = Request::get(&format!("http://{addr}/api/lab"))
        .send()
        .await
        .map_err(|_| unreachable(addr))?;
    if !resp.ok() {
        return Err(error_of(resp).await);
    }
    json(resp).await
}

/// The file the page ships beside itself: a real lab's recording
/// (`podnet lab record`), for scene i without a lab. The page's `<meta
/// name="podnet-recording">` gives it with its content's hash
/// (scripts/hash-names.sh), so no cache pairs it with another build.
pub const RECORDING: &str = "lab-recording.json";

/// Reads the recording shipped beside the page.
pub async fn fetch_recording() -> Result<Recording, String> {
    let name = crate::page::meta("podnet-recording").unwrap_or_else(|| RECORDING.into());
    let cannot = |why: String| format!("cannot read the recorded lab ({name}): {why}");
    let resp = Request::get(&name)
        .send()
        .await
        .map_err(|e| cannot(e.to_string()))?;
    if !resp.ok() {
        return Err(cannot(format!("HTTP {}", resp.status())));
    }
    json(resp).await.map_err(cannot)
}

/// Sends a probe inside the lab.
pub async fn probe(addr: &str, req: &ProbeRequest) -> Result<ProbeResult, String> {
    let body = serde_wasm_bindgen::to_value(req)
        .ok()
        .and_then(|v| js_sys::JSON::stringify(&v).ok())
        .and_then(|s| s.as_string())
        .ok_or("cannot encode the probe")?;
    let resp = Request::post(&format!("http://{addr}/api/probe"))
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|_| unreachable(addr))?;
    if !resp.ok() {
        return Err(error_of(resp).await);
    }
    json(resp).await
}

/// Opens the packet stream; `on` gets every packet, `changed` is called
/// when the lab's members changed (read it again), `closed` gets the
/// reason it ended.
pub fn stream(
    addr: &str,
    on: impl Fn(LiveTrace) + 'static,
    changed: impl Fn() + 'static,
    closed: impl FnOnce(String) + 'static,
) -> Result<futures::stream::SplitSink<WebSocket, Message>, String> {
    let ws = WebSocket::open(&format!("ws://{addr}/api/stream")).map_err(|e| e.to_string())?;
    let (sink, mut read) = ws.split();
    yew::platform::spawn_local(async move {
        while let Some(msg) = read.next().await {
            match msg {
                Ok(Message::Text(t)) => match decode::<Event>(&t) {
                    Ok(Event::Trace(t)) => on(*t),
                    Ok(Event::Lagged(n)) => {
                        gloo::console::warn!(format!("live stream: missed {n} packets"))
                    }
                    Ok(Event::Changed(_)) => changed(),
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

//! App state: one reducer, and its round trip through the URL.
//!
//! Everything the page shows follows from [`State`]: which scene, where the
//! cursor is in the packet's trace, whether it plays and how fast, and the
//! few knobs each scene has. [`State::to_query`]/[`State::from_query`] put it
//! in the address bar so a scene and a packet can be shared.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use podnet_core::forward::Proto;
use podnet_core::topology::Backend;
use yew::Reducible;

/// The scenes, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scene {
    /// a. A pod's containers share one address.
    Pod,
    /// b. One node's internal network; recreated pods get new addresses.
    Node,
    /// c. Two nodes on their own, one range: this isn't going to work.
    Unconnected,
    /// d. The CNI requirements as a live matrix.
    Requirements,
    /// e. Per-node ranges, bridges and route tables.
    Ranges,
    /// f. A packet from a pod on node1 to a pod on node2.
    Packet,
    /// f2. When nodes are not on one LAN: host-gw fails, the overlay (VXLAN) carries it.
    Overlay,
    /// g. Reaching a pod from outside: via its node, via a NodePort.
    Outside,
    /// h. Build your own cluster and send any packet.
    Sandbox,
    /// i. A real lab: its kernels' state and captured packets, beside the model.
    Live,
    /// j. Nodes joining a real cluster: NotReady, a range from node IPAM, the CNI config, Ready.
    Join,
}

impl Scene {
    /// All scenes in order.
    pub const ALL: [Scene; 11] = [
        Scene::Pod,
        Scene::Node,
        Scene::Unconnected,
        Scene::Requirements,
        Scene::Ranges,
        Scene::Packet,
        Scene::Overlay,
        Scene::Outside,
        Scene::Sandbox,
        Scene::Live,
        Scene::Join,
    ];

    /// The key used in the URL, the element ids and the menu: the seed's
    /// letters, and f2 for the overlay, which follows the cross-node packet
    /// (so links to the scenes after it keep working).
    pub fn key(self) -> &'static str {
        match self {
            Scene::Pod => "a",
            Scene::Node => "b",
            Scene::Unconnected => "c",
            Scene::Requirements => "d",
            Scene::Ranges => "e",
            Scene::Packet => "f",
            Scene::Overlay => "f2",
            Scene::Outside => "g",
            Scene::Sandbox => "h",
            Scene::Live => "i",
            Scene::Join => "j",
        }
    }

    /// The scene for a key.
    pub fn from_key(key: &str) -> Option<Scene> {
        Scene::ALL.into_iter().find(|s| s.key() == key)
    }

    /// Menu title.
    pub fn title(self) -> &'static str {
        match self {
            Scene::Pod => "A pod and its IP",
            Scene::Node => "One node's pod network",
            Scene::Unconnected => "Two nodes, no cluster network",
            Scene::Requirements => "What a CNI plugin must guarantee",
            Scene::Ranges => "A range per node, routes between",
            Scene::Packet => "A packet across nodes",
            Scene::Overlay => "When nodes are not on one LAN: the overlay",
            Scene::Outside => "Reaching a pod from outside",
            Scene::Sandbox => "Sandbox",
            Scene::Live => "Live lab",
            Scene::Join => "How a node joins the cluster",
        }
    }
}

/// Which way to reach a pod in scene g.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outside {
    /// SSH into node1, then connect to the pod's IP.
    ViaNode,
    /// From a laptop to node1's NodePort.
    NodePort,
    /// From a laptop straight to the pod's IP (fails: no route).
    Direct,
    /// The other way: a pod reaches the laptop (egress masquerade).
    Egress,
}

impl Outside {
    /// All cases.
    pub const ALL: [Outside; 4] = [
        Outside::ViaNode,
        Outside::NodePort,
        Outside::Direct,
        Outside::Egress,
    ];

    fn key(self) -> &'static str {
        match self {
            Outside::ViaNode => "node",
            Outside::NodePort => "nodeport",
            Outside::Direct => "direct",
            Outside::Egress => "egress",
        }
    }

    /// Button label.
    pub fn label(self) -> &'static str {
        match self {
            Outside::ViaNode => "SSH into node1, then the pod",
            Outside::NodePort => "NodePort from a laptop",
            Outside::Direct => "Pod IP from a laptop",
            Outside::Egress => "A pod reaches the laptop",
        }
    }
}

/// The sandbox's cluster, as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxSpec {
    /// Cluster range text.
    pub cidr: String,
    /// Node prefix text.
    pub prefix: String,
    /// Pods per node, one entry per node: node K is entry K-1. A removed
    /// node leaves `None`, so the others keep their names and ranges, as
    /// in a real cluster.
    pub pods: Vec<Option<u16>>,
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// Packet kind.
    pub proto: Proto,
    /// Cluster network on.
    pub network: bool,
    /// Its backend: host-gw, vxlan or auto.
    pub backend: Backend,
    /// LANs the nodes are spread over (node K on LAN (K-1) mod N), 1 to [`MAX_LANS`].
    pub lans: u8,
    /// How many nodes a link asked for, when more than [`MAX_NODES`]
    /// (the rest were cut, and the page says so).
    pub asked_nodes: usize,
    /// Nodes (by number, from 1) with `ip_forward` off.
    pub forward_off: BTreeSet<u16>,
    /// Routes taken out: (node, peer) means node lacks the route to peer's range.
    pub no_route: BTreeSet<(u16, u16)>,
    /// Ranges set by hand (node number → CIDR text); the rest come from node IPAM.
    pub ranges: BTreeMap<u16, String>,
    /// Pods whose default route goes via another address than their bridge (pod name → address text).
    pub gateways: BTreeMap<String, String>,
    /// A NodePort service (TCP 30080 → 8080) in front of this pod, and a laptop outside to ask it.
    pub service: Option<String>,
    /// Whether kube-proxy masquerades for it.
    pub masquerade: bool,
    /// The challenge being played, by key.
    pub challenge: Option<String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            cidr: "10.244.0.0/16".into(),
            prefix: "24".into(),
            pods: vec![Some(2), Some(2), Some(1)],
            from: "p1-1".into(),
            to: "p3-1".into(),
            proto: Proto::Ping,
            network: true,
            backend: Backend::HostGw,
            lans: 1,
            asked_nodes: 0,
            forward_off: BTreeSet::new(),
            no_route: BTreeSet::new(),
            ranges: BTreeMap::new(),
            gateways: BTreeMap::new(),
            service: None,
            masquerade: true,
            challenge: None,
        }
    }
}

/// An edit of the sandbox spec, applied to the spec the state holds when it
/// arrives (not to the one a control was drawn with: two quick edits both
/// count).
#[derive(Clone)]
pub struct SandboxEdit {
    apply: Rc<dyn Fn(&mut SandboxSpec)>,
    play: bool,
}

impl SandboxEdit {
    /// An edit.
    pub fn new(f: impl Fn(&mut SandboxSpec) + 'static) -> SandboxEdit {
        SandboxEdit {
            apply: Rc::new(f),
            play: false,
        }
    }

    /// The same edit, then play the packet from its first hop.
    pub fn and_play(self) -> SandboxEdit {
        SandboxEdit { play: true, ..self }
    }
}

impl PartialEq for SandboxEdit {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.apply, &other.apply) && self.play == other.play
    }
}

impl std::fmt::Debug for SandboxEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxEdit")
            .field("play", &self.play)
            .finish_non_exhaustive()
    }
}

/// Most nodes the sandbox draws.
pub const MAX_NODES: usize = 128;
/// Most pods per node the sandbox asks for (the IPAM may allow fewer).
pub const MAX_PODS: u16 = 64;
/// Most LANs the sandbox spreads nodes over: as many rows as a page has
/// room for, fewer than a cluster may have ([`podnet_core::topology::MAX_LANS`]).
pub const MAX_LANS: u8 = 4;
const _: () = assert!(MAX_LANS as usize <= podnet_core::topology::MAX_LANS);

/// The whole app state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Current scene.
    pub scene: Scene,
    /// Cursor into the current trace's hops.
    pub step: usize,
    /// Number of hops in the current trace (0 when there is none).
    pub len: usize,
    /// Animation running.
    pub playing: bool,
    /// Speed factor: 1, 2, 4 or 8.
    pub speed: u32,
    /// Scene d: the cluster network is on.
    pub network_on: bool,
    /// Scene b: how often pod "web" was recreated.
    pub recreated: u32,
    /// Scene g: which way in.
    pub outside: Outside,
    /// Scene f2: the backend between the two LANs.
    pub backend: Backend,
    /// Scene h.
    pub sandbox: SandboxSpec,
    /// Scene d: the matrix cell whose ping plays (sender and receiver names).
    pub cell: Option<(String, String)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            scene: Scene::Pod,
            step: 0,
            len: 0,
            playing: false,
            speed: 1,
            network_on: false,
            recreated: 0,
            outside: Outside::ViaNode,
            backend: Backend::HostGw,
            sandbox: SandboxSpec::default(),
            cell: None,
        }
    }
}

/// Everything that can happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a scene.
    Go(Scene),
    /// Move the cursor by this many hops (pauses).
    Step(i32),
    /// Put the cursor on a hop (pauses).
    Seek(usize),
    /// Play or pause; playing from the end starts over.
    TogglePlay,
    /// One animation tick.
    Tick,
    /// The current trace has this many hops.
    SetLen(usize),
    /// Animation speed.
    Speed(u32),
    /// Scene d: cluster network on/off.
    ToggleNetwork,
    /// Scene b: delete pod "web" and create it again.
    Recreate,
    /// Scene g: pick a way in.
    SetOutside(Outside),
    /// Scene f2: pick a backend.
    SetBackend(Backend),
    /// Scene h: an edit of the spec.
    EditSandbox(SandboxEdit),
    /// Scene d: play this cell's ping (sender, receiver) from its first hop.
    PlayCell(String, String),
    /// Scene h: start a challenge from its broken cluster (or leave it: `None`).
    Challenge(Option<&'static str>),
    /// Browser Back or Forward: the state the address bar now holds.
    Restore(Box<State>),
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        let last = s.len.saturating_sub(1);
        match action {
            Action::Go(scene) => {
                s.scene = scene;
                s.step = 0;
                s.playing = false;
            }
            Action::Step(d) => {
                s.step = (s.step as i64 + i64::from(d)).clamp(0, last as i64) as usize;
                s.playing = false;
            }
            Action::Seek(i) => {
                s.step = i.min(last);
                s.playing = false;
            }
            Action::TogglePlay => {
                if !s.playing && s.step >= last {
                    s.step = 0;
                }
                s.playing = !s.playing && s.len > 1;
            }
            Action::Tick => {
                if s.step < last {
                    s.step += 1;
                }
                if s.step >= last {
                    s.playing = false;
                }
            }
            Action::SetLen(len) => {
                s.len = len;
                s.step = s.step.min(len.saturating_sub(1));
                s.playing &= len > 1;
            }
            Action::Speed(x) => s.speed = x.clamp(1, 8),
            Action::ToggleNetwork => s.network_on = !s.network_on,
            Action::PlayCell(from, to) => {
                s.cell = Some((from, to));
                s.step = 0;
                // Kept once the new packet's length arrives (SetLen).
                s.playing = true;
            }
            Action::Recreate => s.recreated = s.recreated.saturating_add(1),
            Action::SetOutside(o) => {
                s.outside = o;
                s.step = 0;
                s.playing = false;
            }
            Action::SetBackend(b) => {
                s.backend = b;
                s.step = 0;
                s.playing = false;
            }
            Action::EditSandbox(edit) => {
                (edit.apply)(&mut s.sandbox);
                // An edit is the learner's own cluster: the cut link is behind them.
                s.sandbox.asked_nodes = 0;
                s.step = 0;
                // Kept once the new packet's length arrives (SetLen).
                s.playing = edit.play;
            }
            Action::Challenge(key) => {
                s.sandbox = match key.and_then(crate::challenges::by_key) {
                    Some(c) => c.start(),
                    None => SandboxSpec {
                        challenge: None,
                        ..s.sandbox
                    },
                };
                s.step = 0;
                s.playing = false;
            }
            Action::Restore(to) => {
                // The cursor is clamped when the scene's length arrives.
                s = State {
                    len: s.len.max(to.step + 1),
                    playing: false,
                    ..*to
                };
            }
        }
        if s == *self {
            self
        } else {
            Rc::new(s)
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    /// What makes a browser history entry: the scene and its case, not
    /// the cursor (stepping through a packet is one entry).
    pub fn history_key(&self) -> String {
        let q = State {
            step: 0,
            speed: 1,
            ..self.clone()
        };
        q.to_query()
    }

    /// The state as a query string (without `?`).
    pub fn to_query(&self) -> String {
        let mut q = vec![
            format!("scene={}", self.scene.key()),
            format!("step={}", self.step),
        ];
        if self.speed != 1 {
            q.push(format!("speed={}", self.speed));
        }
        match self.scene {
            Scene::Node => q.push(format!("recreated={}", self.recreated)),
            Scene::Requirements => {
                q.push(format!("net={}", u8::from(self.network_on)));
                if let Some((from, to)) = &self.cell {
                    q.push(format!("cell={},{}", enc(from), enc(to)));
                }
            }
            Scene::Outside => q.push(format!("via={}", self.outside.key())),
            Scene::Overlay => q.push(format!("backend={}", self.backend.key())),
            Scene::Sandbox => {
                let b = &self.sandbox;
                let pods: Vec<String> = b
                    .pods
                    .iter()
                    .map(|n| n.map_or_else(|| "-".to_string(), |n| n.to_string()))
                    .collect();
                q.push(format!("cidr={}&prefix={}", enc(&b.cidr), enc(&b.prefix)));
                q.push(format!(
                    "pods={}&from={}&to={}",
                    enc(&pods.join(",")),
                    enc(&b.from),
                    enc(&b.to)
                ));
                q.push(format!(
                    "proto={}&net={}",
                    b.proto.key(),
                    u8::from(b.network)
                ));
                q.push(format!("backend={}&lans={}", b.backend.key(), b.lans));
                let list = |v: Vec<String>| enc(&v.join(","));
                // A challenge link names even what is empty now: the repair
                // is the learner's, not the challenge's start.
                let all = b.challenge.is_some();
                if all || !b.forward_off.is_empty() {
                    q.push(format!(
                        "fwdoff={}",
                        list(b.forward_off.iter().map(u16::to_string).collect())
                    ));
                }
                if all || !b.no_route.is_empty() {
                    q.push(format!(
                        "noroute={}",
                        list(b.no_route.iter().map(|(n, p)| format!("{n}:{p}")).collect())
                    ));
                }
                if all || !b.ranges.is_empty() {
                    q.push(format!(
                        "range={}",
                        list(b.ranges.iter().map(|(n, r)| format!("{n}:{r}")).collect())
                    ));
                }
                if all || !b.gateways.is_empty() {
                    q.push(format!(
                        "gw={}",
                        list(b.gateways.iter().map(|(p, g)| format!("{p}:{g}")).collect())
                    ));
                }
                if all || b.service.is_some() {
                    let svc = b.service.as_deref().unwrap_or("");
                    q.push(format!("svc={}&masq={}", enc(svc), u8::from(b.masquerade)));
                }
                if let Some(c) = &b.challenge {
                    // First, so a reader starts from the challenge and applies the rest.
                    q.insert(1, format!("challenge={}", enc(c)));
                }
            }
            _ => {}
        }
        q.join("&")
    }

    /// Reads a query string (with or without `?`); unknown or bad values keep their defaults.
    pub fn from_query(query: &str) -> State {
        let mut s = State::default();
        let pairs = || query.trim_start_matches('?').split('&');
        // A challenge link starts from its broken cluster; what else the
        // link says is the learner's repair so far.
        let challenge = pairs()
            .filter_map(|p| p.strip_prefix("challenge="))
            .find_map(|k| crate::challenges::by_key(&dec(k)));
        if let Some(c) = challenge {
            s.sandbox = c.start();
        }
        let pair_list = |v: &str| -> Vec<(String, String)> {
            v.split(',')
                .filter_map(|x| x.split_once(':'))
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .collect()
        };
        for pair in pairs() {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = dec(v);
            match k {
                "scene" => s.scene = Scene::from_key(&v).unwrap_or(s.scene),
                "step" => s.step = v.parse().unwrap_or(0),
                "speed" => s.speed = v.parse::<u32>().map_or(1, |x| x.clamp(1, 8)),
                "recreated" => s.recreated = v.parse().unwrap_or(0),
                "via" => {
                    s.outside = Outside::ALL
                        .into_iter()
                        .find(|o| o.key() == v)
                        .unwrap_or(s.outside)
                }
                "net" => {
                    s.network_on = v == "1";
                    s.sandbox.network = v == "1";
                }
                "cell" => {
                    s.cell = v
                        .split_once(',')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                }
                "cidr" => s.sandbox.cidr = v,
                "prefix" => s.sandbox.prefix = v,
                "pods" => {
                    // "-" is a removed node; anything else not a number is dropped.
                    let all: Vec<Option<u16>> = v
                        .split(',')
                        .filter_map(|n| match n.trim() {
                            "-" => Some(None),
                            n => n.parse::<u16>().ok().map(|n| Some(n.min(MAX_PODS))),
                        })
                        .collect();
                    s.sandbox.asked_nodes = if all.len() > MAX_NODES { all.len() } else { 0 };
                    s.sandbox.pods = all.into_iter().take(MAX_NODES).collect();
                }
                "backend" => {
                    if let Ok(b) = v.parse::<Backend>() {
                        if b != Backend::None {
                            s.backend = b;
                            s.sandbox.backend = b;
                        }
                    }
                }
                "lans" => {
                    s.sandbox.lans = v.parse::<u8>().map_or(1, |n| n.clamp(1, MAX_LANS));
                }
                "fwdoff" => {
                    s.sandbox.forward_off =
                        v.split(',').filter_map(|n| n.trim().parse().ok()).collect()
                }
                "noroute" => {
                    s.sandbox.no_route = pair_list(&v)
                        .into_iter()
                        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                        .collect()
                }
                "range" => {
                    s.sandbox.ranges = pair_list(&v)
                        .into_iter()
                        .filter_map(|(a, b)| Some((a.parse().ok()?, b)))
                        .collect()
                }
                "gw" => s.sandbox.gateways = pair_list(&v).into_iter().collect(),
                "svc" => s.sandbox.service = Some(v).filter(|v| !v.is_empty()),
                "masq" => s.sandbox.masquerade = v != "0",
                "from" => s.sandbox.from = v,
                "to" => s.sandbox.to = v,
                "proto" => s.sandbox.proto = Proto::from_key(&v).unwrap_or(s.sandbox.proto),
                _ => {}
            }
        }
        // The cursor is clamped once the scene's trace is known (SetLen).
        s.len = s.step + 1;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_keys_round_trip() {
        for s in Scene::ALL {
            assert_eq!(Scene::from_key(s.key()), Some(s));
        }
        assert_eq!(Scene::from_key("f2"), Some(Scene::Overlay));
        assert_eq!(
            Scene::from_key("g"),
            Some(Scene::Outside),
            "links to the later scenes keep working"
        );
        assert_eq!(Scene::from_key("z"), None);
        assert_eq!(Scene::from_key(""), None);
        assert_eq!(Scene::from_key("ab"), None);
    }

    #[test]
    fn the_url_carries_scene_cursor_and_sandbox() {
        let mut s = State {
            scene: Scene::Sandbox,
            step: 4,
            speed: 2,
            ..State::default()
        };
        s.sandbox.cidr = "10.0.0.0/8".into();
        s.sandbox.pods = vec![Some(3), None, Some(0), Some(5)];
        s.sandbox.proto = Proto::Tcp;
        s.sandbox.backend = Backend::Auto;
        s.sandbox.lans = 3;
        let back = State::from_query(&format!("?{}", s.to_query()));
        assert_eq!((back.scene, back.step, back.speed), (Scene::Sandbox, 4, 2));
        assert_eq!(back.sandbox, s.sandbox);
        let d = State {
            scene: Scene::Requirements,
            cell: Some(("node2".into(), "pod-b".into())),
            ..State::default()
        };
        assert_eq!(
            State::from_query(&d.to_query()).cell,
            d.cell,
            "scene d's picked cell"
        );
        let junk = State::from_query("scene=%ZZ&step=-3&speed=99&pods=1,x,2&proto=ftp");
        assert_eq!((junk.scene, junk.step, junk.speed), (Scene::Pod, 0, 8));
        assert_eq!(junk.sandbox.pods, vec![Some(1), Some(2)]);
        assert_eq!(junk.sandbox.proto, Proto::Ping);
    }

    #[test]
    fn two_quick_sandbox_edits_both_count() {
        // Both made from controls drawn with the same spec, before a render.
        let s = Rc::new(State::default())
            .reduce(Action::EditSandbox(SandboxEdit::new(|s| {
                s.cidr = "10.0.0.0/8".into()
            })))
            .reduce(Action::EditSandbox(SandboxEdit::new(|s| {
                s.prefix = "20".into()
            })));
        assert_eq!(
            (s.sandbox.cidr.as_str(), s.sandbox.prefix.as_str()),
            ("10.0.0.0/8", "20")
        );
        let played = s.reduce(Action::EditSandbox(SandboxEdit::new(|_| {}).and_play()));
        assert!(played.playing, "a matrix cell's packet plays");
    }

    #[test]
    fn the_cursor_stays_on_the_trace_and_playing_stops_at_the_end() {
        let s = Rc::new(State::default()).reduce(Action::SetLen(3));
        let s = s.reduce(Action::TogglePlay);
        assert!(s.playing);
        let s = s.reduce(Action::Tick).reduce(Action::Tick);
        assert_eq!((s.step, s.playing), (2, false));
        let s = s.reduce(Action::Step(5));
        assert_eq!(s.step, 2);
        let s = s.reduce(Action::Step(-9));
        assert_eq!(s.step, 0);
        let s = s.reduce(Action::Seek(2)).reduce(Action::TogglePlay);
        assert_eq!(
            (s.step, s.playing),
            (0, true),
            "play from the end starts over"
        );
        let s = s.reduce(Action::SetLen(0));
        assert!(!s.playing);
    }
}

//! App state: one reducer.
//!
//! Everything the page shows follows from [`State`]: which scene, where the
//! cursor is in the packet's trace, whether it plays and how fast, and the
//! few knobs each scene has (the sandbox's in [`crate::sandbox`]). Its round
//! trip through the address bar is [`crate::url`].

use std::rc::Rc;

use podnet_core::topology::Backend;
use yew::Reducible;

use crate::sandbox::{SandboxEdit, SandboxSpec};

/// The scenes, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scene {
    /// a. A pod's containers share one address.
    Pod,
    /// b. One node's internal network; recreated pods get new addresses.
    Node,
    /// b2. A Service: one address for pods that come and go.
    Service,
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
    /// g2. Who may talk to whom: NetworkPolicy on upstream's x/y/z layout.
    Policy,
    /// h. Build your own cluster and send any packet.
    Sandbox,
    /// i. A real lab: its kernels' state and captured packets, beside the model.
    Live,
    /// j. Nodes joining a real cluster: NotReady, a range from node IPAM, the CNI config, Ready.
    Join,
}

impl Scene {
    /// Whether the scene's packet can be followed by its reply (the
    /// request/reply switch; scene b2 has its own, with the hairpin).
    pub fn has_reply(self) -> bool {
        matches!(
            self,
            Scene::Unconnected | Scene::Packet | Scene::Overlay | Scene::Outside | Scene::Sandbox
        )
    }

    /// Whether the page's build fetches the scene when it opens: all
    /// but the first two ([`crate::scenes::on_demand`]).
    pub fn on_demand(self) -> bool {
        !matches!(self, Scene::Pod | Scene::Node)
    }

    /// All scenes in order.
    /// Scene j (where a node's range comes from) stands before e, the
    /// first to use the ranges; its key stays j, so old links still work.
    pub const ALL: [Scene; 13] = [
        Scene::Pod,
        Scene::Node,
        Scene::Service,
        Scene::Unconnected,
        Scene::Requirements,
        Scene::Join,
        Scene::Ranges,
        Scene::Packet,
        Scene::Overlay,
        Scene::Outside,
        Scene::Policy,
        Scene::Sandbox,
        Scene::Live,
    ];

    /// The key used in the URL, the element ids and the menu: the seed's
    /// letters, b2 for Services, which follow pods coming and going, f2
    /// for the overlay, which follows the cross-node packet, and g2 for
    /// NetworkPolicy, once every way in is known (so links to the scenes
    /// after them keep working).
    pub fn key(self) -> &'static str {
        match self {
            Scene::Pod => "a",
            Scene::Node => "b",
            Scene::Service => "b2",
            Scene::Unconnected => "c",
            Scene::Requirements => "d",
            Scene::Ranges => "e",
            Scene::Packet => "f",
            Scene::Overlay => "f2",
            Scene::Outside => "g",
            Scene::Policy => "g2",
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
            Scene::Service => "A Service: one address for pods that come and go",
            Scene::Unconnected => "Two nodes, no cluster network",
            Scene::Requirements => "What a CNI plugin must guarantee",
            Scene::Ranges => "A range per node, routes between",
            Scene::Packet => "A packet across nodes",
            Scene::Overlay => "When nodes are not on one LAN: the overlay",
            Scene::Outside => "Reaching a pod from outside",
            Scene::Policy => "Isolating pods: NetworkPolicy",
            Scene::Sandbox => "Sandbox",
            Scene::Live => "Live lab",
            Scene::Join => "How a node joins the cluster",
        }
    }
}

/// What scene b2 shows: which endpoint the packet follows, whether it is
/// the request or its reply, who asks, and how often pod-c was recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceCase {
    /// The endpoint kube-proxy's dice land on (its place in the rules, from 0).
    pub pick: u8,
    /// Show the reply instead of the request.
    pub reply: bool,
    /// pod-b asks, and the dice land on pod-b itself.
    pub hairpin: bool,
    /// How often pod-c was deleted and created again.
    pub recreated: u32,
}

impl Default for ServiceCase {
    fn default() -> Self {
        ServiceCase {
            pick: 1,
            reply: false,
            hairpin: false,
            recreated: 0,
        }
    }
}

/// What scene g2 shows: the policies, the port of the table, and the
/// pair whose packet plays.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyCase {
    /// The policies as `kubectl apply -f` takes them. Always valid: the
    /// editor keeps a draft to itself until core reads it.
    pub yaml: Rc<str>,
    /// The table's port (80 or 81).
    pub port: u16,
    /// UDP, else TCP.
    pub udp: bool,
    /// The pair whose packet plays (places in the layout's pod list);
    /// none: the first one the policies deny.
    pub pair: Option<(u8, u8)>,
}

impl Default for PolicyCase {
    fn default() -> Self {
        PolicyCase {
            yaml: podnet_core::policy::layout::PRESETS[0].manifest.into(),
            port: 80,
            udp: false,
            pair: None,
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

    /// Its name in a link.
    pub fn key(self) -> &'static str {
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
    /// Scene b2: the Service's case.
    pub service: ServiceCase,
    /// Scene g: which way in.
    pub outside: Outside,
    /// Scenes c, f, f2, g and the sandbox ([`Scene::has_reply`]): the
    /// packet's reply played instead of the request.
    pub reply: bool,
    /// Scene f2: the backend between the two LANs.
    pub backend: Backend,
    /// Scene g2.
    pub policy: PolicyCase,
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
            service: ServiceCase::default(),
            outside: Outside::ViaNode,
            reply: false,
            backend: Backend::HostGw,
            policy: PolicyCase::default(),
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
    /// Scene b2: another case (from its first hop).
    SetService(ServiceCase),
    /// Scene g: pick a way in.
    SetOutside(Outside),
    /// Play the request (false) or its reply (true).
    SetReply(bool),
    /// Scene f2: pick a backend.
    SetBackend(Backend),
    /// Scene g2: other policies, port or pair (a new pair plays).
    SetPolicy(PolicyCase),
    /// Scene h: an edit of the spec.
    EditSandbox(SandboxEdit),
    /// Scene d: play this cell's ping (sender, receiver) from its first hop.
    PlayCell(String, String),
    /// Scene h: start a challenge from its broken cluster, as
    /// `Challenge::start` made it (or leave it: `None`).
    Challenge(Option<Box<SandboxSpec>>),
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
                // A new scene starts with its request.
                s.reply = false;
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
            Action::SetService(c) => {
                s.service = c;
                s.step = 0;
                s.playing = false;
            }
            Action::SetOutside(o) => {
                s.outside = o;
                s.step = 0;
                s.playing = false;
            }
            Action::SetReply(r) => {
                s.reply = r;
                s.step = 0;
                s.playing = false;
            }
            Action::SetPolicy(c) => {
                // Kept once the new packet's length arrives (SetLen).
                s.playing = c.pair.is_some() && c.pair != s.policy.pair;
                s.policy = c;
                s.step = 0;
            }
            Action::SetBackend(b) => {
                s.backend = b;
                s.step = 0;
                s.playing = false;
            }
            Action::EditSandbox(edit) => {
                edit.apply_to(&mut s.sandbox);
                // An edit is the learner's own cluster: the cut link is behind them.
                s.sandbox.asked_nodes = 0;
                s.step = 0;
                // Kept once the new packet's length arrives (SetLen).
                s.playing = edit.plays();
            }
            Action::Challenge(started) => {
                s.sandbox = match started {
                    Some(started) => *started,
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

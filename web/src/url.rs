//! The app state's round trip through the address bar: a link shares
//! exactly what the reader sees (the scene, its case, the sandbox and the
//! challenge). Unknown or bad values keep their defaults, so no link
//! breaks the page.

use podnet_core::forward::Proto;
use podnet_core::policy::layout::{NAMESPACES, PODS, PRESETS};
use podnet_core::topology::Backend;

use crate::sandbox::{SandboxService, MAX_LANS, MAX_NODES, MAX_PODS};
use crate::state::{Outside, Scene, State};

/// The longest policy text a link may carry (a few dozen policies).
const MAX_POLICY_YAML: usize = 16 * 1024;

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
            Scene::Service => {
                let c = self.service;
                q.push(format!(
                    "pick={}&reply={}&hairpin={}&svcre={}",
                    c.pick,
                    u8::from(c.reply),
                    u8::from(c.hairpin),
                    c.recreated
                ));
            }
            Scene::Requirements => {
                q.push(format!("net={}", u8::from(self.network_on)));
                if let Some((from, to)) = &self.cell {
                    q.push(format!("cell={},{}", enc(from), enc(to)));
                }
            }
            Scene::Outside => q.push(format!("via={}", self.outside.key())),
            Scene::Overlay => q.push(format!("backend={}", self.backend.key())),
            Scene::Policy => {
                let c = &self.policy;
                // A preset by its key: a short link.
                match PRESETS.iter().find(|p| p.manifest == &*c.yaml) {
                    Some(p) => q.push(format!("preset={}", p.key)),
                    None => q.push(format!("policy={}", enc(&c.yaml))),
                }
                q.push(format!(
                    "port={}&l4={}",
                    c.port,
                    if c.udp { "udp" } else { "tcp" }
                ));
                if let Some((a, b)) = c.pair {
                    q.push(format!("pair={a},{b}"));
                }
            }
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
                if all || !b.hairpin_off.is_empty() {
                    q.push(format!(
                        "hairpinoff={}",
                        list(b.hairpin_off.iter().map(u16::to_string).collect())
                    ));
                }
                if all || !b.labels.is_empty() {
                    let l: Vec<String> = b.labels.iter().map(|(p, l)| format!("{p}:{l}")).collect();
                    q.push(format!("labels={}", enc(&l.join(";"))));
                }
                if all || !b.policy.is_empty() {
                    q.push(format!("netpol={}", enc(&b.policy)));
                }
                match &b.service {
                    Some(svc) => q.push(format!(
                        "svc={}&svcsel={}&svctype={}&svclocal={}&svctarget={}&masq={}",
                        list(svc.labelled.iter().cloned().collect()),
                        enc(&svc.selects),
                        if svc.node_port {
                            "nodeport"
                        } else {
                            "clusterip"
                        },
                        u8::from(svc.local),
                        enc(&svc.target),
                        u8::from(b.masquerade)
                    )),
                    None if all => q.push(format!("svc=&masq={}", u8::from(b.masquerade))),
                    None => {}
                }
                if let Some(c) = &b.challenge {
                    // First, so a reader starts from the challenge and applies the rest.
                    q.insert(1, format!("challenge={}", enc(c)));
                }
            }
            _ => {}
        }
        if self.reply && self.scene.has_reply() {
            q.push("back=1".into());
        }
        q.join("&")
    }

    /// Reads a query string (with or without `?`); unknown or bad values keep their defaults.
    pub fn from_query(query: &str) -> State {
        let mut s = State::default();
        let pairs = || query.trim_start_matches('?').split('&');
        // A challenge link starts from its broken cluster; what else the
        // link says is the learner's repair so far.
        // Only the full build knows the challenges and reads policies; the
        // page's build never shows those scenes, nor rewrites their links.
        let full = crate::scenes::on_demand::full();
        let read = |v: &str| full.is_some_and(|f| (f.policy_ok)(v));
        let challenge = pairs()
            .filter_map(|p| p.strip_prefix("challenge="))
            .find_map(|k| full.and_then(|f| (f.challenge)(&dec(k))));
        if let Some(started) = challenge {
            s.sandbox = started;
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
                "pick" => s.service.pick = v.parse::<u8>().map_or(1, |k| k.min(9)),
                "reply" => s.service.reply = v == "1",
                "hairpin" => s.service.hairpin = v == "1",
                "svcre" => s.service.recreated = v.parse::<u32>().map_or(0, |n| n.min(1000)),
                "back" => s.reply = v == "1",
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
                "preset" => {
                    if let Some(p) = PRESETS.iter().find(|p| p.key == v) {
                        s.policy.yaml = p.manifest.into();
                    }
                }
                // Only policies core reads: a bad link keeps the default.
                "policy" if v.len() <= MAX_POLICY_YAML && read(&v) => {
                    s.policy.yaml = v.into();
                }
                "port" => {
                    if let Ok(p @ (80 | 81)) = v.parse::<u16>() {
                        s.policy.port = p;
                    }
                }
                "l4" => s.policy.udp = v == "udp",
                "pair" => {
                    let n = PODS.len() * NAMESPACES.len();
                    s.policy.pair = v
                        .split_once(',')
                        .and_then(|(a, b)| Some((a.parse::<u8>().ok()?, b.parse::<u8>().ok()?)))
                        .filter(|&(a, b)| usize::from(a) < n && usize::from(b) < n);
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
                // `svc=p3-1` alone (older links): a NodePort in front of that pod.
                "svc" => {
                    let pods = v
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string);
                    s.sandbox.service =
                        Some(SandboxService::node_port_to(pods)).filter(|_| !v.trim().is_empty());
                }
                "svcsel" => {
                    if let Some(svc) = &mut s.sandbox.service {
                        svc.selects = v;
                    }
                }
                "svctype" => {
                    if let Some(svc) = &mut s.sandbox.service {
                        svc.node_port = v != "clusterip";
                    }
                }
                "svclocal" => {
                    if let Some(svc) = &mut s.sandbox.service {
                        svc.local = v == "1";
                    }
                }
                "svctarget" => {
                    if let Some(svc) = &mut s.sandbox.service {
                        svc.target = v;
                    }
                }
                "hairpinoff" => {
                    s.sandbox.hairpin_off =
                        v.split(',').filter_map(|n| n.trim().parse().ok()).collect()
                }
                "masq" => s.sandbox.masquerade = v != "0",
                // `pod:key=value,key=value;pod:…`; a bad label is the
                // sandbox's error to show, not the link's to drop.
                "labels" => {
                    s.sandbox.labels = v
                        .split(';')
                        .filter_map(|x| x.split_once(':'))
                        .map(|(p, l)| (p.trim().to_string(), l.trim().to_string()))
                        .filter(|(p, l)| !p.is_empty() && !l.is_empty())
                        .collect()
                }
                // Only policies core reads (or none): a bad link keeps the start.
                "netpol" if v.len() <= MAX_POLICY_YAML && (v.trim().is_empty() || read(&v)) => {
                    s.sandbox.policy = v
                }
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
    use crate::challenges::by_key;
    use crate::sandbox::SandboxSpec;

    #[test]
    fn the_url_carries_scene_g2_s_policies_port_and_pair() {
        let mut s = State {
            scene: Scene::Policy,
            ..State::default()
        };
        s.policy.port = 81;
        s.policy.udp = true;
        s.policy.pair = Some((3, 0));
        let q = s.to_query();
        assert!(
            q.contains("preset=deny-ingress"),
            "a preset by its key: {q}"
        );
        assert_eq!(State::from_query(&q).policy, s.policy);
        // The learner's own policies travel whole.
        s.policy.yaml = PRESETS[3].manifest.replace("pod: b", "pod: c").into();
        let q = s.to_query();
        assert!(q.contains("policy="), "{q}");
        assert_eq!(State::from_query(&q).policy, s.policy);
        // What core refuses, or a pair off the table, keeps the default.
        let bad = State::from_query("scene=g2&policy=kind%3A%20Pod&pair=9,0&port=8080");
        assert_eq!(bad.policy, crate::state::PolicyCase::default());
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
        s.sandbox.service = Some(SandboxService {
            labelled: ["p1-1".to_string(), "p4-2".to_string()].into(),
            selects: "w b".into(),
            node_port: false,
            local: true,
            target: "http".into(),
        });
        s.sandbox.hairpin_off.insert(2);
        s.sandbox
            .labels
            .insert("p1-1".into(), "role=frontend,tier=a".into());
        s.sandbox.policy = crate::challenges::POLICY_EXAMPLE.into();
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
        let b2 = State {
            scene: Scene::Service,
            service: crate::state::ServiceCase {
                pick: 2,
                reply: true,
                hairpin: false,
                recreated: 3,
            },
            ..State::default()
        };
        assert_eq!(
            State::from_query(&b2.to_query()).service,
            b2.service,
            "scene b2's case"
        );
        let junk = State::from_query("scene=%ZZ&step=-3&speed=99&pods=1,x,2&proto=ftp");
        assert_eq!((junk.scene, junk.step, junk.speed), (Scene::Pod, 0, 8));
        assert_eq!(junk.sandbox.pods, vec![Some(1), Some(2)]);
        assert_eq!(junk.sandbox.proto, Proto::Ping);
        // An older link's NodePort in front of one pod.
        let old = State::from_query("scene=h&svc=p3-1&masq=0");
        assert_eq!(
            old.sandbox.service,
            Some(SandboxService::node_port_to(["p3-1".to_string()]))
        );
        assert!(!old.sandbox.masquerade);
    }

    #[test]
    fn a_challenge_link_round_trips_with_the_repair_so_far() {
        let mut st = State {
            scene: Scene::Sandbox,
            sandbox: by_key("overlap").unwrap().start(),
            ..State::default()
        };
        st.sandbox.forward_off.insert(1);
        let q = st.to_query();
        assert!(q.starts_with("scene=h&challenge=overlap"), "{q}");
        let back = State::from_query(&q);
        assert_eq!(back.sandbox, st.sandbox);
        // The key alone is the broken cluster.
        let fresh = State::from_query("scene=h&challenge=route");
        assert_eq!(fresh.sandbox, by_key("route").unwrap().start());
        assert_eq!(
            State::from_query("challenge=nope").sandbox,
            SandboxSpec::default()
        );
        // A policy task whose learner cleared the policy and a label: the
        // link says so, and does not fall back to the start.
        let mut st = State {
            scene: Scene::Sandbox,
            sandbox: by_key("isolate-all").unwrap().start(),
            ..State::default()
        };
        st.sandbox.policy.clear();
        st.sandbox.labels.remove("p1-1");
        let back = State::from_query(&st.to_query());
        assert_eq!(back.sandbox, st.sandbox);
        // A link's policy that core cannot read is dropped.
        let bad = State::from_query("scene=h&challenge=isolate-all&netpol=kind%3A%20Nope");
        assert_eq!(bad.sandbox, by_key("isolate-all").unwrap().start());
    }
}

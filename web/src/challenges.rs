//! Break and fix: named sandbox clusters with one thing broken, solved when
//! the requirement matrix is all green again; and NetworkPolicy tasks,
//! solved when policies deny exactly the pairs asked for.
//!
//! A challenge is only its starting [`SandboxSpec`] (and, for a policy
//! task, the pairs to deny); everything it shows (which pairs fail, where,
//! why) is the model's. Progress is kept in the
//! browser's `localStorage`; a challenge and the repair so far are in the URL.

use crate::sandbox::{build, SandboxService, SandboxSpec};
use podnet_core::forward::{Matrix, Network, Proto};
use podnet_core::topology::{Backend, Cluster, Endpoint};

/// One challenge.
#[derive(Debug, Clone, Copy)]
pub struct Challenge {
    /// Its key in the URL and in the saved progress.
    pub key: &'static str,
    /// Its name.
    pub title: &'static str,
    /// What happened to the cluster, as an operator would tell it.
    pub story: &'static str,
    /// Where to look, for a learner who asks.
    pub hint: &'static str,
    /// The broken cluster's edits to the default sandbox.
    broken: fn(&mut SandboxSpec),
    /// The repair on a real cluster, as an operator would type it
    /// (commands between backticks).
    pub command: &'static str,
    /// A NetworkPolicy task: pods labelled `.1` reached only by pods
    /// labelled `.0` (labels as the challenge starts), every other pair as
    /// without policies. `None`: the matrix all green, nothing denied.
    pub only: Option<(&'static str, &'static str)>,
}

/// The labels the NetworkPolicy tasks start with.
fn roles(s: &mut SandboxSpec) {
    s.labels.insert("p1-1".into(), FRONTEND.into());
    s.labels.insert("p3-1".into(), BACKEND.into());
}
const FRONTEND: &str = "role=frontend";
const BACKEND: &str = "role=backend";

/// What the NetworkPolicy box offers to start from: backend isolated for
/// ingress, no rule yet.
pub const POLICY_EXAMPLE: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: backend
spec:
  podSelector:
    matchLabels:
      role: backend
  policyTypes: [Ingress]
  ingress: []
";

/// The challenges, easiest first.
pub const ALL: [Challenge; 13] = [
    Challenge {
        key: "network",
        title: "Nodes without a cluster network",
        story: "Three nodes were given pod ranges by node IPAM, but no CNI plugin connects them: each node knows only its own range.",
        hint: "Turn the cluster network on.",
        broken: |s| s.network = false,
        command: "Install a CNI plugin that connects the nodes: `kubectl apply -f deploy/podnet.yaml` (podnet's agent then keeps a route to every peer's range on each node).",
        only: None,
    },
    Challenge {
        key: "route",
        title: "A route went missing",
        story: "Someone ran `ip route del 10.244.1.0/24` (node2's range) on node1 while debugging. node1's agent is stopped, so nothing puts it back.",
        hint: "Open node1's settings and look at its routes.",
        broken: |s| {
            s.no_route.insert((1, 2));
        },
        command: "On node1: `ip route add 10.244.1.0/24 via 192.168.1.12 dev eth0`, or start node1's agent again, which puts its routes back.",
        only: None,
    },
    Challenge {
        key: "overlap",
        title: "Two nodes, one range",
        story: "node3 was set up by hand with `--pod-cidr 10.244.0.0/24`, the range node IPAM had already given node1.",
        hint: "A node's range is in its settings; empty means node IPAM chooses.",
        broken: |s| {
            s.ranges.insert(3, "10.244.0.0/24".into());
        },
        command: "A Node's podCIDR cannot change: on node3 drop `--pod-cidr`, then `kubectl delete node node3` and let its kubelet register again; node IPAM gives it a free range (`kubectl get node node3 -o jsonpath='{.spec.podCIDR}'`).",
        only: None,
    },
    Challenge {
        key: "forward",
        title: "A node that does not forward",
        story: "node2 was rebuilt from an image with `net.ipv4.ip_forward = 0`. Its pods still start and get addresses.",
        hint: "A node that routes for its pods needs ip_forward.",
        broken: |s| {
            s.forward_off.insert(2);
        },
        command: "On node2: `sysctl -w net.ipv4.ip_forward=1`, and the same line in /etc/sysctl.d/ so a reboot keeps it.",
        only: None,
    },
    Challenge {
        key: "gateway",
        title: "A pod with the wrong gateway",
        story: "p1-2's CNI config was written by hand, and its default route points at 10.244.0.254, an address on its subnet that nobody has.",
        hint: "A pod's gateway is its node's bridge address; pods are listed in their node's settings.",
        broken: |s| {
            s.gateways.insert("p1-2".into(), "10.244.0.254".into());
        },
        command: "The gateway is the bridge's address: `ip -n <p1-2's netns> route replace default via 10.244.0.1`; better, recreate p1-2 with the CNI config the agent writes.",
        only: None,
    },
    Challenge {
        key: "nodeport",
        title: "A NodePort only one node answers",
        story: "A laptop asks NodePort 30080 on every node for Service web, whose one pod is p3-1. So that p3-1 sees the laptop's own address, someone set externalTrafficPolicy: Local on the Service. Since then only node3 answers.",
        hint: "Under Local a node sends NodePort traffic only to the Service's pods on itself (no masquerade, the client's address kept) and drops it where it has none. Which nodes have a pod labelled app=web?",
        broken: |s| {
            s.service = Some(SandboxService {
                local: true,
                ..SandboxService::node_port_to(["p3-1".to_string()])
            });
        },
        command: "`kubectl patch service web -p '{\"spec\":{\"externalTrafficPolicy\":\"Cluster\"}}'`; or keep Local (and the client's address) and run a pod of web on every node, or send clients only to nodes that have one.",
        only: None,
    },
    Challenge {
        key: "noendpoints",
        title: "A Service without endpoints",
        story: "Service web (ClusterIP, port 80 to 8080) selects app=web. After an edit of the Deployment's pod template, no pod carries that label: every client is refused.",
        hint: "A Service's endpoints are the pods its selector matches. Which pods are labelled app=web?",
        broken: |s| {
            s.service = Some(SandboxService {
                node_port: false,
                ..SandboxService::node_port_to([])
            });
        },
        command: "`kubectl label pod p2-1 app=web` (for good: fix the Deployment's pod template); `kubectl get endpoints web` then lists it.",
        only: None,
    },
    Challenge {
        key: "selector",
        title: "A selector that matches nothing",
        story: "The pods p1-1 and p3-1 are labelled app=web, but Service web was written with the selector app=wbe.",
        hint: "Compare the Service's selector with the pods' label, letter by letter.",
        broken: |s| {
            s.service = Some(SandboxService {
                node_port: false,
                selects: "wbe".into(),
                ..SandboxService::node_port_to(["p1-1".to_string(), "p3-1".to_string()])
            });
        },
        command: "`kubectl patch service web -p '{\"spec\":{\"selector\":{\"app\":\"web\"}}}'`",
        only: None,
    },
    Challenge {
        key: "hairpin",
        title: "A pod that cannot reach its own Service",
        story: "Service web's endpoints are p1-1 and p3-1. Everyone reaches it, except that now and then p1-1 itself hangs: kube-proxy sometimes sends p1-1 to p1-1. node1's CNI config was written without hairpinMode.",
        hint: "A packet from p1-1 to p1-1 through the Service leaves by the bridge port it came in on. node1's settings have the bridge.",
        broken: |s| {
            s.service = Some(SandboxService {
                node_port: false,
                ..SandboxService::node_port_to(["p1-1".to_string(), "p3-1".to_string()])
            });
            s.hairpin_off.insert(1);
        },
        command: "`\"hairpinMode\": true` in node1's bridge CNI config (podnet writes it) for pods created after; for a running one, `echo 1 > /sys/class/net/<its veth>/brport/hairpin_mode`.",
        only: None,
    },
    Challenge {
        key: "targetport",
        title: "A wrong targetPort",
        story: "The pods behind Service web listen on 8080 (the container port named http), but the Service was written with targetPort 8081.",
        hint: "kube-proxy sends the packet to the pod's address and the targetPort. What does the pod listen on?",
        broken: |s| {
            s.service = Some(SandboxService {
                node_port: false,
                target: "8081".into(),
                ..SandboxService::node_port_to(["p1-1".to_string(), "p3-1".to_string()])
            });
        },
        command: "`kubectl patch service web --type=json -p '[{\"op\":\"replace\",\"path\":\"/spec/ports/0/targetPort\",\"value\":\"http\"}]'`",
        only: None,
    },
    Challenge {
        key: "lans",
        title: "Nodes on two LANs with host-gw",
        story: "node2 moved to another subnet behind a router. The cluster still uses host-gw, whose routes need every node on one link.",
        hint: "The backend decides how a packet reaches a node that is not on your LAN.",
        broken: |s| {
            s.lans = 2;
            s.backend = Backend::HostGw;
        },
        command: "Carry pod traffic in VXLAN: podnet-agent's `--backend vxlan` (or `auto`: VXLAN only to nodes off the LAN), as flannel's `\"Backend\": {\"Type\": \"vxlan\"}`.",
        only: None,
    },
    Challenge {
        key: "only-frontend",
        title: "Let only the frontend reach the backend",
        story: "p3-1 runs the backend (labelled role=backend), p1-1 the frontend (role=frontend). Today every pod reaches the backend; the security team wants only the frontend to, and every other pair left as it is.",
        hint: "Write a NetworkPolicy in the NetworkPolicy box: it selects role=backend and has one ingress rule from pods labelled role=frontend (the example is a start).",
        broken: roles,
        command: "`kubectl apply -f backend.yaml` with the policy; podnet's agent enforces it on the backend's node (`kubectl describe networkpolicy backend` shows whom it selects).",
        only: Some((FRONTEND, BACKEND)),
    },
    Challenge {
        key: "isolate-all",
        title: "A policy that cut off every pod",
        story: "This policy was meant to let only the frontend (p1-1) reach the backend (p3-1). Since it was applied, no pod but the frontend reaches any other pod.",
        hint: "Which pods does the policy select? An empty podSelector selects every pod of its namespace.",
        broken: |s| {
            roles(s);
            s.policy = POLICY_EXAMPLE
                .replace("  podSelector:\n    matchLabels:\n      role: backend\n", "  podSelector: {}\n")
                .replace("ingress: []", "ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          role: frontend");
        },
        command: "`kubectl apply -f` the mended policy; `kubectl describe networkpolicy backend` shows its PodSelector (`<none>` means every pod of the namespace).",
        only: Some((FRONTEND, BACKEND)),
    },
];

/// The challenge with this key.
pub fn by_key(key: &str) -> Option<&'static Challenge> {
    ALL.iter().find(|c| c.key == key)
}

impl Challenge {
    /// Its broken cluster, with a pair that shows the fault in the player.
    pub fn start(&self) -> SandboxSpec {
        let mut s = self.broken_spec();
        if let Some((from, to, proto)) = self.opening(&s) {
            (s.from, s.to, s.proto) = (from, to, proto);
        }
        s
    }

    /// Its broken cluster as the sandbox's default pair sees it (cheap: no
    /// matrix).
    fn broken_spec(&self) -> SandboxSpec {
        let mut s = SandboxSpec::default();
        (self.broken)(&mut s);
        s.challenge = Some(self.key.to_string());
        s
    }

    /// The first pair the model says is wrong: a pod pair, else a pod
    /// asking the Service, else the laptop asking a NodePort; for a policy
    /// task, the first pair not as asked.
    fn opening(&self, spec: &SandboxSpec) -> Option<(String, String, Proto)> {
        let b = build(spec.clone());
        let m = Network::new(&b.cluster)
            .and_then(|n| Matrix::compute(&n))
            .ok()?;
        let c = &b.cluster;
        let name = |e: Endpoint| c.short_name_of(e);
        let n = m.endpoints.len();
        let wrong = |i: usize, j: usize| {
            let (from, to) = (m.endpoints[i], m.endpoints[j]);
            let pair = format!("{} → {} ", name(from), name(to));
            match self.only {
                Some(_) => self.wrong_pairs(c, &m).iter().any(|w| w.starts_with(&pair)),
                None => !m.cells[i * n + j].is_ok(),
            }
        };
        let pods = |i: usize| matches!(m.endpoints[i], Endpoint::Pod(_));
        if let Some(k) = (0..n * n)
            .find(|&k| k / n != k % n && pods(k / n) && pods(k % n) && wrong(k / n, k % n))
        {
            return Some((
                name(m.endpoints[k / n]),
                name(m.endpoints[k % n]),
                Proto::Ping,
            ));
        }
        if let Some(x) = m.services.iter().find(|x| !x.cell().is_ok()) {
            let svc = c.service(x.service)?;
            return Some((name(x.from), svc.name.clone(), Proto::Tcp));
        }
        if let Some(x) = m.node_ports.iter().find(|x| !x.cell.is_ok()) {
            return Some((
                name(Endpoint::Client(x.client)),
                name(Endpoint::Node(x.node)),
                Proto::Tcp,
            ));
        }
        let k = (0..n * n).find(|&k| k / n != k % n && wrong(k / n, k % n))?;
        Some((
            name(m.endpoints[k / n]),
            name(m.endpoints[k % n]),
            Proto::Ping,
        ))
    }

    /// Solved: the matrix is green (for a policy task: exactly the pairs
    /// it names denied by a policy, every other pair passing; otherwise
    /// nothing denied) and the cluster is still the one the challenge
    /// started with (its nodes, at least their pods, its LANs, its
    /// service), so removing what is broken does not count.
    pub fn solved(&self, spec: &SandboxSpec, cluster: &Cluster, matrix: Option<&Matrix>) -> bool {
        let Some(m) = matrix else {
            return false;
        };
        let r = m.requirements();
        let goal = match self.only {
            Some(_) => self.wrong_pairs(cluster, m).is_empty(),
            // A policy that denies the broken pairs hides them: not a repair.
            None => r.denied() == 0,
        };
        let start = self.broken_spec();
        let kept = start.pods.iter().enumerate().all(|(i, want)| {
            match (want, spec.pods.get(i).copied().flatten()) {
                (Some(want), Some(have)) => have >= *want,
                (None, _) => true,
                (Some(_), None) => false,
            }
        });
        // The LANs too: moving node2 back is not what the overlay challenge asks.
        // The Service too: not gone, not another type, still in front of a pod.
        let service_kept = match (&start.service, &spec.service) {
            (None, _) => true,
            (Some(a), Some(b)) => a.node_port == b.node_port && !b.labelled.is_empty(),
            (Some(_), None) => false,
        };
        r.met() && goal && kept && spec.lans == start.lans && service_kept
    }

    /// Solved as the page shows the sandbox: `refused` when a field could
    /// not be used, which leaves the cluster half built (what follows it
    /// unapplied), so never solved then.
    pub fn solved_in(
        &self,
        spec: &SandboxSpec,
        cluster: &Cluster,
        matrix: Option<&Matrix>,
        refused: bool,
    ) -> bool {
        !refused && self.solved(spec, cluster, matrix)
    }

    /// A policy task's pairs that are not as asked, in words ("p2-1 →
    /// p3-1 should be denied"): into a pod labelled as the task's target
    /// only from its source pods; every other pair as without policies
    /// (a node may be denied the target, as a policy selecting pods denies
    /// other nodes). Judged by the labels the challenge started with, so
    /// taking a label off a pod, or giving one, does not solve it.
    pub fn wrong_pairs(&self, cluster: &Cluster, m: &Matrix) -> Vec<String> {
        let Some((from_label, to_label)) = self.only else {
            return Vec::new();
        };
        let start = self.broken_spec();
        let has = |pod: &str, label: &str| start.labels.get(pod).is_some_and(|l| l == label);
        let n = m.endpoints.len();
        let (mut wrong, mut nodes) = (Vec::new(), Vec::new());
        for (i, &from) in m.endpoints.iter().enumerate() {
            for (j, &to) in m.endpoints.iter().enumerate() {
                if i == j || matches!((from, to), (Endpoint::Node(_), Endpoint::Node(_))) {
                    continue;
                }
                let (a, b) = (cluster.short_name_of(from), cluster.short_name_of(to));
                let target = matches!(to, Endpoint::Pod(_)) && has(&b, to_label);
                let cell = &m.cells[i * n + j];
                let ok = match from {
                    Endpoint::Pod(_) if target && !has(&a, from_label) => {
                        if !cell.is_policy_denied() {
                            wrong.push(format!("{a} → {b} should be denied"));
                        }
                        continue;
                    }
                    Endpoint::Node(_) if target => cell.is_ok() || cell.is_policy_denied(),
                    _ => cell.is_ok(),
                };
                if !ok {
                    // Pods' own pairs first: the ones the task is about.
                    let line = format!("{a} → {b} should pass");
                    match from {
                        Endpoint::Pod(_) => wrong.push(line),
                        _ => nodes.push(line),
                    }
                }
            }
        }
        wrong.append(&mut nodes);
        for s in m.services.iter().filter(|x| !x.cell().is_ok()) {
            let name = cluster.service(s.service).map_or("?", |x| x.name.as_str());
            wrong.push(format!(
                "{} → {name} should pass",
                cluster.short_name_of(s.from)
            ));
        }
        wrong
    }
}

/// The keys of the challenges solved in this browser.
pub fn solved_keys() -> Vec<String> {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .map(|v| {
            v.split(',')
                .filter(|k| by_key(k).is_some())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Marks a challenge solved in this browser (a private window may refuse: then it is not kept).
pub fn mark_solved(key: &str) {
    let mut keys = solved_keys();
    if keys.iter().any(|k| k == key) {
        return;
    }
    keys.push(key.to_string());
    if let Some(s) = storage() {
        let _ = s.set_item(STORAGE_KEY, &keys.join(","));
    }
}

/// Where progress is kept.
pub const STORAGE_KEY: &str = "podnet.challenges.solved";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(s: &SandboxSpec) -> Result<(Cluster, Matrix), String> {
        let b = build(s.clone());
        if let Some(e) = b.error {
            return Err(e);
        }
        let m = Network::new(&b.cluster)
            .and_then(|n| Matrix::compute(&n))
            .map_err(|e| e.to_string())?;
        Ok((b.cluster, m))
    }

    fn green(s: &SandboxSpec) -> bool {
        matrix(s).is_ok_and(|(_, m)| m.requirements().met())
    }

    fn solved(c: &Challenge, s: &SandboxSpec) -> bool {
        let (cluster, m) = matrix(s).expect("the sandbox builds");
        c.solved(s, &cluster, Some(&m))
    }

    #[test]
    fn every_challenge_starts_broken_and_the_default_sandbox_is_whole() {
        assert!(green(&SandboxSpec::default()));
        for c in ALL {
            let s = c.start();
            assert!(matrix(&s).is_ok(), "{}: {:?}", c.key, matrix(&s).err());
            if c.only.is_none() {
                assert!(!green(&s), "{} starts broken", c.key);
            }
            assert!(!solved(&c, &s), "{} starts unsolved", c.key);
        }
    }

    #[test]
    fn a_challenge_opens_on_a_pair_the_model_says_is_wrong() {
        for c in ALL {
            let s = c.start();
            let (cluster, m) = matrix(&s).unwrap();
            let at = |name: &str| {
                m.endpoints
                    .iter()
                    .position(|&e| cluster.short_name_of(e) == name)
            };
            let wrong = match (at(&s.from), at(&s.to)) {
                _ if c.only.is_some() => c
                    .wrong_pairs(&cluster, &m)
                    .iter()
                    .any(|w| w.starts_with(&format!("{} → {} ", s.from, s.to))),
                (Some(i), Some(j)) => !m.get(i, j).unwrap().is_ok(),
                (Some(i), None) => m
                    .services
                    .iter()
                    .any(|x| x.from == m.endpoints[i] && !x.cell().is_ok()),
                (None, Some(j)) => m
                    .node_ports
                    .iter()
                    .any(|x| Endpoint::Node(x.node) == m.endpoints[j] && !x.cell.is_ok()),
                (None, None) => false,
            };
            assert!(
                wrong,
                "{}: opens on {} → {} ({:?})",
                c.key, s.from, s.to, s.proto
            );
        }
    }

    #[test]
    fn each_challenge_has_a_fix_with_the_sandbox_controls() {
        let only_frontend = POLICY_EXAMPLE.replace(
            "ingress: []",
            "ingress:\n  - from:\n    - podSelector: {matchLabels: {role: frontend}}",
        );
        let fix = |key: &str, s: &mut SandboxSpec| match key {
            "network" => s.network = true,
            "route" => s.no_route.clear(),
            "overlap" => {
                s.ranges.clear();
            }
            "forward" => s.forward_off.clear(),
            "gateway" => s.gateways.clear(),
            "nodeport" => {
                if let Some(svc) = &mut s.service {
                    svc.local = false;
                }
            }
            "noendpoints" => {
                if let Some(svc) = &mut s.service {
                    svc.labelled.insert("p2-1".into());
                }
            }
            "selector" => {
                if let Some(svc) = &mut s.service {
                    svc.selects = "web".into();
                }
            }
            "hairpin" => s.hairpin_off.clear(),
            "targetport" => {
                if let Some(svc) = &mut s.service {
                    svc.target = "http".into();
                }
            }
            "lans" => s.backend = Backend::Vxlan,
            "only-frontend" => s.policy = only_frontend.clone(),
            "isolate-all" => {
                s.policy = s.policy.replace(
                    "podSelector: {}",
                    "podSelector:\n    matchLabels: {role: backend}",
                )
            }
            other => panic!("no fix for {other}"),
        };
        for c in ALL {
            let mut s = c.start();
            fix(c.key, &mut s);
            assert!(green(&s), "{} fixed", c.key);
            assert!(solved(&c, &s), "{} solved", c.key);
        }
    }

    #[test]
    fn a_policy_task_names_the_pairs_still_wrong() {
        let c = by_key("isolate-all").unwrap();
        let s = c.start();
        let (cluster, m) = matrix(&s).unwrap();
        let wrong = c.wrong_pairs(&cluster, &m);
        // Every pod but the frontend is isolated: p1-2 → p2-1 and the rest
        // are denied, though only the backend should be.
        assert!(
            wrong.contains(&"p1-2 → p2-1 should pass".to_string()),
            "{wrong:?}"
        );
        assert!(!wrong.iter().any(|w| w.starts_with("p1-1 →")), "{wrong:?}");
        assert!(green(&s), "a policy's denial is no failure of the network");
        // Denying everything is not "only the frontend".
        let c = by_key("only-frontend").unwrap();
        let mut s = c.start();
        s.policy = POLICY_EXAMPLE.into();
        let (cluster, m) = matrix(&s).unwrap();
        assert_eq!(c.wrong_pairs(&cluster, &m), ["p1-1 → p3-1 should pass"]);
        // Taking the backend's label off is not a solution either.
        let mut s = c.start();
        s.labels.remove("p3-1");
        assert!(!solved(c, &s));
    }

    #[test]
    fn a_challenge_without_policies_is_not_solved_with_pairs_denied() {
        // Mended, but with every pod isolated: green (a denial is no
        // failure), yet a policy could as well hide a fault, so not solved.
        let c = by_key("forward").unwrap();
        let mut s = c.start();
        s.forward_off.clear();
        assert!(solved(c, &s));
        s.policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n".into();
        assert!(green(&s), "every pod pair denied: nothing fails");
        assert!(!solved(c, &s));
    }

    #[test]
    fn a_field_the_sandbox_refuses_solves_nothing() {
        // A bad gateway stops the build before hairpin mode and the Service
        // are applied: the matrix goes green, the challenge is not solved.
        let c = by_key("hairpin").unwrap();
        let mut s = c.start();
        s.gateways.insert("p2-1".into(), "x".into());
        let b = build(s.clone());
        assert!(b.error.is_some());
        let m = Network::new(&b.cluster)
            .and_then(|n| Matrix::compute(&n))
            .unwrap();
        assert!(m.requirements().met(), "green, though half built");
        assert!(!c.solved_in(&s, &b.cluster, Some(&m), b.error.is_some()));
        // The Service's label is the checkboxes', not a pod's labels field.
        let mut s = c.start();
        s.labels.insert("p1-1".into(), "app=x".into());
        assert!(build(s)
            .error
            .unwrap()
            .contains("app is Service web's label"));
    }

    #[test]
    fn a_policy_task_wants_every_other_pair_as_it_was() {
        // Right for the backend, but every pod also cut off from the other nodes.
        let c = by_key("only-frontend").unwrap();
        let mut s = c.start();
        s.policy = POLICY_EXAMPLE.replace(
            "ingress: []",
            "ingress:\n  - from:\n    - podSelector: {matchLabels: {role: frontend}}",
        ) + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: pods-only}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {}}]}]\n";
        let (cluster, m) = matrix(&s).unwrap();
        let wrong = c.wrong_pairs(&cluster, &m);
        assert!(
            wrong.contains(&"p1-2 → node2 should pass".to_string()),
            "{wrong:?}"
        );
        assert!(!solved(c, &s));
    }

    #[test]
    fn removing_the_broken_part_is_not_solving() {
        let c = by_key("gateway").unwrap();
        let mut s = c.start();
        s.pods[0] = Some(1);
        assert!(green(&s), "p1-2 is gone, and with it the fault");
        assert!(!solved(c, &s));
        let c = by_key("nodeport").unwrap();
        let mut s = c.start();
        s.service = None;
        assert!(!solved(c, &s));
        // A Service without pods has nothing to fail: not a repair.
        let c = by_key("hairpin").unwrap();
        let mut s = c.start();
        if let Some(svc) = &mut s.service {
            svc.labelled.clear();
        }
        assert!(!solved(c, &s));
        let c = by_key("lans").unwrap();
        let mut s = c.start();
        s.lans = 1;
        assert!(green(&s), "node2 back on the LAN");
        assert!(!solved(c, &s));
    }

    #[test]
    fn labels_are_key_value_or_a_clear_error() {
        use crate::sandbox::parse_labels;
        let l = parse_labels(" role=frontend, app.kubernetes.io/name = web ,").unwrap();
        assert_eq!(l.get("role").map(String::as_str), Some("frontend"));
        assert_eq!(
            l.get("app.kubernetes.io/name").map(String::as_str),
            Some("web")
        );
        assert!(parse_labels("").unwrap().is_empty());
        assert!(parse_labels("role").unwrap_err().contains("key=value"));
        assert!(parse_labels("=x").is_err());
        assert!(parse_labels("a=b c").is_err());
        let mut s = SandboxSpec::default();
        s.labels.insert("p1-1".into(), "role".into());
        let b = build(s);
        assert!(b.error.unwrap().starts_with("p1-1's labels:"));
    }
}

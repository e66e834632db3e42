//! Step three of the check: the report as the terminal shows it — the
//! matrix, the requirements, where the model and the kernel differ.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{Answer, Class, EgressProbe, Pair, Report, ServiceProbe};

impl Report {
    fn pair(&self, from: &str, to: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.from == from && p.to == to)
    }

    /// Pairs that fail a CNI requirement (pod↔pod, node↔pod): (from, to).
    pub fn failures(&self) -> Vec<(&str, &str)> {
        let is_node = |n: &str| n.starts_with("node");
        self.pairs
            .iter()
            .filter(|p| !(is_node(&p.from) && is_node(&p.to)) && p.real != Class::Ok)
            .map(|p| (p.from.as_str(), p.to.as_str()))
            .collect()
    }

    /// Everything passed: requirements, NodePorts, and the model matches the kernel.
    pub fn all_ok(&self) -> bool {
        (self.failures().is_empty() || self.policies > 0)
            && self
                .policy
                .as_ref()
                .is_none_or(|t| t.differences().is_empty())
            && self.disagreements().is_empty()
            && self.route_diffs.is_empty()
            && self.route_choice_diffs.is_empty()
            && self
                .node_ports
                .iter()
                .all(|n| n.agrees() && n.real_seen.is_some())
            && self.egress.iter().all(EgressProbe::agrees)
            && self.underlay.iter().all(|u| u.agrees())
            && self.services.iter().all(ServiceProbe::agrees)
            && self.rules.iter().all(|r| r.diffs.is_empty())
    }

    /// Pairs where model and kernel disagree.
    pub fn disagreements(&self) -> Vec<&Pair> {
        self.pairs.iter().filter(|p| !p.agrees()).collect()
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = self.render_matrix();
        self.render_requirements(&mut out);
        self.render_agreement(&mut out);
        self.render_node_ports(&mut out);
        self.render_egress(&mut out);
        self.render_services(&mut out);
        self.render_rules(&mut out);
        self.render_routes(&mut out);
        self.render_underlay(&mut out);
        self.render_policy(&mut out);
        out
    }

    fn render_policy(&self, out: &mut String) {
        let Some(t) = &self.policy else { return };
        let diffs = t.differences();
        let allowed = t.cells.iter().filter(|c| c.real).count();
        let _ = writeln!(
            out,
            "NetworkPolicy truth table (x, y, z × a, b, c; TCP and UDP on 80 and 81; {} policies): {}/{} cells as the model says ({allowed} allowed, {} denied)",
            t.policies,
            t.cells.len() - diffs.len(),
            t.cells.len(),
            t.cells.len() - allowed
        );
        for c in diffs {
            let _ = writeln!(
                out,
                "  ✗ {} -> {} {}/{}: kernel {}, model {}",
                c.from,
                c.to,
                c.protocol.key(),
                c.port,
                if c.real { "allowed" } else { "denied" },
                c.why
            );
        }
    }

    fn render_underlay(&self, out: &mut String) {
        if self.underlay.is_empty() {
            return;
        }
        let ok = self.underlay.iter().filter(|u| u.agrees()).count();
        let _ = writeln!(
            out,
            "underlay (a ping captured on the sender's eth0 inside VXLAN): {ok}/{} packets' outer and inner headers equal the model's",
            self.underlay.len()
        );
        let show = |h: &Option<(podnet_core::forward::Encap, podnet_core::forward::FrameRepr)>| {
            h.map_or("nothing".to_string(), |(e, f)| {
                format!(
                    "[{} > {} ttl {} vni {}] [{} > {} ttl {}]",
                    e.outer.src, e.outer.dst, e.outer.ttl, e.vni, f.src, f.dst, f.ttl
                )
            })
        };
        for u in &self.underlay {
            let mark = if u.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "  {mark} {} -> {}: kernel {}, model {}",
                u.from,
                u.to,
                show(&u.kernel),
                show(&u.model)
            );
        }
    }

    /// ✓, NAT or ✗ per pair, ≠ where the model disagrees.
    fn render_matrix(&self) -> String {
        let w = self.endpoints.iter().map(String::len).max().unwrap_or(4) + 2;
        let mut out = format!("{:w$}", "from\\to");
        for e in &self.endpoints {
            let _ = write!(out, "{e:>w$}");
        }
        out.push('\n');
        for from in &self.endpoints {
            let _ = write!(out, "{from:w$}");
            for to in &self.endpoints {
                let mark = match self.pair(from, to) {
                    None => "-".to_string(),
                    Some(p) => {
                        let m = match p.real {
                            Class::Ok => "✓",
                            Class::Nat => "NAT",
                            Class::Fail => "✗",
                        };
                        if p.agrees() {
                            m.to_string()
                        } else {
                            format!("{m}≠")
                        }
                    }
                };
                let _ = write!(out, "{mark:>w$}");
            }
            out.push('\n');
        }
        out
    }

    fn render_requirements(&self, out: &mut String) {
        let fails = self.failures();
        let total = self
            .pairs
            .iter()
            .filter(|p| !(p.from.starts_with("node") && p.to.starts_with("node")))
            .count();
        let _ = writeln!(out, "\nCNI requirements (pod<->pod, node<->pod, round trip, source unchanged): {}/{} pairs ok", total - fails.len(), total);
        if self.policies > 0 {
            let _ = writeln!(
                out,
                "  ({} NetworkPolicies: what they deny is no failure here; below, only where the model and the kernel differ counts)",
                self.policies
            );
        }
        for (f, t) in &fails {
            let p = self.pair(f, t).expect("listed");
            let real = match (p.real, p.real_addrs) {
                (Class::Nat, (Some(a), Some(b))) => format!("source {a} arrived as {b} (NAT)"),
                _ => "no round trip".into(),
            };
            let why = p.model_why.as_deref().unwrap_or("the model delivers it");
            let _ = writeln!(out, "  ✗ {f} -> {t}: {real}; model: {why}");
        }
        for s in &self.skipped {
            let _ = writeln!(out, "  why: {s}");
        }
    }

    fn render_agreement(&self, out: &mut String) {
        let dis = self.disagreements();
        let _ = writeln!(
            out,
            "model vs kernel: {}/{} pairs agree",
            self.pairs.len() - dis.len(),
            self.pairs.len()
        );
        for p in dis {
            let _ = writeln!(
                out,
                "  ≠ {} -> {}: kernel {:?} {:?}, model {:?} {:?}",
                p.from, p.to, p.real, p.real_addrs, p.model, p.model_addrs
            );
        }
    }

    fn render_node_ports(&self, out: &mut String) {
        for np in &self.node_ports {
            let real = np.real_seen.map_or("no answer".to_string(), |s| {
                format!("answered, source seen {s}")
            });
            let model = np
                .model
                .iter()
                .map(|m| {
                    m.as_ref().map_or("dropped".to_string(), |(to, s)| {
                        format!("to {to}, source seen {s}")
                    })
                })
                .collect::<Vec<_>>()
                .join(" | ");
            let mark = if np.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "NodePort from client via {}: kernel {real}; model {model} {mark}",
                np.via
            );
        }
    }

    fn render_services(&self, out: &mut String) {
        if self.services.is_empty() {
            return;
        }
        let agree = self.services.iter().filter(|p| p.agrees()).count();
        let _ = writeln!(
            out,
            "Services and hostPorts (every node and pod to each, UDP): {agree}/{} answers as the model says",
            self.services.len()
        );
        let mut targets: Vec<(&str, std::net::SocketAddrV4)> = Vec::new();
        for p in &self.services {
            if !targets.iter().any(|t| t.0 == p.target) {
                targets.push((&p.target, p.addr));
            }
        }
        for (target, addr) in targets {
            let probes: Vec<&ServiceProbe> = self
                .services
                .iter()
                .filter(|p| p.target == target)
                .collect();
            let count = |f: &dyn Fn(&Answer) -> bool| probes.iter().filter(|p| f(&p.real)).count();
            let answered = count(&|a| matches!(a, Answer::By { .. }));
            let refused = count(&|a| *a == Answer::Refused);
            let picks = probes.first().map_or(0, |p| p.model.len());
            let mut by: Vec<std::net::Ipv4Addr> = probes
                .iter()
                .filter_map(|p| match p.real {
                    Answer::By { by, .. } => Some(by),
                    _ => None,
                })
                .collect();
            by.sort();
            by.dedup();
            let ok = probes.iter().all(|p| p.agrees());
            let _ = writeln!(
                out,
                "  {} {target} at {addr} ({picks} to choose from): {} senders, {answered} answered (by {} endpoint(s)), {refused} refused",
                if ok { "✓" } else { "≠" },
                probes.len(),
                by.len()
            );
            for p in probes.iter().filter(|p| !p.agrees()) {
                let model: Vec<String> = p
                    .model
                    .iter()
                    .map(|(a, why)| match why {
                        Some(w) => format!("{a:?} ({w})"),
                        None => format!("{a:?}"),
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "    ≠ from {}: kernel {:?}; model one of [{}]",
                    p.from,
                    p.real,
                    model.join(" | ")
                );
            }
        }
    }

    fn render_rules(&self, out: &mut String) {
        for r in &self.rules {
            if r.diffs.is_empty() {
                let _ = writeln!(
                    out,
                    "{}: kube-proxy's, the kubelet's and portmap's rules (iptables-save, nat and filter, {} lines) equal the model's line for line",
                    r.node, r.lines
                );
                continue;
            }
            let _ = writeln!(
                out,
                "{}: iptables-save differs from the model's rules in {} place(s):",
                r.node,
                r.diffs.len()
            );
            for d in &r.diffs {
                let _ = writeln!(out, "  ≠ {d}");
            }
        }
    }

    fn render_egress(&self, out: &mut String) {
        let seen =
            |s: Option<Ipv4Addr>| s.map_or("no answer".to_string(), |s| format!("source seen {s}"));
        for e in &self.egress {
            let mark = if e.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "egress from {} to client: kernel {}; model {} {mark}",
                e.from,
                seen(e.real_seen),
                seen(e.model_seen)
            );
        }
    }

    fn render_routes(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "route choice (ip route get): {}/{} lookups agree with the model",
            self.route_choices - self.route_choice_diffs.len(),
            self.route_choices
        );
        for d in &self.route_choice_diffs {
            let _ = writeln!(out, "  ≠ {d}");
        }
        if self.route_diffs.is_empty() {
            let _ = writeln!(
                out,
                "route tables: every node's kernel table equals its plan"
            );
        }
        for d in &self.route_diffs {
            let _ = writeln!(out, "  ≠ {d}");
        }
    }
}

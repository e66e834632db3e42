//! iptables rules as values: what kube-proxy writes, printed the way
//! `iptables-save` prints it back, and evaluated the way the kernel does.
//!
//! A [`Rule`] is a small `Repr`: the addresses and protocol iptables puts
//! first, the matches in the order they were given, and a target. Its
//! [`Display`](std::fmt::Display) is the `iptables-save` line, field for
//! field (iptables 1.8: `-s`, `-d`, `-p` first; comments always quoted when
//! they hold anything but `[A-Za-z0-9_-]`; marks as `--set-xmark`;
//! probabilities as the kernel stores them, printed with 11 decimals).
//! [`Chain::eval`] is the kernel's walk through a chain for one packet.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnetwork::Ipv4Network;

use crate::topology::Protocol;

/// kube-proxy's "masquerade me" mark (`--iptables-masquerade-bit` 14).
pub const MASQ_MARK: u32 = 0x4000;
/// kubelet's "drop me" mark (`--iptables-drop-bit` 15).
pub const DROP_MARK: u32 = 0x8000;
/// The portmap plugin's "masquerade me" mark (`markMasqBit` 13).
pub const HOSTPORT_MARK: u32 = 0x2000;

/// A probability as `xt_statistic` stores it: the chance times 2³¹, rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probability(pub u32);

impl Probability {
    /// One in `n`, as kube-proxy asks for it (`%0.10f` of 1/n, which the
    /// kernel rounds to a multiple of 2⁻³¹).
    pub fn one_in(n: usize) -> Probability {
        let asked = format!("{:.10}", 1.0 / n.max(1) as f64);
        let p: f64 = asked.parse().unwrap_or(1.0);
        Probability((p * 2_147_483_648.0).round() as u32)
    }

    /// The chance it stands for.
    pub fn value(self) -> f64 {
        f64::from(self.0) / 2_147_483_648.0
    }
}

impl fmt::Display for Probability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.11}", self.value())
    }
}

/// Which address `-m addrtype` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `--src-type`.
    Src,
    /// `--dst-type`.
    Dst,
}

/// What `-m recent` does with the source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recent {
    /// `--rcheck --seconds N --reap`: seen within N seconds.
    Check {
        /// Seconds.
        seconds: u32,
    },
    /// `--set`: remember it now.
    Set,
}

/// One `-m` match, in the order kube-proxy gives them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Match {
    /// `-m comment --comment TEXT`.
    Comment(String),
    /// `-m tcp`/`-m udp`, with `--dport` when given.
    Port {
        /// The protocol's module.
        protocol: Protocol,
        /// The destination port.
        dport: Option<u16>,
    },
    /// `-m addrtype [!] --src-type|--dst-type LOCAL`.
    Local {
        /// Which address.
        side: Side,
        /// `!`.
        not: bool,
    },
    /// `-m mark [!] --mark VALUE/MASK`.
    Mark {
        /// `!`.
        not: bool,
        /// The bits.
        value: u32,
    },
    /// `-m statistic --mode random --probability P`.
    Random(Probability),
    /// `-m multiport --dports P1,P2,…` (portmap's).
    Multiport(Vec<u16>),
    /// `-m conntrack [!] --ctstate STATES` (comma-separated, as given).
    CtState {
        /// `!`.
        not: bool,
        /// `NEW`, `INVALID`, `RELATED,ESTABLISHED`, …
        states: String,
    },
    /// `-m recent --name NAME …`.
    Recent {
        /// The list's name (the endpoint chain's).
        name: String,
        /// Check or set.
        action: Recent,
    },
}

/// Where a rule sends a matching packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `-j CHAIN`.
    Jump(String),
    /// `-j RETURN`.
    Return,
    /// `-j DNAT --to-destination IP:PORT`.
    Dnat(SocketAddrV4),
    /// `-j MARK --or-mark BITS` (saved as `--set-xmark BITS/BITS`).
    OrMark(u32),
    /// `-j MARK --xor-mark BITS` (saved as `--set-xmark BITS/0x0`).
    XorMark(u32),
    /// `-j MASQUERADE --random-fully` (kube-proxy's).
    Masquerade,
    /// `-j MASQUERADE` (portmap's: source ports kept where they are free).
    PlainMasquerade,
    /// `-j REJECT --reject-with icmp-port-unreachable`.
    Reject,
    /// `-j DROP`.
    Drop,
    /// `-j ACCEPT`.
    Accept,
}

/// One rule of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// `[!] -s NET`.
    pub src: Option<(bool, Ipv4Network)>,
    /// `-d NET`.
    pub dst: Option<Ipv4Network>,
    /// `-p PROTO`.
    pub protocol: Option<Protocol>,
    /// The `-m` matches, in order.
    pub matches: Vec<Match>,
    /// `-j …`.
    pub target: Target,
}

impl Rule {
    /// A rule with only a target.
    pub fn to(target: Target) -> Rule {
        Rule {
            src: None,
            dst: None,
            protocol: None,
            matches: Vec::new(),
            target,
        }
    }

    /// Its `-m comment`, if it has one.
    pub fn comment(&self) -> Option<&str> {
        self.matches.iter().find_map(|m| match m {
            Match::Comment(c) => Some(c.as_str()),
            _ => None,
        })
    }
}

/// A chain and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name.
    pub name: String,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// One table's chains, as iptables-save prints them: built-in chains first
/// in hook order, then user chains sorted by name.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The table (`nat`, `filter`).
    pub name: String,
    /// Its chains, in the order kube-proxy creates them.
    chains: Vec<Chain>,
    /// Where each chain is in `chains`: a node with thousands of Services
    /// has tens of thousands of chains, and every rule appended looks one up.
    index: HashMap<String, usize>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.name == other.name && self.chains == other.chains
    }
}

impl Eq for Table {}

/// The chains the kernel has from the start, in hook order.
pub const BUILT_IN: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

impl Table {
    /// An empty table.
    pub fn new(name: &str) -> Table {
        Table {
            name: name.into(),
            ..Table::default()
        }
    }

    /// Its chains, in the order they were created.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The chain of that name, created empty if missing.
    pub fn chain_mut(&mut self, name: &str) -> &mut Chain {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.chains.push(Chain {
                    name: name.into(),
                    rules: Vec::new(),
                });
                self.index.insert(name.to_string(), self.chains.len() - 1);
                self.chains.len() - 1
            }
        };
        &mut self.chains[i]
    }

    /// The chain of that name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.index.get(name).map(|&i| &self.chains[i])
    }

    /// Appends a rule to a chain (`-A CHAIN …`).
    pub fn append(&mut self, chain: &str, rule: Rule) {
        self.chain_mut(chain).rules.push(rule);
    }

    /// The chains in iptables-save's order.
    pub fn saved_order(&self) -> Vec<&Chain> {
        let mut v: Vec<&Chain> = self.chains.iter().collect();
        v.sort_by(|a, b| {
            let rank = |c: &Chain| BUILT_IN.iter().position(|&b| b == c.name);
            match (rank(a), rank(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.name.cmp(&b.name),
            }
        });
        v
    }

    /// The `-A` lines of every chain, in iptables-save's order.
    pub fn rule_lines(&self) -> Vec<String> {
        self.saved_order()
            .into_iter()
            .flat_map(|c| c.rules.iter().map(move |r| format!("-A {} {r}", c.name)))
            .collect()
    }

    /// The table as `iptables-save -t NAME` prints it (without the
    /// timestamp comments; built-in chains with `ACCEPT [0:0]`).
    pub fn save(&self) -> String {
        let mut out = format!("*{}\n", self.name);
        for c in self.saved_order() {
            let policy = if BUILT_IN.contains(&c.name.as_str()) {
                "ACCEPT"
            } else {
                "-"
            };
            out.push_str(&format!(":{} {policy} [0:0]\n", c.name));
        }
        for line in self.rule_lines() {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// A comment as `xtables_save_string` prints it: bare when it is only
/// `[A-Za-z0-9_-]`, else quoted with `"`, `\` and `'` escaped.
fn quoted(s: &str) -> String {
    let bare = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Rule {
    /// The rule's words as `iptables` takes them (argv), each marked when
    /// it is a string iptables-save quotes (a comment).
    fn words(&self) -> Vec<(String, bool)> {
        let mut w: Vec<(String, bool)> = Vec::new();
        let push = |w: &mut Vec<(String, bool)>, s: &str| {
            w.extend(s.split(' ').map(|x| (x.to_string(), false)))
        };
        if let Some((not, net)) = self.src {
            if not {
                push(&mut w, "!");
            }
            push(&mut w, &format!("-s {net}"));
        }
        if let Some(net) = self.dst {
            push(&mut w, &format!("-d {net}"));
        }
        if let Some(p) = self.protocol {
            push(&mut w, &format!("-p {}", p.name()));
        }
        for m in &self.matches {
            match m {
                Match::Comment(c) => {
                    push(&mut w, "-m comment --comment");
                    w.push((c.clone(), true));
                }
                Match::Port { protocol, dport } => match dport {
                    Some(d) => push(&mut w, &format!("-m {} --dport {d}", protocol.name())),
                    None => push(&mut w, &format!("-m {}", protocol.name())),
                },
                Match::Local { side, not } => push(&mut w, &format!(
                    "-m addrtype {}--{}-type LOCAL",
                    if *not { "! " } else { "" },
                    match side {
                        Side::Src => "src",
                        Side::Dst => "dst",
                    }
                )),
                Match::Mark { not, value } => push(&mut w, &format!(
                    "-m mark {}--mark {value:#x}/{value:#x}",
                    if *not { "! " } else { "" }
                )),
                Match::Random(p) => push(&mut w, &format!("-m statistic --mode random --probability {p}")),
                Match::Multiport(ports) => {
                    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                    push(&mut w, &format!("-m multiport --dports {}", list.join(",")))
                }
                Match::CtState { not, states } => push(&mut w, &format!(
                    "-m conntrack {}--ctstate {states}",
                    if *not { "! " } else { "" }
                )),
                Match::Recent { name, action } => match action {
                    Recent::Check { seconds } => push(&mut w, &format!(
                        "-m recent --rcheck --seconds {seconds} --reap --name {name} --mask 255.255.255.255 --rsource"
                    )),
                    Recent::Set => push(&mut w, &format!(
                        "-m recent --set --name {name} --mask 255.255.255.255 --rsource"
                    )),
                },
            }
        }
        push(
            &mut w,
            &match &self.target {
                Target::Jump(c) => format!("-j {c}"),
                Target::Return => "-j RETURN".into(),
                Target::Dnat(to) => format!("-j DNAT --to-destination {to}"),
                Target::OrMark(v) => format!("-j MARK --set-xmark {v:#x}/{v:#x}"),
                Target::XorMark(v) => format!("-j MARK --set-xmark {v:#x}/0x0"),
                Target::Masquerade => "-j MASQUERADE --random-fully".into(),
                Target::PlainMasquerade => "-j MASQUERADE".into(),
                Target::Reject => "-j REJECT --reject-with icmp-port-unreachable".into(),
                Target::Drop => "-j DROP".into(),
                Target::Accept => "-j ACCEPT".into(),
            },
        );
        w
    }

    /// The rule as arguments to `iptables -A CHAIN …` (no quoting).
    pub fn args(&self) -> Vec<String> {
        self.words().into_iter().map(|(w, _)| w).collect()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .words()
            .into_iter()
            .map(|(w, string)| if string { quoted(&w) } else { w })
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// What a packet looks like to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TCP or UDP (`None`: ICMP and the rest).
    pub protocol: Option<Protocol>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Whether the source is one of this node's addresses.
    pub src_local: bool,
    /// Whether the destination is one of this node's addresses.
    pub dst_local: bool,
}

/// How a packet came out of a chain walk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// The rules it matched that did something, in order: `(chain, rule)`.
    pub matched: Vec<(String, Rule)>,
    /// The mark bits set on the way.
    pub mark: u32,
    /// Where a DNAT sent it.
    pub dnat: Option<SocketAddrV4>,
    /// Whether a masquerade applies.
    pub masquerade: bool,
    /// Rejected or dropped (with the rule that did it).
    pub refused: Option<Target>,
}

/// Decides the `-m statistic` rules of a walk. A balancing chain has
/// `of - 1` random rules and a last one without: the draw says which of
/// the `of` choices the dice land on.
pub trait Draw {
    /// The choice (from 0, below `of`) in chain `chain`.
    fn choose(&mut self, chain: &str, of: usize) -> usize;
}

/// Every balancing chain takes its `k`-th endpoint (the last when there
/// are fewer): how a trace follows the endpoint its caller chose.
#[derive(Debug, Clone, Copy)]
pub struct Pick(pub usize);

impl Draw for Pick {
    fn choose(&mut self, _chain: &str, of: usize) -> usize {
        self.0.min(of.saturating_sub(1))
    }
}

impl Table {
    /// Walks `packet` through `chain` as the kernel does: rule by rule; a
    /// jump enters the chain and comes back at RETURN or its end; DNAT and
    /// the terminal targets end the walk; MARK goes on.
    pub fn eval(&self, chain: &str, packet: &Packet, draw: &mut dyn Draw) -> Verdict {
        let mut v = Verdict::default();
        self.walk(chain, packet, draw, &mut v, 0);
        v
    }

    /// `true` when the walk ended with a decision (DNAT, REJECT, DROP).
    fn walk(
        &self,
        chain: &str,
        p: &Packet,
        draw: &mut dyn Draw,
        v: &mut Verdict,
        depth: usize,
    ) -> bool {
        let Some(c) = self.chain(chain) else {
            return false;
        };
        if depth > 16 {
            return false;
        }
        let randoms = c
            .rules
            .iter()
            .filter(|r| r.matches.iter().any(|m| matches!(m, Match::Random(_))))
            .count();
        let mut chosen = None;
        let mut nth_random = 0;
        for r in &c.rules {
            let is_random = r.matches.iter().any(|m| matches!(m, Match::Random(_)));
            let here = nth_random;
            nth_random += usize::from(is_random);
            let hit = r.matches_packet(p, v.mark, |_| {
                here == *chosen.get_or_insert_with(|| draw.choose(chain, randoms + 1))
            });
            if !hit {
                continue;
            }
            match &r.target {
                Target::Jump(next) => {
                    v.matched.push((chain.to_string(), r.clone()));
                    if self.walk(next, p, draw, v, depth + 1) {
                        return true;
                    }
                }
                Target::Return => return false,
                Target::OrMark(bits) => {
                    v.mark |= bits;
                    v.matched.push((chain.to_string(), r.clone()));
                }
                Target::XorMark(bits) => v.mark ^= bits,
                Target::Dnat(to) => {
                    v.matched.push((chain.to_string(), r.clone()));
                    v.dnat = Some(*to);
                    return true;
                }
                Target::Masquerade | Target::PlainMasquerade => {
                    v.masquerade = true;
                    return true;
                }
                Target::Accept => return true,
                t @ (Target::Reject | Target::Drop) => {
                    v.matched.push((chain.to_string(), r.clone()));
                    v.refused = Some(t.clone());
                    return true;
                }
            }
        }
        false
    }
}

impl Rule {
    /// Whether the rule's addresses, protocol and matches all hold for the
    /// packet; `random` draws the `-m statistic` matches.
    fn matches_packet(&self, p: &Packet, mark: u32, mut random: impl FnMut(()) -> bool) -> bool {
        if let Some((not, net)) = self.src {
            if net.contains(p.src) == not {
                return false;
            }
        }
        if self.dst.is_some_and(|net| !net.contains(p.dst)) {
            return false;
        }
        if self.protocol.is_some_and(|want| p.protocol != Some(want)) {
            return false;
        }
        for m in &self.matches {
            let ok = match m {
                Match::Comment(_) => true,
                Match::Port { protocol, dport } => {
                    p.protocol == Some(*protocol) && dport.is_none_or(|d| p.dport == Some(d))
                }
                Match::Local { side, not } => {
                    let local = match side {
                        Side::Src => p.src_local,
                        Side::Dst => p.dst_local,
                    };
                    local != *not
                }
                Match::Mark { not, value } => (mark & value == *value) != *not,
                // No client has been seen before: the model's connections
                // are new, so an affinity check finds nothing and `--set`
                // always matches.
                Match::Recent { action, .. } => *action == Recent::Set,
                Match::Random(_) => random(()),
                Match::Multiport(ports) => p.dport.is_some_and(|d| ports.contains(&d)),
                // The rules are asked for a connection's first packet only
                // (later ones are conntrack's): its state is NEW.
                Match::CtState { not, states } => states.split(',').any(|s| s == "NEW") != *not,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

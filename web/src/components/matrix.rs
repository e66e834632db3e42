//! The CNI requirement matrix: who reaches whom, and with which source address.

use std::rc::Rc;

use podnet_core::forward::{describe, Cell, Matrix, Network, Tally, Trace, Verdict};
use podnet_core::topology::{Cluster, Endpoint};
use yew::prelude::*;

use super::focus::focus;

/// Props.
#[derive(Properties, PartialEq)]
pub struct MatrixProps {
    /// The computed matrix.
    pub matrix: Rc<Matrix>,
    /// Names come from here.
    pub cluster: Rc<Cluster>,
    /// Where a picked cell's pair goes, to be played (the sandbox's player).
    #[prop_or_default]
    pub on_pick: Option<Callback<(Endpoint, Endpoint)>>,
    /// The pair shown until the learner picks another (a link's `cell=`).
    #[prop_or_default]
    pub pick: Option<(Endpoint, Endpoint)>,
}

/// A cell of the table: a pair by position, or the NodePort row's k-th.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Pair(usize, usize),
    NodePort(usize),
    Service(usize),
}

/// One packet of a cell, hop by hop; the last hop says how it ended.
fn hops(id: &'static str, title: &str, c: &Cluster, t: &Trace) -> Html {
    let end = match t.verdict {
        Verdict::Delivered { to } => format!("delivered to {}", c.name_of(to)),
        Verdict::Dropped { at, reason } => format!("dropped at {}: {reason}", at.label(c)),
    };
    let ok = matches!(t.verdict, Verdict::Delivered { .. });
    html! {
        <div class="cell-packet" id={id}>
            <h3 class="cell-packet-title">{ format!("{title}: {end}") }</h3>
            <ol class="cell-hops">
                { for t.hops.iter().enumerate().map(|(i, h)| {
                    let last = i + 1 == t.hops.len();
                    html! {
                        <li class={classes!((last && !ok).then_some("bad"))}>
                            <b>{ h.place.label(c) }</b>{ " " }{ describe(&h.step, c) }
                            <code>{ format!(" [{} > {}]", h.frame.src, h.frame.dst) }</code>
                        </li>
                    }
                }) }
            </ol>
        </div>
    }
}

fn check(label: &str, t: Tally) -> Html {
    let ok = t.all_ok();
    let denied = match t.denied {
        0 => String::new(),
        n => format!(", {n} denied by NetworkPolicy as asked"),
    };
    html! {
        <li class={classes!("req", if ok { "ok" } else { "bad" })}>
            { if ok { "✓ " } else { "✗ " } }{ label }{ format!(" — {}/{} pairs{denied}", t.ok, t.total) }
        </li>
    }
}

fn cell_of(m: &Matrix, k: Pick) -> Option<&Cell> {
    match k {
        Pick::Pair(i, j) => m.get(i, j),
        Pick::NodePort(k) => m.node_ports.get(k).map(|x| &x.cell),
        Pick::Service(k) => m
            .services
            .get(k)
            .and_then(|x| x.picks.iter().find(|c| !c.is_ok()).or(x.picks.first())),
    }
}

/// A Service cell's sender and the Service's endpoint it stands for: the
/// sender, and (as the column) the sender again; the packet goes to the ClusterIP.
fn service_label(c: &Cluster, m: &Matrix, k: usize) -> Option<String> {
    let x = m.services.get(k)?;
    let s = c.service(x.service)?;
    Some(format!(
        "{} → {} ({}:{})",
        c.short_name_of(x.from),
        s.name,
        s.cluster_ip,
        x.port
    ))
}

fn pair_of(m: &Matrix, k: Pick) -> Option<(Endpoint, Endpoint)> {
    match k {
        Pick::Pair(i, j) => Some((*m.endpoints.get(i)?, *m.endpoints.get(j)?)),
        Pick::NodePort(k) => m
            .node_ports
            .get(k)
            .map(|x| (Endpoint::Client(x.client), Endpoint::Node(x.node))),
        Pick::Service(k) => m.services.get(k).map(|x| (x.from, x.from)),
    }
}

/// The Service cells grouped by Service port, in order: a row's label
/// (`web:80`) and its cells' places in [`Matrix::services`].
fn service_rows(m: &Matrix, c: &Cluster) -> Vec<(String, Vec<usize>)> {
    let mut rows: Vec<((podnet_core::topology::ServiceId, u16), Vec<usize>)> = Vec::new();
    for (k, x) in m.services.iter().enumerate() {
        match rows.iter_mut().find(|(key, _)| *key == (x.service, x.port)) {
            Some((_, v)) => v.push(k),
            None => rows.push(((x.service, x.port), vec![k])),
        }
    }
    rows.into_iter()
        .map(|((id, port), v)| {
            let name = c.service(id).map_or("?", |s| s.name.as_str());
            (format!("{name}:{port}"), v)
        })
        .collect()
}

/// The matrix table and the three requirements (more with Services).
#[function_component(MatrixView)]
pub fn matrix_view(p: &MatrixProps) -> Html {
    let (m, c) = (&p.matrix, &p.cluster);
    let r = m.requirements();
    let n = m.endpoints.len();
    // The cell whose reason is shown: the first failing one (else the
    // first a policy denies) until the learner picks another (by click,
    // or Enter/Space on its button).
    let picked = use_state(|| None::<Pick>);
    let all = || {
        (0..n * n)
            .map(|k| Pick::Pair(k / n, k % n))
            .chain((0..m.node_ports.len()).map(Pick::NodePort))
            .chain((0..m.services.len()).map(Pick::Service))
    };
    let first_bad =
        all().find(|&k| cell_of(m, k).is_some_and(|c| !c.is_ok() && !c.is_policy_denied()));
    let first_denied = all().find(|&k| cell_of(m, k).is_some_and(Cell::is_policy_denied));
    let given = p.pick.and_then(|(from, to)| {
        let i = m.endpoints.iter().position(|&e| e == from)?;
        let j = m.endpoints.iter().position(|&e| e == to)?;
        Some(Pick::Pair(i, j))
    });
    let shown = (*picked)
        .or(given)
        .filter(|&k| cell_of(m, k).is_some())
        .or(first_bad)
        .or(first_denied);
    // The picked cell's packets, as the model sent them: compiled again
    // only when the cluster or the pick changes, not on every render.
    let packets = use_memo((m.clone(), c.clone(), shown), |(m, c, shown)| {
        let k = (*shown)?;
        let net = Network::new(c).ok()?;
        match k {
            Pick::Pair(i, j) => Matrix::pair_traces(&net, m.endpoints[i], m.endpoints[j]).ok(),
            Pick::NodePort(k) => Matrix::node_port_traces(&net, m.node_ports.get(k)?).ok(),
            Pick::Service(k) => Matrix::service_traces(&net, m.services.get(k)?).ok(),
        }
    });
    // A cell in words, with its pair: "node2 → pod-b: …".
    let say = |k: Pick| {
        if let Pick::Service(k) = k {
            let why = m.services.get(k)?.explain(c);
            return Some(format!("{}: {why}", service_label(c, m, k)?));
        }
        let (from, to) = pair_of(m, k)?;
        let why = match k {
            Pick::NodePort(k) => m.node_ports.get(k)?.explain(c),
            _ => cell_of(m, k)?.explain(c),
        };
        Some(format!(
            "{} → {}: {why}",
            c.short_name_of(from),
            c.short_name_of(to)
        ))
    };
    let reason = shown.and_then(say);
    let button = |k: Pick, from: Endpoint, to: Option<Endpoint>, cell: Cell| {
        // A policy's drop is what the owner asked for: not a failure.
        let (class, mark) = match cell {
            c if c.is_ok() => ("ok", "✓"),
            c if c.is_policy_denied() => ("denied", "⊘"),
            _ => ("bad", "✗"),
        };
        let label = say(k).unwrap_or_default();
        let pick = {
            let (picked, on_pick) = (picked.clone(), p.on_pick.clone());
            Callback::from(move |_: MouseEvent| {
                picked.set(Some(k));
                if let (Some(cb), Some(to)) = (&on_pick, to) {
                    cb.emit((from, to));
                }
            })
        };
        let id = match k {
            Pick::Pair(i, j) => format!("{i}-{j}"),
            Pick::NodePort(k) => format!("np-{k}"),
            Pick::Service(k) => format!("svc-{k}"),
        };
        html! {
            <td class={classes!("cell", class, (shown == Some(k)).then_some("picked"))}>
                <button type="button" class="cell-btn" aria-label={label.clone()} title={label} onclick={pick}
                    data-cell={id}>{ mark }</button>
            </td>
        }
    };
    let node_col = |e: &Endpoint| match (e, m.node_ports.first()) {
        (Endpoint::Node(id), Some(first)) => m
            .node_ports
            .iter()
            .position(|x| x.node == *id && x.service == first.service),
        _ => None,
    };
    html! {
        <div class="matrix">
            <ul class="requirements">
                { check("every pod reaches every pod without NAT", r.pod_to_pod) }
                { check("every node reaches every pod without NAT", r.node_to_pod) }
                { check("every pod reaches every node without NAT", r.pod_to_node) }
                { if r.node_port.total > 0 {
                    check("from outside, every NodePort answers from where it was asked", r.node_port)
                } else { html! {} } }
                { if r.service.total > 0 {
                    check("every node and pod reaches every Service port, whichever endpoint kube-proxy picks", r.service)
                } else { html! {} } }
            </ul>
            // A keyboard crosses a big matrix in one step: every cell is a
            // button, a 64-node sandbox's are thousands of tab stops.
            <a class="skip" href="#cell-reason" onclick={Callback::from(|e: MouseEvent| {
                e.prevent_default();
                focus("cell-reason");
            })}>{ "Skip the matrix" }</a>
            <table class="reach">
                <thead><tr><th>{ "from \\ to" }</th>{ for m.endpoints.iter().map(|&e| html!{ <th>{ c.short_name_of(e) }</th> }) }</tr></thead>
                <tbody>
                { for m.endpoints.iter().enumerate().map(|(i, &from)| html! {
                    <tr>
                        <th>{ c.short_name_of(from) }</th>
                        { for (0..n).map(|j| button(Pick::Pair(i, j), from, Some(m.endpoints[j]), m.get(i, j).copied().unwrap_or(Cell::Ok))) }
                    </tr>
                }) }
                { match m.node_ports.first() {
                    Some(first) => html! {
                        <tr class="node-port-row">
                            <th>{ format!("{} → :{}", c.short_name_of(Endpoint::Client(first.client)),
                                c.service(first.service).and_then(|s| s.node_port()).map_or(0, |(_, np)| np)) }</th>
                            { for m.endpoints.iter().map(|e| match node_col(e) {
                                Some(k) => button(Pick::NodePort(k), Endpoint::Client(first.client), Some(*e), m.node_ports[k].cell),
                                None => html! { <td class="cell none"></td> },
                            }) }
                        </tr>
                    },
                    None => html! {},
                } }
                // A row per Service port: each sender (its column) asks the
                // ClusterIP, once for every endpoint the dice could pick.
                { for service_rows(m, c).into_iter().map(|(label, cells)| html! {
                    <tr class="service-row">
                        <th>{ format!("→ {label}") }</th>
                        { for m.endpoints.iter().map(|e| match cells.iter().find(|&&k| m.services[k].from == *e) {
                            Some(&k) => button(Pick::Service(k), *e, None, m.services[k].cell()),
                            None => html! { <td class="cell none"></td> },
                        }) }
                    </tr>
                }) }
                </tbody>
            </table>
            // Coloured by the cell it speaks of: a green cell picked among
            // red ones reads green.
            <p id="cell-reason" tabindex="-1" class={classes!("cell-reason", match shown.and_then(|k| cell_of(m, k)) {
                Some(c) if c.is_ok() => "ok",
                Some(c) if c.is_policy_denied() => "denied",
                Some(_) => "bad",
                None => "ok",
            })} aria-live="polite">
                { reason.unwrap_or_else(|| "Every pair arrives with the sender's own address.".into()) }
            </p>
            { match &*packets {
                Some((request, reply)) => html! {
                    <div class="cell-packets">
                        { hops("cell-request", if matches!(shown, Some(Pick::NodePort(_) | Pick::Service(_))) { "The request" } else { "The ping" }, c, request) }
                        { match reply { Some(r) => hops("cell-reply", "The reply", c, r), None => html! {} } }
                    </div>
                },
                None => html! {},
            } }
        </div>
    }
}

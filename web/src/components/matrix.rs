//! The CNI requirement matrix: who reaches whom, and with which source address.

use std::rc::Rc;

use podnet_core::forward::{describe, Cell, Matrix, Network, Tally, Trace, Verdict};
use podnet_core::topology::{Cluster, Endpoint};
use yew::prelude::*;

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
            <h4>{ format!("{title}: {end}") }</h4>
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
    html! {
        <li class={classes!("req", if ok { "ok" } else { "bad" })}>
            { if ok { "✓ " } else { "✗ " } }{ label }{ format!(" — {}/{} pairs", t.ok, t.total) }
        </li>
    }
}

fn cell_of(m: &Matrix, k: Pick) -> Option<&Cell> {
    match k {
        Pick::Pair(i, j) => m.get(i, j),
        Pick::NodePort(k) => m.node_ports.get(k).map(|x| &x.cell),
    }
}

fn pair_of(m: &Matrix, k: Pick) -> Option<(Endpoint, Endpoint)> {
    match k {
        Pick::Pair(i, j) => Some((*m.endpoints.get(i)?, *m.endpoints.get(j)?)),
        Pick::NodePort(k) => m
            .node_ports
            .get(k)
            .map(|x| (Endpoint::Client(x.client), Endpoint::Node(x.node))),
    }
}

/// The matrix table and the three requirements (four with a NodePort).
#[function_component(MatrixView)]
pub fn matrix_view(p: &MatrixProps) -> Html {
    let (m, c) = (&p.matrix, &p.cluster);
    let r = m.requirements();
    let n = m.endpoints.len();
    // The cell whose reason is shown: the first failing one until the
    // learner picks another (by click, or Enter/Space on its button).
    let picked = use_state(|| None::<Pick>);
    let first_bad = (0..n * n)
        .map(|k| Pick::Pair(k / n, k % n))
        .chain((0..m.node_ports.len()).map(Pick::NodePort))
        .find(|&k| cell_of(m, k).is_some_and(|c| !c.is_ok()));
    let given = p.pick.and_then(|(from, to)| {
        let i = m.endpoints.iter().position(|&e| e == from)?;
        let j = m.endpoints.iter().position(|&e| e == to)?;
        Some(Pick::Pair(i, j))
    });
    let shown = (*picked)
        .or(given)
        .filter(|&k| cell_of(m, k).is_some())
        .or(first_bad);
    // The picked cell's packets, as the model sent them: compiled again
    // only when the cluster or the pick changes, not on every render.
    let packets = use_memo((m.clone(), c.clone(), shown), |(m, c, shown)| {
        let k = (*shown)?;
        let net = Network::new(c).ok()?;
        match k {
            Pick::Pair(i, j) => Matrix::pair_traces(&net, m.endpoints[i], m.endpoints[j]).ok(),
            Pick::NodePort(k) => Matrix::node_port_traces(&net, m.node_ports.get(k)?).ok(),
        }
    });
    // A cell in words, with its pair: "node2 → pod-b: …".
    let say = |k: Pick| {
        let (from, to) = pair_of(m, k)?;
        let why = match k {
            Pick::Pair(..) => cell_of(m, k)?.explain(c),
            Pick::NodePort(k) => m.node_ports.get(k)?.explain(c),
        };
        Some(format!(
            "{} → {}: {why}",
            c.short_name_of(from),
            c.short_name_of(to)
        ))
    };
    let reason = shown.and_then(say);
    let button = |k: Pick, from: Endpoint, to: Endpoint, cell: Cell| {
        let class = if cell.is_ok() { "ok" } else { "bad" };
        let label = say(k).unwrap_or_default();
        let pick = {
            let (picked, on_pick) = (picked.clone(), p.on_pick.clone());
            Callback::from(move |_: MouseEvent| {
                picked.set(Some(k));
                if let Some(cb) = &on_pick {
                    cb.emit((from, to));
                }
            })
        };
        let id = match k {
            Pick::Pair(i, j) => format!("{i}-{j}"),
            Pick::NodePort(k) => format!("np-{k}"),
        };
        html! {
            <td class={classes!("cell", class, (shown == Some(k)).then_some("picked"))}>
                <button type="button" class="cell-btn" aria-label={label.clone()} title={label} onclick={pick}
                    data-cell={id}>{ if cell.is_ok() { "✓" } else { "✗" } }</button>
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
            </ul>
            <table class="reach">
                <thead><tr><th>{ "from \\ to" }</th>{ for m.endpoints.iter().map(|&e| html!{ <th>{ c.short_name_of(e) }</th> }) }</tr></thead>
                <tbody>
                { for m.endpoints.iter().enumerate().map(|(i, &from)| html! {
                    <tr>
                        <th>{ c.short_name_of(from) }</th>
                        { for (0..n).map(|j| button(Pick::Pair(i, j), from, m.endpoints[j], m.get(i, j).copied().unwrap_or(Cell::Ok))) }
                    </tr>
                }) }
                { match m.node_ports.first() {
                    Some(first) => html! {
                        <tr class="node-port-row">
                            <th>{ format!("{} → :{}", c.short_name_of(Endpoint::Client(first.client)),
                                c.service(first.service).and_then(|s| s.node_port()).map_or(0, |(_, np)| np)) }</th>
                            { for m.endpoints.iter().map(|e| match node_col(e) {
                                Some(k) => button(Pick::NodePort(k), Endpoint::Client(first.client), *e, m.node_ports[k].cell),
                                None => html! { <td class="cell none"></td> },
                            }) }
                        </tr>
                    },
                    None => html! {},
                } }
                </tbody>
            </table>
            <p id="cell-reason" class={classes!("cell-reason", if first_bad.is_some() { "bad" } else { "ok" })} aria-live="polite">
                { reason.unwrap_or_else(|| "Every pair arrives with the sender's own address.".into()) }
            </p>
            { match &*packets {
                Some((request, reply)) => html! {
                    <div class="cell-packets">
                        { hops("cell-request", if matches!(shown, Some(Pick::NodePort(_))) { "The request" } else { "The ping" }, c, request) }
                        { match reply { Some(r) => hops("cell-reply", "The reply", c, r), None => html! {} } }
                    </div>
                },
                None => html! {},
            } }
        </div>
    }
}

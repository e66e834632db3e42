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
}

fn short(c: &Cluster, e: Endpoint) -> String {
    c.name_of(e).trim_start_matches("default/").to_string()
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

/// The matrix table and the three requirements.
#[function_component(MatrixView)]
pub fn matrix_view(p: &MatrixProps) -> Html {
    let (m, c) = (&p.matrix, &p.cluster);
    let r = m.requirements();
    let n = m.endpoints.len();
    // The cell whose reason is shown: the first failing one until the
    // learner picks another (by click, or Enter/Space on its button).
    let picked = use_state(|| None::<(usize, usize)>);
    let first_bad = (0..n * n)
        .map(|k| (k / n, k % n))
        .find(|&(i, j)| m.get(i, j).is_some_and(|c| !c.is_ok()));
    let shown = (*picked).filter(|&(i, j)| i < n && j < n).or(first_bad);
    // The picked cell's packets, as the model sent them.
    let packets = shown.and_then(|(i, j)| {
        let net = Network::new(c).ok()?;
        Matrix::pair_traces(&net, m.endpoints[i], m.endpoints[j]).ok()
    });
    let reason = shown.and_then(|(i, j)| {
        let cell = m.get(i, j)?;
        Some(format!(
            "{} → {}: {}",
            short(c, m.endpoints[i]),
            short(c, m.endpoints[j]),
            cell.explain(c)
        ))
    });
    html! {
        <div class="matrix">
            <ul class="requirements">
                { check("every pod reaches every pod without NAT", r.pod_to_pod) }
                { check("every node reaches every pod without NAT", r.node_to_pod) }
                { check("every pod reaches every node without NAT", r.pod_to_node) }
            </ul>
            <table class="reach">
                <thead><tr><th>{ "from \\ to" }</th>{ for m.endpoints.iter().map(|&e| html!{ <th>{ short(c, e) }</th> }) }</tr></thead>
                <tbody>
                { for m.endpoints.iter().enumerate().map(|(i, &from)| html! {
                    <tr>
                        <th>{ short(c, from) }</th>
                        { for (0..n).map(|j| {
                            let cell = m.get(i, j).copied().unwrap_or(Cell::Ok);
                            let class = if cell.is_ok() { "ok" } else { "bad" };
                            let label = format!("{} → {}: {}", short(c, from), short(c, m.endpoints[j]), cell.explain(c));
                            let pick = {
                                let picked = picked.clone();
                                Callback::from(move |_: MouseEvent| picked.set(Some((i, j))))
                            };
                            let current = shown == Some((i, j));
                            html! {
                                <td class={classes!("cell", class, current.then_some("picked"))}>
                                    <button type="button" class="cell-btn" aria-label={label.clone()} title={label} onclick={pick}
                                        data-cell={format!("{i}-{j}")}>{ if cell.is_ok() { "✓" } else { "✗" } }</button>
                                </td>
                            }
                        }) }
                    </tr>
                }) }
                </tbody>
            </table>
            <p id="cell-reason" class={classes!("cell-reason", if first_bad.is_some() { "bad" } else { "ok" })} aria-live="polite">
                { reason.unwrap_or_else(|| "Every pair arrives with the sender's own address.".into()) }
            </p>
            { match &packets {
                Some((request, reply)) => html! {
                    <div class="cell-packets">
                        { hops("cell-request", "The ping", c, request) }
                        { match reply { Some(r) => hops("cell-reply", "The reply", c, r), None => html! {} } }
                    </div>
                },
                None => html! {},
            } }
        </div>
    }
}

//! Predict, then see: before the packet plays, the learner says where it
//! ends, which source the receiver sees and whether NAT happens; core's
//! [`Trace::grade`] marks each part and the hop where it first went wrong.

use std::net::Ipv4Addr;
use std::rc::Rc;

use podnet_core::forward::{Grade, Prediction, Trace};
use podnet_core::topology::{Cluster, Endpoint};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

/// Props.
#[derive(Properties, PartialEq)]
pub struct PredictProps {
    /// The packet the model computed (kept from the learner until graded).
    pub trace: Rc<Trace>,
    /// Names and addresses.
    pub cluster: Rc<Cluster>,
    /// The grade, once the learner checked.
    pub grade: Option<Grade>,
    /// Where a new grade goes.
    pub on_grade: Callback<Grade>,
    /// Who graded it, when not the model (the Live scene: the real lab).
    #[prop_or_default]
    pub graded_by: Option<AttrValue>,
}

fn value(r: &NodeRef) -> String {
    r.cast::<HtmlSelectElement>()
        .map(|s| s.value())
        .unwrap_or_default()
}

/// The addresses a receiver could see: the sender's, and every node's on
/// the LAN and on its bridge (where masquerade would put them).
fn sources(c: &Cluster, t: &Trace) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = t.sent.map(|f| f.src).into_iter().collect();
    for n in c.nodes() {
        v.extend([n.underlay_ip, n.ipam.gateway()]);
    }
    let mut seen = std::collections::HashSet::new();
    v.retain(|a| seen.insert(*a));
    v
}

/// The form and, once checked, the grade.
#[function_component(Predict)]
pub fn predict(p: &PredictProps) -> Html {
    let (ends, source, nat) = (use_node_ref(), use_node_ref(), use_node_ref());
    // What Check found missing, said until the next Check.
    let missing = use_state(|| None::<String>);
    let c = &p.cluster;
    let names: Vec<(String, Endpoint)> = c
        .endpoints()
        .into_iter()
        .map(|e| (c.name_of(e), e))
        .collect();
    let check = {
        let (ends, source, nat) = (ends.clone(), source.clone(), nat.clone());
        let (t, c, on) = (p.trace.clone(), p.cluster.clone(), p.on_grade.clone());
        let missing = missing.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let who = value(&ends);
            let no_source = value(&source).is_empty() && who != "dropped";
            let gaps: Vec<&str> = [
                (who.is_empty(), "where it ends"),
                (no_source, "the source the receiver sees"),
                (value(&nat).is_empty(), "whether NAT happens"),
            ]
            .into_iter()
            .filter_map(|(gap, what)| gap.then_some(what))
            .collect();
            if !gaps.is_empty() {
                // Nothing graded: the learner is told what is left to choose.
                missing.set(Some(format!(
                    "Choose {} first, then Check.",
                    gaps.join(", ")
                )));
                return;
            }
            missing.set(None);
            let prediction = Prediction {
                ends: (who != "dropped")
                    .then(|| c.endpoint_named(&who).ok())
                    .flatten(),
                source: value(&source).parse().ok(),
                nat: value(&nat) == "yes",
            };
            on.emit(t.grade(&prediction));
        })
    };
    let result = p.grade.map(|g| {
        let t = &p.trace;
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let actual_end = match t.verdict {
            podnet_core::forward::Verdict::Delivered { to } => c.name_of(to),
            podnet_core::forward::Verdict::Dropped { .. } => "dropped".into(),
        };
        let seen = t
            .received()
            .map_or_else(|| "nothing".to_string(), |f| f.src.to_string());
        let at = g.wrong_at.and_then(|i| {
            let h = t.hops.get(i)?;
            Some(format!(
                " First wrong at hop {}: {}.",
                i + 1,
                h.place.label(c)
            ))
        });
        html! {
            <p id="predict-result" class={classes!("predict-result", if g.all_right() { "ok" } else { "bad" })} aria-live="polite">
                { format!(
                    "{}Ends at {} {} · source seen {} {} · NAT {} {}.{}",
                    p.graded_by.as_ref().map_or_else(String::new, |b| format!("{b}: ")),
                    actual_end, mark(g.ends), seen, mark(g.source),
                    if t.nat_seen() { "yes" } else { "no" }, mark(g.nat),
                    at.unwrap_or_else(|| " All right.".into())) }
            </p>
        }
    });
    html! {
        <form id="predict" class="predict" onsubmit={check} aria-label="predict the packet">
            <strong>{ "Predict, then see: " }</strong>
            <label>{ "it ends at " }
                <select id="predict-ends" ref={ends}>
                    <option value="" selected=true disabled=true>{ "choose…" }</option>
                    { for names.iter().map(|(n, _)| html! { <option value={n.clone()}>{ n.clone() }</option> }) }
                    <option value="dropped">{ "nobody: dropped" }</option>
                </select>
            </label>
            <label>{ " the receiver sees source " }
                <select id="predict-source" ref={source}>
                    <option value="" selected=true disabled=true>{ "choose…" }</option>
                    { for sources(c, &p.trace).iter().map(|a| html! { <option value={a.to_string()}>{ a.to_string() }</option> }) }
                </select>
            </label>
            <label>{ " NAT on the way " }
                <select id="predict-nat" ref={nat}>
                    <option value="" selected=true disabled=true>{ "choose…" }</option>
                    <option value="no">{ "no" }</option>
                    <option value="yes">{ "yes" }</option>
                </select>
            </label>
            { " " }<button id="predict-check" type="submit">{ "Check" }</button>
            { match &*missing {
                Some(m) => html! { <p id="predict-missing" class="predict-result bad" role="alert">{ m.clone() }</p> },
                None => result.unwrap_or_default(),
            } }
        </form>
    }
}

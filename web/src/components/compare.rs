//! Model vs kernel: the places a captured packet passed, beside what core predicts there.

use std::rc::Rc;

use podnet_core::forward::capture::{Comparison, Seen};
use podnet_core::topology::Cluster;
use yew::prelude::*;

/// A place's headers in one line; inside VXLAN the outer ones first, then
/// the pod's frame in brackets.
fn frame_text(s: &Option<Seen>) -> String {
    let Some(s) = s else {
        return "—".into();
    };
    let f = &s.frame;
    let inner = format!(
        "{} > {} ttl {} · {} > {}",
        f.src, f.dst, f.ttl, f.src_mac, f.dst_mac
    );
    match s.outer {
        Some(e) => format!(
            "VXLAN {} > {} ttl {} vni {} · {} > {} [{inner}]",
            e.outer.src, e.outer.dst, e.outer.ttl, e.vni, e.outer.src_mac, e.outer.dst_mac
        ),
        None => inner,
    }
}

/// Props.
#[derive(Properties, PartialEq)]
pub struct CompareProps {
    /// Model and kernel, lined up by core.
    pub cmp: Rc<Comparison>,
    /// Names come from here.
    pub cluster: Rc<Cluster>,
}

/// The side-by-side table: one row per place, differing rows marked with the fields that differ.
#[function_component(CompareTable)]
pub fn compare_table(p: &CompareProps) -> Html {
    let c = &p.cluster;
    let diff = p.cmp.differences();
    let summary = if p.cmp.agrees() {
        format!("Model and kernel agree at all {} places.", p.cmp.rows.len())
    } else if diff == 0 {
        "Model and kernel pass the same places but end differently.".to_string()
    } else {
        format!(
            "Model and kernel differ at {diff} of {} places.",
            p.cmp.rows.len()
        )
    };
    html! {
        <div class="live-compare">
            <h3>{ "Model vs kernel" }</h3>
            <p id="live-compare-summary" class={classes!("verdict", if p.cmp.agrees() { "ok" } else { "bad" })}>{ summary }</p>
            <table id="live-compare">
                <thead><tr><th>{ "place" }</th><th>{ "kernel (captured)" }</th><th>{ "model (podnet-core)" }</th><th>{ "" }</th></tr></thead>
                <tbody>
                { for p.cmp.rows.iter().map(|r| {
                    let place = r.kernel.or(r.model).map(|s| s.place.label(c)).unwrap_or_default();
                    let mark = if r.agrees() {
                        "✓".to_string()
                    } else {
                        format!("✗ {}", r.differs.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))
                    };
                    html! {
                        <tr class={classes!(if r.agrees() { "same" } else { "differs" })}>
                            <td>{ place }</td>
                            <td><code>{ frame_text(&r.kernel) }</code></td>
                            <td><code>{ frame_text(&r.model) }</code></td>
                            <td>{ mark }</td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        </div>
    }
}

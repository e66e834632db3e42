//! b2. A Service: one address for pods that come and go. A recreated pod
//! gets a new address and the endpoint list follows, while the Service's
//! name and ClusterIP stay; a packet to the ClusterIP is DNATed on the
//! sending node by kube-proxy's rules (shown as `iptables-save` prints
//! them, the ones that acted lit at each step); the odds of each endpoint;
//! the reply un-DNATed; a pod asking its own Service (hairpin); and what
//! `web` becomes through the pod's resolver.

use yew::prelude::*;

use super::{PacketView, SceneProps};
use crate::state::{Action, ServiceCase};

/// "1/3" for a chance that is one in a small number, else a percentage.
fn odds(p: f64) -> String {
    let n = (1.0 / p).round();
    if n >= 1.0 && (1.0 / n - p).abs() < 1e-6 {
        format!("1/{n}")
    } else {
        format!("{:.1} %", p * 100.0)
    }
}

/// Scene b2.
pub fn service_scene(p: &SceneProps) -> Html {
    let Some(f) = p.model.service.clone() else {
        return html! {
            <section class="scene" id="scene-b2">
                <p class="error">{ p.model.error.clone().unwrap_or_default() }</p>
            </section>
        };
    };
    let case = p.state.service;
    let set = |c: ServiceCase| {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| on.emit(Action::SetService(c)))
    };
    // The rules that acted up to the hop shown, and the one at it.
    let (mut lit, mut now) = (Vec::new(), Vec::new());
    if let Some(t) = &p.model.trace {
        for r in t.rules.iter().filter(|r| r.table == "nat") {
            if r.hop <= p.state.step {
                lit.push(r.line.clone());
            }
            if r.hop == p.state.step {
                now.push(r.line.clone());
            }
        }
    }
    let recreate_text = match &f.before {
        Some(b) => format!(
            "pod-c was deleted and created again: it had {b}, now it has {}. The endpoint list followed; Service {} is still {}.",
            f.now, f.name, f.cluster_ip
        ),
        None => format!(
            "pod-c has {}. Recreate it and watch the endpoints:",
            f.now
        ),
    };
    let draws = f.draws.iter().enumerate().map(|(i, (prob, of))| {
        let rest = if i == 0 {
            "of every new connection".to_string()
        } else {
            format!("of what rule {i} left")
        };
        html! { <li>{ format!("rule {}: --probability {prob}, one in {of} {rest}", i + 1) }</li> }
    });
    let last = f.endpoints.len();
    html! {
        <section class="scene" id="scene-b2">
            <div class="explain">
                <p>{ format!(
                    "Pod IPs change when pods are recreated, so clients do not use them. A Service gives the pods that match its selector ({}) one stable address: {} is ClusterIP {}, port {}. The address is on no interface: kube-proxy on every node rewrites it (DNAT) to one of the pods.",
                    f.selector, f.name, f.cluster_ip, f.port) }</p>
                <p id="svc-recreate">{ recreate_text }</p>
                <button id="btn-recreate-endpoint" onclick={set(ServiceCase { recreated: case.recreated.saturating_add(1), ..case })}>
                    { "Delete and recreate pod-c" }</button>
                <table id="svc-endpoints" class="route-table">
                    <caption>{ format!("Endpoints of {}, in kube-proxy's order", f.name) }</caption>
                    <thead><tr><th>{ "pod" }</th><th>{ "node" }</th><th>{ "address" }</th><th>{ "chance" }</th></tr></thead>
                    <tbody>
                        { for f.endpoints.iter().map(|(pod, node, addr, p)| html! {
                            <tr><td>{ pod }</td><td>{ node }</td><td>{ addr }</td><td>{ odds(*p) }</td></tr>
                        }) }
                    </tbody>
                </table>
                <p>{ format!("The dice: the Service's chain has one rule per endpoint, tried in order; the last takes whatever is left, so each of the {last} gets the same share.") }</p>
                <ol id="svc-draws">{ for draws }<li>{ format!("rule {last}: no probability, everything that is left") }</li></ol>
                <div class="cases" role="group" aria-label="Which endpoint the dice pick">
                    { for f.endpoints.iter().enumerate().map(|(k, (pod, ..))| {
                        let on = !case.hairpin && usize::from(case.pick) == k;
                        html! {
                            <button id={format!("pick-{pod}")} class={classes!(on.then_some("on"))} aria-pressed={on.to_string()}
                                onclick={set(ServiceCase { pick: k as u8, hairpin: false, ..case })}>
                                { format!("pod-a; the dice pick {pod}") }</button>
                        }
                    }) }
                    <button id="case-hairpin" class={classes!(case.hairpin.then_some("on"))} aria-pressed={case.hairpin.to_string()}
                        onclick={set(ServiceCase { hairpin: true, ..case })}>{ "pod-b asks; the dice pick pod-b itself" }</button>
                </div>
                <div class="cases" role="group" aria-label="Request or reply">
                    <button id="case-request" class={classes!((!case.reply).then_some("on"))} aria-pressed={(!case.reply).to_string()}
                        onclick={set(ServiceCase { reply: false, ..case })}>{ "The request" }</button>
                    <button id="case-reply" class={classes!(case.reply.then_some("on"))} aria-pressed={case.reply.to_string()}
                        onclick={set(ServiceCase { reply: true, ..case })}>{ "Its reply" }</button>
                </div>
                <p>{ if case.hairpin {
                    "pod-b reaches itself through its own Service: the DNAT sends the packet back to the bridge port it came from. That needs hairpin mode on the port, and kube-proxy marks it for masquerade (the KUBE-SEP rule's -s pod-b), so pod-b's reply goes to the bridge address and conntrack can undo both rewrites."
                } else if case.reply {
                    "The reply leaves the pod addressed to pod-a, from the pod's own address. conntrack remembers the DNAT and rewrites the source back to the ClusterIP, so pod-a's socket takes it. No rule is asked again."
                } else {
                    "The packet leaves pod-a for the ClusterIP. The first netfilter hook it meets on node1 (the bridge's, with br_netfilter) walks KUBE-SERVICES, jumps to the Service's chain, where the dice pick an endpoint chain, which DNATs it."
                } }</p>
                <h3>{ format!("kube-proxy's rules on {} for this Service (iptables-save -t nat)", f.node) }</h3>
                <pre id="svc-rules" class="rules" tabindex="0" role="region" aria-label={format!("kube-proxy's rules on {}", f.node)}>{ for f.rules.iter().map(|l| {
                    let cls = if now.contains(l) { "rule now" } else if lit.contains(l) { "rule hit" } else { "rule" };
                    html! { <span class={cls}>{ l }{ "\n" }</span> }
                }) }</pre>
                <h3>{ "The name" }</h3>
                <p>{ "A pod asks for web, not an address. The kubelet writes the pod's resolv.conf, and cluster DNS answers for names under cluster.local:" }</p>
                <pre id="svc-resolv">{ f.resolv.clone() }</pre>
                <ol id="svc-lookups">{ for f.lookups.iter().map(|(name, said)| html! { <li>{ format!("{name}: {said}") }</li> }) }</ol>
            </div>
            <PacketView ..p.clone() />
        </section>
    }
}

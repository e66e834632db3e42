//! h. Sandbox: set the ranges, add and remove nodes and pods, send any packet.

use podnet_core::forward::Proto;
use podnet_core::topology::Backend;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{PacketView, SceneProps};
use crate::challenges;
use crate::components::matrix::MatrixView;
use crate::components::policy_editor::PolicyEditor;
use crate::components::topology::Topology;
use crate::sandbox::{
    SandboxEdit, SandboxService, SandboxSpec, LABEL_VALUE, MATRIX_LIMIT, MAX_LANS, MAX_NODES,
    MAX_PODS, SANDBOX_NODE_PORT, SANDBOX_TARGET_PORT, SERVICE_NAME, SERVICE_PORT,
};
use crate::scene_data::SceneModel;
use crate::state::Action;
use podnet_core::topology::Endpoint;

/// A callback that sends an edit of the sandbox spec; the reducer applies
/// it to the spec as it is then, so two quick edits both count.
fn edit<E: Clone + 'static>(
    p: &ControlProps,
    f: impl Fn(&mut SandboxSpec, E) + 'static,
) -> Callback<E> {
    let (on, f) = (p.on.clone(), Rc::new(f));
    Callback::from(move |e: E| {
        let f = f.clone();
        on.emit(Action::EditSandbox(SandboxEdit::new(move |s| {
            f(s, e.clone())
        })));
    })
}

fn input_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

/// A matrix cell picked: send its packet (a ping) in the player above.
fn send_pair(p: &ControlProps) -> Callback<(Endpoint, Endpoint)> {
    let (on, c) = (p.on.clone(), p.model.cluster.clone());
    Callback::from(move |(from, to): (Endpoint, Endpoint)| {
        let (from_name, to_name) = (c.short_name_of(from), c.short_name_of(to));
        let proto = if matches!(from, Endpoint::Client(_)) {
            Proto::Tcp
        } else {
            Proto::Ping
        };
        let edit = SandboxEdit::new(move |s| {
            (s.from, s.to, s.proto) = (from_name.clone(), to_name.clone(), proto);
        });
        on.emit(Action::EditSandbox(edit.and_play()));
        // The matrix is below the drawing: bring the packet's drawing and
        // player into view, or it would play off-screen.
        if let Some(view) = gloo::utils::document()
            .query_selector("#scene-h .packet-view")
            .ok()
            .flatten()
        {
            let opts = web_sys::ScrollIntoViewOptions::new();
            opts.set_block(web_sys::ScrollLogicalPosition::Start);
            view.scroll_into_view_with_scroll_into_view_options(&opts);
        }
    })
}

/// Text with commands between backticks, the commands as code.
fn with_code(text: &str) -> Html {
    html! {
        { for text.split('`').enumerate().map(|(i, part)| {
            if i % 2 == 1 { html! { <code>{ part.to_string() }</code> } } else { html! { { part.to_string() } } }
        }) }
    }
}

/// The button that opens one node's settings (one at a time: a 100-node
/// sandbox would otherwise draw thousands of route boxes).
fn settings_toggle(k: u16, open: &UseStateHandle<Option<u16>>) -> Html {
    let is_open = **open == Some(k);
    let open = open.clone();
    html! {
        <button type="button" class="sb-settings" id={format!("sb-settings-{k}")} aria-expanded={is_open.to_string()}
            aria-label={format!("node{k} settings: ip_forward, hairpin, range, routes, pod gateways")} title="settings: ip_forward, hairpin, range, routes, pod gateways"
            onclick={Callback::from(move |_: MouseEvent| open.set(if is_open { None } else { Some(k) }))}>
            { if is_open { "▾ " } else { "▸ " } }
        </button>
    }
}

/// A node's ip_forward, range, routes and its pods' gateways.
fn node_settings(p: &ControlProps, k: u16) -> Html {
    let (spec, c) = (&p.spec, &p.model.cluster);
    let Some(node) = c.node_named(&format!("node{k}")) else {
        return html! { <p class="sb-more error">{ format!("node{k} is not in the cluster") }</p> };
    };
    let peers: Vec<(u16, String, String)> = c
        .nodes()
        .iter()
        .filter(|n| n.id != node.id)
        .filter_map(|n| {
            Some((
                n.name.strip_prefix("node")?.parse().ok()?,
                n.name.clone(),
                n.pod_range.to_string(),
            ))
        })
        .collect();
    let gw = node.ipam.gateway().to_string();
    html! {
        <div class="sb-more" id={format!("sb-more-{k}")}>
            <label>
                <input type="checkbox" id={format!("sb-fwd-{k}")} checked={!spec.forward_off.contains(&k)}
                    onchange={edit(p, move |s, _: Event| if !s.forward_off.remove(&k) { s.forward_off.insert(k); })} />
                { " net.ipv4.ip_forward" }
            </label>
            <label title="a frame may leave the bridge by the port it came in on: a pod reaching itself through its Service">
                <input type="checkbox" id={format!("sb-hairpin-{k}")} checked={!spec.hairpin_off.contains(&k)}
                    onchange={edit(p, move |s, _: Event| if !s.hairpin_off.remove(&k) { s.hairpin_off.insert(k); })} />
                { " hairpin mode on the bridge's pod ports" }
            </label>
            <label>{ " pod range " }
                <input id={format!("sb-range-{k}")} size="18" placeholder={format!("node IPAM ({})", node.pod_range)}
                    value={spec.ranges.get(&k).cloned().unwrap_or_default()}
                    onchange={edit(p, move |s, e: Event| {
                        let v = input_value(&e);
                        if v.trim().is_empty() { s.ranges.remove(&k); } else { s.ranges.insert(k, v.trim().to_string()); }
                    })} />
            </label>
            <fieldset class="sb-routes">
                <legend>{ format!("routes on node{k} (a podnet route per peer)") }</legend>
                { for peers.into_iter().map(|(j, name, range)| html! {
                    <label>
                        <input type="checkbox" id={format!("sb-route-{k}-{j}")} checked={!spec.no_route.contains(&(k, j))}
                            onchange={edit(p, move |s, _: Event| if !s.no_route.remove(&(k, j)) { s.no_route.insert((k, j)); })} />
                        { format!(" {range} ({name})") }
                    </label>
                }) }
            </fieldset>
            <fieldset class="sb-gateways">
                <legend>{ format!("pods' default gateway (node{k}'s bridge is {gw})") }</legend>
                { pod_fields(p, node.id, "sb-gw", " via ", &gw, "14", |s| &mut s.gateways) }
            </fieldset>
            <fieldset class="sb-pod-labels">
                <legend>{ "pods' labels (key=value, comma between; NetworkPolicies select pods by them)" }</legend>
                { pod_fields(p, node.id, "sb-labels", " ", "role=frontend", "24", |s| &mut s.labels) }
            </fieldset>
        </div>
    }
}

/// A text field for each pod of a node, kept by pod name in one of the
/// spec's maps (an empty field: no entry).
fn pod_fields(
    p: &ControlProps,
    node: podnet_core::topology::NodeId,
    id: &'static str,
    after_name: &'static str,
    placeholder: &str,
    size: &'static str,
    map: fn(&mut SandboxSpec) -> &mut BTreeMap<String, String>,
) -> Html {
    // One node's settings are open at a time: a copy of its spec is cheap.
    let now = map(&mut p.spec.clone()).clone();
    html! {
        { for p.model.cluster.pods_on(node).map(|pod| {
            let name = pod.name.clone();
            html! {
                <label>{ format!("{name}{after_name}") }
                    <input id={format!("{id}-{name}")} size={size} placeholder={placeholder.to_string()}
                        value={now.get(&name).cloned().unwrap_or_default()}
                        onchange={edit(p, move |s, e: Event| {
                            let v = input_value(&e);
                            if v.trim().is_empty() { map(s).remove(&name); } else { map(s).insert(name.clone(), v.trim().to_string()); }
                        })} />
                </label>
            }
        }) }
    }
}

/// The NetworkPolicies: the editor, the pods' labels they can select, and
/// which pods each one isolates.
fn policy_controls(p: &ControlProps) -> Html {
    let (spec, c) = (&p.spec, &p.model.cluster);
    let on_valid = edit(p, |s, text: Rc<str>| s.policy = text.to_string());
    let example = edit(p, |s, _: MouseEvent| {
        if s.policy.trim().is_empty() {
            s.policy = challenges::POLICY_EXAMPLE.into();
        }
    });
    let labelled: Vec<String> = c
        .pods()
        .iter()
        .filter(|pod| !pod.labels.is_empty())
        .map(|pod| {
            let l: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}", pod.name, l.join(","))
        })
        .collect();
    html! {
        <fieldset class="sb-policy" id="sb-policies">
            <legend>{ "NetworkPolicy (namespace default): who may reach whom" }</legend>
            <p id="sb-labelled">{ if labelled.is_empty() {
                "No pod has labels yet: give some in a node's settings (▸).".to_string()
            } else {
                format!("Labelled pods: {} (edit them in a node's settings, ▸).", labelled.join("; "))
            } }</p>
            <PolicyEditor id="sb-policy" yaml={Rc::<str>::from(spec.policy.as_str())} {on_valid}
                note="The sandbox keeps the last policies that were valid."
                placeholder="Empty: no policy, every pod reaches every pod." />
            { if spec.policy.trim().is_empty() { html! {
                <button type="button" id="sb-policy-example" onclick={example}>{ "Start from an example (backend isolated for ingress)" }</button>
            } } else { html! {} } }
            <ul id="sb-policy-list">
                { for c.policies().iter().map(|pol| {
                    let isolated: Vec<&str> = c.pods().iter()
                        .filter(|pod| pol.selects(&pod.namespace, &pod.labels))
                        .map(|pod| pod.name.as_str())
                        .collect();
                    let (ingress, egress) = pol.types();
                    let dirs = match (ingress, egress) {
                        (true, true) => "ingress and egress",
                        (true, false) => "ingress",
                        _ => "egress",
                    };
                    html! { <li>{ format!("{} isolates {} for {dirs}", pol.full_name(), if isolated.is_empty() { "no pod".to_string() } else { isolated.join(", ") }) }</li> }
                }) }
            </ul>
        </fieldset>
    }
}

/// Service `web`: its type, selector, targetPort, policy, masquerade, and
/// which pods carry its label.
fn service_controls(p: &ControlProps) -> Html {
    let (spec, c) = (&p.spec, &p.model.cluster);
    let svc = spec.service.as_ref();
    let kind = svc.map_or(
        "none",
        |s| if s.node_port { "nodeport" } else { "clusterip" },
    );
    let set_kind = edit(p, |s, e: Event| {
        let v = select_value(&e);
        match (v.as_str(), &mut s.service) {
            ("none", _) => s.service = None,
            (_, Some(svc)) => svc.node_port = v == "nodeport",
            (_, None) => {
                // A new Service starts in front of the last node's pods.
                let last = s.pods.iter().rposition(|n| n.is_some_and(|n| n > 0));
                let pods = last
                    .map(|i| (1..=s.pods[i].unwrap_or(0)).map(move |j| format!("p{}-{j}", i + 1)));
                s.service = Some(SandboxService {
                    node_port: v == "nodeport",
                    ..SandboxService::node_port_to(pods.into_iter().flatten())
                });
            }
        }
    });
    let field = |f: fn(&mut SandboxService, String)| {
        edit(p, move |s, e: Event| {
            if let Some(svc) = &mut s.service {
                f(svc, input_value(&e));
            }
        })
    };
    html! {
        <fieldset class="sb-service" id="sb-service">
            <legend>{ format!("Service {SERVICE_NAME} (TCP {SERVICE_PORT} on its ClusterIP; the labelled pods listen on {SANDBOX_TARGET_PORT}, named http)") }</legend>
            <label>{ "type " }
                <select id="sb-svc-type" onchange={set_kind}>
                    <option value="none" selected={kind == "none"}>{ "— (no Service)" }</option>
                    <option value="clusterip" selected={kind == "clusterip"}>{ "ClusterIP" }</option>
                    <option value="nodeport" selected={kind == "nodeport"}>{ format!("NodePort {SANDBOX_NODE_PORT}") }</option>
                </select>
            </label>
            { match svc {
                None => html! {},
                Some(svc) => html! {
                    <>
                        <label>{ " selector app=" }
                            <input id="sb-svc-selector" size="8" value={svc.selects.clone()} onchange={field(|s, v| s.selects = v)} />
                        </label>
                        <label>{ " targetPort " }
                            <input id="sb-svc-target" size="6" value={svc.target.clone()} onchange={field(|s, v| s.target = v)} />
                        </label>
                        <label>
                            <input id="sb-svc-local" type="checkbox" checked={svc.local} disabled={!svc.node_port}
                                onchange={edit(p, |s, _: Event| if let Some(svc) = &mut s.service { svc.local = !svc.local; })} />
                            { " externalTrafficPolicy: Local" }
                        </label>
                        <label>
                            <input id="sb-masq" type="checkbox" checked={spec.masquerade}
                                onchange={edit(p, |s, _: Event| s.masquerade = !s.masquerade)} />
                            { " kube-proxy masquerades it" }
                        </label>
                        <fieldset class="sb-labels">
                            <legend>{ format!("pods labelled app={LABEL_VALUE}") }</legend>
                            { for c.pods().iter().map(|pod| {
                                let name = pod.name.clone();
                                html! {
                                    <label>
                                        <input type="checkbox" id={format!("sb-label-{name}")} checked={svc.labelled.contains(&name)}
                                            onchange={edit(p, move |s, _: Event| if let Some(svc) = &mut s.service {
                                                if !svc.labelled.remove(&name) { svc.labelled.insert(name.clone()); }
                                            })} />
                                        { format!(" {}", pod.name) }
                                    </label>
                                }
                            }) }
                        </fieldset>
                    </>
                },
            } }
        </fieldset>
    }
}

/// The challenge being played, and whether the model says it is solved.
fn challenge_of(p: &ControlProps) -> (Option<&'static challenges::Challenge>, bool) {
    let active = p.spec.challenge.as_deref().and_then(challenges::by_key);
    // A field the sandbox could not use leaves the cluster half built
    // (what follows it unapplied): never solved then.
    let matrix = p
        .model
        .matrix
        .as_deref()
        .filter(|_| p.model.error.is_none());
    let solved = active.is_some_and(|c| c.solved(&p.spec, &p.model.cluster, matrix));
    (active, solved)
}

/// The challenges: pick one, read what broke, see whether it is mended.
fn challenges_panel(p: &ControlProps, solved: &UseStateHandle<Vec<String>>) -> Html {
    let (active, solved_now) = challenge_of(p);
    let green = p
        .model
        .matrix
        .as_ref()
        .is_some_and(|m| m.requirements().met());
    let pick = |key: Option<&'static str>| {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| {
            let started = key
                .and_then(challenges::by_key)
                .map(|c| Box::new(c.start()));
            on.emit(Action::Challenge(started))
        })
    };
    html! {
        <section class="challenges" id="challenges" aria-label="Break and fix">
            <h3>{ "Break and fix" }<small id="ch-progress">{ format!(" — {} of {} solved in this browser", solved.len(), challenges::ALL.len()) }</small></h3>
            <ul class="ch-list">
                { for challenges::ALL.iter().map(|c| {
                    let done = solved.iter().any(|k| k == c.key);
                    let current = active.is_some_and(|a| a.key == c.key);
                    html! {
                        <li class={classes!(done.then_some("solved"), current.then_some("current"))}>
                            <button type="button" id={format!("ch-{}", c.key)} aria-pressed={current.to_string()} onclick={pick(Some(c.key))}>
                                { if done { "✓ " } else { "" } }{ c.title }
                            </button>
                        </li>
                    }
                }) }
            </ul>
            { match active {
                Some(c) => {
                    let wrong = p.model.matrix.as_ref().map(|m| c.wrong_pairs(&p.model.cluster, m)).unwrap_or_default();
                    let (goal, done) = match c.only {
                        Some((from, to)) => (
                            format!("It is solved when only pods labelled {from} reach pods labelled {to} (⊘ marks a pair a policy denies) and every other pair still passes."),
                            format!("Solved ✓ — only {from} reaches {to}, and every other pair passes."),
                        ),
                        None => (
                            "Repair it with the controls below: it is solved when every cell of the matrix is green (✓).".to_string(),
                            "Solved ✓ — every cell of the matrix is green.".to_string(),
                        ),
                    };
                    html! {
                        <div class="ch-active">
                            <p id="ch-story">{ c.story }</p>
                            <p>{ goal }</p>
                            <details><summary>{ "Hint" }</summary><p id="ch-hint">{ c.hint }</p></details>
                            <p id="ch-status" class={classes!("ch-status", if solved_now { "ok" } else { "bad" })} role="status">
                                { match &p.model.matrix {
                                    _ if solved_now => done,
                                    Some(_) if !wrong.is_empty() => format!("Not yet: {}{}.", wrong.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
                                        if wrong.len() > 3 { format!(" and {} more", wrong.len() - 3) } else { String::new() }),
                                    Some(m) if green && c.only.is_none() && m.requirements().failing() == 0 && m.requirements().denied() > 0 =>
                                        "Every cell passes or is denied, but a policy denying the broken pairs hides the fault: repair it instead.".to_string(),
                                    _ if green => "The matrix is green, but part of the cluster this challenge started with is gone: put it back.".to_string(),
                                    Some(m) => format!("Not yet: {} pairs still fail.", m.requirements().failing()),
                                    None => format!("The matrix is off above {MATRIX_LIMIT} nodes and pods: remove some to check the cluster."),
                                } }
                            </p>
                            { if solved_now { html! {
                                <p id="ch-command" class="ch-command">{ "On a real cluster: " }{ with_code(c.command) }</p>
                            } } else { html! {} } }
                            <button type="button" id="ch-leave" onclick={pick(None)}>{ "Leave the challenge" }</button>
                        </div>
                    }
                }
                None => html! { <p>{ "Each starts from a cluster with one thing broken, as it happens on real nodes." }</p> },
            } }
        </section>
    }
}

/// What the sandbox's controls and matrix depend on: not the packet's
/// cursor, so playing does not redraw a hundred nodes' controls.
#[derive(Properties, PartialEq, Clone)]
pub struct ControlProps {
    /// The computed model.
    pub model: Rc<SceneModel>,
    /// The cluster as typed.
    pub spec: SandboxSpec,
    /// Where actions go.
    pub on: Callback<Action>,
}

/// Scene h.
#[function_component(SandboxScene)]
pub fn sandbox_scene(p: &SceneProps) -> Html {
    let controls = ControlProps {
        model: p.model.clone(),
        spec: p.state.sandbox.clone(),
        on: p.on.clone(),
    };
    let c = &p.model.cluster;
    html! {
        <section class="scene" id="scene-h">
            <p class="sb-intro" id="sb-intro">
                { "A cluster of your own to try things on. Change its range, add nodes and pods, open a node's settings (▸) to break or mend it, add a Service or NetworkPolicies." }<br />
                { "The matrix under the drawing checks who reaches whom, by the same model the node agent programs; pick a cell, or a sender and a receiver, to play that packet hop by hop." }<br />
                { "Or take a challenge below: a cluster with one thing broken, as it happens on real nodes." }
            </p>
            <SandboxControls ..controls.clone() />
            { if p.model.trace.is_some() { html! { <PacketView ..p.clone() /> } } else { html! { <Topology cluster={c.clone()} /> } } }
            <SandboxMatrix ..controls />
        </section>
    }
}

/// The matrix, whose cells send their packet.
#[function_component(SandboxMatrix)]
fn sandbox_matrix(p: &ControlProps) -> Html {
    let c = &p.model.cluster;
    match &p.model.matrix {
        Some(m) => html! {
            <>
                <h3 id="sb-matrix-title">{ "Who reaches whom" }<small>{ " — pick a cell to send its packet above" }</small></h3>
                <MatrixView matrix={m.clone()} cluster={c.clone()} on_pick={Some(send_pair(p))} />
            </>
        },
        None => html! {
            <p id="sb-matrix-limit" class="limit">{ format!(
                "The matrix checks every pair up to {MATRIX_LIMIT} nodes and pods; this cluster has {}.",
                c.nodes().len() + c.pods().len()
            ) }</p>
        },
    }
}

/// The challenges, the cluster's controls and what was wrong with them.
#[function_component(SandboxControls)]
fn sandbox_controls(p: &ControlProps) -> Html {
    let spec = &p.spec;
    let c = &p.model.cluster;
    let open = use_state(|| None::<u16>);
    let solved = use_state(challenges::solved_keys);
    {
        // Mark the challenge solved once the model says so.
        let (active, solved_now) = challenge_of(p);
        let now = active.filter(|_| solved_now).map(|c| c.key);
        let solved = solved.clone();
        use_effect_with(now, move |now| {
            if let Some(key) = *now {
                challenges::mark_solved(key);
                solved.set(challenges::solved_keys());
            }
        });
    }
    let names: Vec<String> = c
        .nodes()
        .iter()
        .map(|n| n.name.clone())
        .chain(c.pods().iter().map(|p| p.name.clone()))
        .chain(c.clients().iter().map(|x| x.name.clone()))
        .chain(c.services().iter().map(|s| s.name.clone()))
        .collect();
    let choose = |id: &'static str, current: &str, cb: Callback<Event>| {
        html! {
            <select id={id} onchange={cb}>
                { for names.iter().map(|n| html! { <option value={n.clone()} selected={n == current}>{ n.clone() }</option> }) }
                { if names.iter().any(|n| n == current) { html! {} } else { html! { <option selected=true value="">{ "—" }</option> } } }
            </select>
        }
    };
    html! {
        <>
            { challenges_panel(p, &solved) }
            <form class="sandbox" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <label>{ "Cluster range " }
                    <input id="sb-cidr" value={spec.cidr.clone()} size="18" onchange={edit(p, |s, e: Event| s.cidr = input_value(&e))} />
                </label>
                <label>{ "Node prefix / " }
                    <input id="sb-prefix" value={spec.prefix.clone()} size="3" onchange={edit(p, |s, e: Event| s.prefix = input_value(&e))} />
                </label>
                <label>
                    <input id="sb-network" type="checkbox" checked={spec.network} onchange={edit(p, |s, _: Event| s.network = !s.network)} />
                    { " cluster network" }
                </label>
                <label>{ " backend " }
                    <select id="sb-backend" disabled={!spec.network}
                        onchange={edit(p, |s, e: Event| s.backend = select_value(&e).parse().unwrap_or(Backend::HostGw))}>
                        { for Backend::BACKENDS.iter().map(|&b| html! { <option value={b.key()} selected={b == spec.backend}>{ b.key() }</option> }) }
                    </select>
                </label>
                <label title="node K goes on LAN (K-1) mod N; a router joins the LANs">{ " LANs " }
                    <select id="sb-lans" onchange={edit(p, |s, e: Event| s.lans = select_value(&e).parse::<u8>().unwrap_or(1).clamp(1, MAX_LANS))}>
                        { for (1..=MAX_LANS).map(|n| html! { <option value={n.to_string()} selected={n == spec.lans}>{ n.to_string() }</option> }) }
                    </select>
                </label>
                <ul class="sb-nodes">
                    { for spec.pods.iter().enumerate().filter_map(|(i, &n)| Some((i, n?))).map(|(i, n)| html! {
                        <li>
                            { settings_toggle(i as u16 + 1, &open) }
                            { format!("node{}: {n} pod{} ", i + 1, if n == 1 { "" } else { "s" }) }
                            <button type="button" id={format!("sb-minus-{}", i + 1)} disabled={n == 0}
                                onclick={edit(p, move |s, _: MouseEvent| s.pods[i] = s.pods[i].map(|n| n.saturating_sub(1)))}>{ "−" }</button>
                            <button type="button" id={format!("sb-plus-{}", i + 1)} disabled={n >= MAX_PODS}
                                onclick={edit(p, move |s, _: MouseEvent| s.pods[i] = s.pods[i].map(|n| (n + 1).min(MAX_PODS)))}>{ "+" }</button>
                            // A removed node leaves its place: the others keep their names and ranges.
                            <button type="button" id={format!("sb-remove-{}", i + 1)}
                                onclick={edit(p, move |s, _: MouseEvent| {
                                    s.pods[i] = None;
                                    while s.pods.last() == Some(&None) { s.pods.pop(); }
                                })}>{ "remove node" }</button>
                            { if *open == Some(i as u16 + 1) { node_settings(p, i as u16 + 1) } else { html! {} } }
                        </li>
                    }) }
                </ul>
                <button type="button" id="sb-add-node" disabled={spec.pods.len() >= MAX_NODES}
                    onclick={edit(p, |s, _: MouseEvent| s.pods.push(Some(1)))}>{ "Add node" }</button>
                { if spec.pods.len() >= MAX_NODES { html! {
                    <span id="sb-limit" class="limit">{ format!("The sandbox holds at most {MAX_NODES} nodes.") }</span>
                } } else { html! {} } }
                { service_controls(p) }
                { policy_controls(p) }
                <div class="sb-send">
                    <label>{ "From " }{ choose("sb-from", &spec.from, edit(p, |s, e: Event| s.from = select_value(&e))) }</label>
                    <label>{ " to " }{ choose("sb-to", &spec.to, edit(p, |s, e: Event| s.to = select_value(&e))) }</label>
                    <label>{ " send " }
                        <select id="sb-proto" onchange={edit(p, |s, e: Event| s.proto = Proto::from_key(&select_value(&e)).unwrap_or(Proto::Ping))}>
                            { for Proto::ALL.iter().map(|&x| html! { <option value={x.key()} selected={x == spec.proto}>{ x.key() }</option> }) }
                        </select>
                    </label>
                </div>
            </form>
            { match &p.model.error {
                Some(e) => html! { <p id="sb-error" class="error" role="alert">{ e.clone() }</p> },
                None => html! {},
            } }
        </>
    }
}

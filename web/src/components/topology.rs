//! The cluster as an SVG drawing, with the packet where the cursor says.

use std::collections::HashMap;
use std::rc::Rc;

use podnet_core::forward::{Place, Trace, Verdict};
use podnet_core::topology::{Cluster, Endpoint};
use yew::prelude::*;

use crate::layout::{Layout, Rect};

/// Wider than this (in drawing units), a cluster is panned rather than shrunk to fit.
const WIDE: f64 = 1400.0;

/// Props.
#[derive(Properties, PartialEq)]
pub struct TopologyProps {
    /// What to draw.
    pub cluster: Rc<Cluster>,
    /// The packet to show, if any.
    #[prop_or_default]
    pub trace: Option<Rc<Trace>>,
    /// Cursor into the trace.
    #[prop_or_default]
    pub step: usize,
    /// Animation speed (shortens the glide between hops).
    #[prop_or(1)]
    pub speed: u32,
}

fn text(x: f64, y: f64, class: &'static str, s: String) -> Html {
    html! { <text x={x.to_string()} y={y.to_string()} class={class}>{ s }</text> }
}

fn rect(r: Rect, class: Classes) -> Html {
    html! { <rect x={r.x.to_string()} y={r.y.to_string()} width={r.w.to_string()} height={r.h.to_string()} rx="6" class={class} /> }
}

fn line(a: (f64, f64), b: (f64, f64), class: &'static str) -> Html {
    html! { <line x1={a.0.to_string()} y1={a.1.to_string()} x2={b.0.to_string()} y2={b.1.to_string()} class={class} /> }
}

/// Props of the still part of the drawing.
#[derive(Properties, PartialEq)]
struct DrawingProps {
    cluster: Rc<Cluster>,
    layout: Rc<Layout>,
}

/// Nodes, pods, LANs, router and clients: everything but the packet. Its
/// own component, so a step of the packet does not redraw (or even diff) a
/// 100-node cluster.
#[function_component(Drawing)]
fn drawing(p: &DrawingProps) -> Html {
    let c = &p.cluster;
    let l = &*p.layout;
    // Addresses held by more than one pod: the seed's "this isn't going to work".
    let mut seen: HashMap<_, usize> = HashMap::new();
    for pod in c.pods() {
        *seen.entry(pod.ip).or_default() += 1;
    }
    let vtep = c.backend().has_vtep();
    let nodes = l.nodes.iter().filter_map(|&(id, r)| {
        let n = c.node(id)?;
        let cx = r.center().0;
        let by = Layout::bridge_y(r.y);
        let pods = c.pods_on(id).filter_map(|pod| {
            let pr = *l.pods.get(&pod.id)?;
            let (px, _) = pr.center();
            let dup = seen.get(&pod.ip).copied().unwrap_or(0) > 1;
            let wide = pr.w > 60.0;
            let last = pod.ip.octets()[3];
            Some(html! {
                <g class="pod-g" data-pod={pod.full_name()}>
                    { line((px, pr.y + pr.h), (px, by), "veth") }
                    { rect(pr, classes!("pod", dup.then_some("dup"))) }
                    { text(px, pr.y + 22.0, "pod-name", if wide { c.short_name_of(Endpoint::Pod(pod.id)) } else { format!(".{last}") }) }
                    { if wide { text(px, pr.y + 42.0, "pod-ip", pod.ip.to_string()) } else { html!{} } }
                </g>
            })
        });
        Some(html! {
            <g class="node-g" data-node={n.name.clone()}>
                { rect(r, classes!("node")) }
                { text(r.x + 10.0, r.y + 20.0, "node-name", format!("{}  ·  pods {}", n.name, n.pod_range)) }
                { for pods }
                { rect(Rect { x: r.x + 12.0, y: by - 6.0, w: r.w - 24.0, h: 12.0 }, classes!("bridge")) }
                { text(r.x + 16.0, by + 22.0, "dev-label", format!("{} {}", n.bridge, n.gateway())) }
                // The bridge is the node's own device too (it holds the
                // gateway address): what is for the node goes up to routing.
                { line((cx, by + 6.0), (cx, Layout::kernel_y(r.y) - 15.0), "wire") }
                <circle cx={cx.to_string()} cy={Layout::kernel_y(r.y).to_string()} r="15" class="kernel" />
                { text(cx + 22.0, Layout::kernel_y(r.y) + 4.0, "dev-label", format!("routing{}", if n.ip_forward { "" } else { " (ip_forward off)" })) }
                { line((cx, Layout::kernel_y(r.y) + 15.0), (cx, Layout::eth0_y(r.y) - 10.0), "wire") }
                { rect(Rect { x: cx - 70.0, y: Layout::eth0_y(r.y) - 10.0, w: 140.0, h: 20.0 }, classes!("eth0")) }
                { text(cx, Layout::eth0_y(r.y) + 5.0, "eth0-label", format!("{} {}", n.uplink, n.underlay_ip)) }
                { line((cx, Layout::eth0_y(r.y) + 10.0), (cx, Layout::lan_y_under(r.y)), "wire") }
                { if vtep {
                    // podnet.1 beside the routing circle: a VXLAN device on eth0.
                    let (vx, vy) = Layout::vtep_center(r);
                    html! {
                        <g class="vtep-g">
                            { line((cx + 15.0, Layout::kernel_y(r.y)), (vx, vy - 9.0), "wire") }
                            { line((vx, vy + 9.0), (cx + 70.0, Layout::eth0_y(r.y) - 6.0), "wire") }
                            { rect(Rect { x: vx - 34.0, y: vy - 9.0, w: 68.0, h: 18.0 }, classes!("vtep")) }
                            { text(vx, vy + 4.0, "vtep-label", podnet_core::topology::vxlan::DEVICE.to_string()) }
                        </g>
                    }
                } else { html! {} } }
            </g>
        })
    });
    let label = |k: u8| {
        c.lans()
            .get(usize::from(k))
            .map(|n| format!("LAN {n}"))
            .unwrap_or_default()
    };
    // A LAN's label on its first piece only.
    let mut labelled = std::collections::HashSet::new();
    let lans = l.lans.iter().map(|seg| {
        let first = labelled.insert(seg.lan);
        html! {
            <g class="lan-g" data-lan={seg.lan.to_string()}>
                { line((seg.x0, seg.y), (seg.x1, seg.y), "lan") }
                { if first { text(seg.x0 + 4.0, seg.y - 6.0, "dev-label", label(seg.lan)) } else { html! {} } }
            </g>
        }
    });
    let trunks = l.trunks.iter().map(|&(k, x, y0, y1)| {
        html! { <g class="trunk-g" data-lan={k.to_string()}>{ line((x, y0), (x, y1), "lan") }</g> }
    });
    let router = l.router.zip(c.router()).map(|(r, ports)| {
        let (cx, _) = r.center();
        let addrs: Vec<String> = ports.ports.iter().map(|(ip, _)| format!(".{}", ip.octets()[3])).collect();
        html! {
            <g class="router-g">
                // One port per LAN: to its piece nearest the router (a
                // LAN's pieces in other rows are joined by its trunk).
                { for (0..c.lans().len()).filter_map(|k| {
                    let seg = l.piece_near(u8::try_from(k).ok()?, (cx, r.y))?;
                    let x = if (seg.x0 + seg.x1) / 2.0 < cx { seg.x1 } else { seg.x0 };
                    Some(line((x, seg.y), (cx, r.y), "wire"))
                }) }
                { rect(r, classes!("router")) }
                { text(cx, r.y + 17.0, "pod-name", "router".into()) }
                { text(cx, r.y + 33.0, "pod-ip", format!("{} on each LAN", addrs.first().cloned().unwrap_or_default())) }
            </g>
        }
    });
    let clients = c.clients().iter().filter_map(|cl| {
        let r = *l.clients.get(&cl.id)?;
        let (cx, _) = r.center();
        Some(html! {
            <g class="client-g">
                { line((cx, r.y - 24.0), (cx, r.y), "wire") }
                { rect(r, classes!("client")) }
                { text(cx, r.y + 20.0, "pod-name", cl.name.clone()) }
                { text(cx, r.y + 38.0, "pod-ip", cl.ip.to_string()) }
            </g>
        })
    });
    html! {
        <>
            { for lans }
            { for trunks }
            { router.unwrap_or_default() }
            { for nodes }
            { for clients }
        </>
    }
}

/// The drawing.
#[function_component(Topology)]
pub fn topology(p: &TopologyProps) -> Html {
    // None: the default (readable size when wide); Some(0.0): fit.
    let zoom = use_state(|| None::<f64>);
    let row = use_memo(p.cluster.clone(), |c| Rc::new(Layout::new(c)));
    // A wide cluster is drawn in one row at a readable size and panned,
    // following the packet; "fit" shrinks rows of it into the page (the
    // overview).
    let wide = row.width > WIDE;
    let fit = wide && *zoom == Some(0.0);
    let layout = {
        let row = (*row).clone();
        use_memo((p.cluster.clone(), fit), move |(c, fit)| {
            if *fit {
                Rc::new(Layout::fit(c))
            } else {
                row
            }
        })
    };
    let layout: Rc<Layout> = (*layout).clone();
    let diagram = use_node_ref();
    let points = {
        let layout = layout.clone();
        use_memo(
            (p.cluster.clone(), p.trace.clone(), fit),
            move |(c, t, _)| {
                t.as_ref()
                    .map(|t| layout.hop_points(c, &t.hops))
                    .unwrap_or_default()
            },
        )
    };
    let l = &*layout;
    let packet = p.trace.as_ref().and_then(|t| {
        let step = p.step.min(points.len().checked_sub(1)?);
        let (x, y) = points[step];
        let mut trail: Vec<String> = Vec::with_capacity(step + 2);
        for (i, &(x, y)) in points[..=step].iter().enumerate() {
            // Between a bridge port and routing the packet runs along the
            // bridge, then up (or down) its wire, as drawn.
            let elbow = i.checked_sub(1).and_then(|j| {
                let (px, py) = points[j];
                match (t.hops.get(j)?.place, t.hops.get(i)?.place) {
                    (Place::Bridge(_), Place::Node(_)) => Some((x, py)),
                    (Place::Node(_), Place::Bridge(_)) => Some((px, y)),
                    _ => None,
                }
            });
            if let Some((ex, ey)) = elbow {
                trail.push(format!("{ex},{ey}"));
            }
            trail.push(format!("{x},{y}"));
        }
        let end = step + 1 == points.len();
        let dropped = end && matches!(t.verdict, Verdict::Dropped { .. });
        // Inside VXLAN the packet is drawn wrapped: a ring around the dot.
        let wrapped = t.hops.get(step).is_some_and(|h| h.outer.is_some());
        let glide = 700 / p.speed.max(1);
        // In the overview the packet keeps about its size on screen.
        let grow = if fit { (l.width / 740.0).max(1.0) } else { 1.0 };
        Some(html! {
            <g class="packet-g">
                <polyline points={trail.join(" ")} class="trail" vector-effect="non-scaling-stroke" />
                <circle cx="0" cy="0" r={(9.0 * grow).to_string()} vector-effect="non-scaling-stroke" class={classes!("packet", dropped.then_some("dropped"), wrapped.then_some("encapsulated"))}
                    style={format!("transform: translate({x}px, {y}px); transition: transform {glide}ms ease-in-out")} />
                { if dropped { text(x + 12.0, y - 10.0, "drop-label", "✗ dropped".into()) } else { html!{} } }
            </g>
        })
    });
    let scale = match *zoom {
        Some(z) if wide => Some(z),
        None if wide => Some(1.0),
        _ => None,
    };
    {
        // Follow the packet whenever the box scrolls: a wide cluster, or
        // any cluster on a phone (where the drawing keeps its size).
        let (diagram, width) = (diagram.clone(), l.width);
        let x = p.trace.as_ref().and_then(|_| {
            points
                .get(p.step.min(points.len().saturating_sub(1)))
                .map(|pt| pt.0)
        });
        use_effect_with(
            (x.map(|x| x as i64), scale.map(|s| (s * 100.0) as i64)),
            move |(x, _)| {
                if let (Some(x), Some(el)) = (x, diagram.cast::<web_sys::Element>()) {
                    let (full, shown) =
                        (f64::from(el.scroll_width()), f64::from(el.client_width()));
                    if full > shown {
                        let left = (*x as f64 * full / width - shown / 2.0).max(0.0);
                        el.set_scroll_left(left as i32);
                    }
                }
            },
        );
    }
    let zoom_button = |label: &'static str, to: Option<f64>| {
        let zoom = zoom.clone();
        let on = *zoom == to || (to == Some(1.0) && zoom.is_none());
        html! {
            <button type="button" class="zoom" aria-pressed={on.to_string()} id={format!("zoom-{}", label.trim_end_matches('%'))}
                onclick={Callback::from(move |_: MouseEvent| zoom.set(to))}>{ label }</button>
        }
    };
    // Drawn at a scale (not "fit", which is 0): a box to pan.
    let panned = scale.is_some_and(|s| s > 0.0);
    let size = match scale {
        Some(s) if panned => format!("width: {}px; max-width: none", (l.width * s).round()),
        // Fit is the whole drawing in the box, on a phone too.
        _ if fit => "max-width: 100%".into(),
        _ => String::new(),
    };
    // One box for the zoom bar and the drawing: one grid item wherever the
    // drawing is placed (beside the player, it would else take two cells).
    html! {
        <div class="drawing">
        { if wide { html! {
            <div class="zoom-bar" role="group" aria-label="zoom">
                { format!("{} nodes: ", p.cluster.nodes().len()) }
                { zoom_button("fit", Some(0.0)) }{ zoom_button("50%", Some(0.5)) }{ zoom_button("100%", Some(1.0)) }
                <span class="muted">{ " — scroll sideways; the view follows the packet" }</span>
            </div>
        } } else { html! {} } }
        // A panned box is a region the keyboard can scroll (Tab to it, then the arrow keys).
        <div class={classes!("diagram", panned.then_some("pan"))} ref={diagram}
            tabindex={panned.then_some("0")}
            role={panned.then_some("region")}
            aria-label={panned.then_some("cluster diagram, scrolls sideways")}>
        <svg class="topology" viewBox={format!("0 0 {} {}", l.width, l.height)} width={l.width.to_string()} height={l.height.to_string()} role="img"
            style={size}
            aria-label="cluster diagram" preserveAspectRatio="xMidYMin meet">
            <Drawing cluster={p.cluster.clone()} layout={layout.clone()} />
            { packet.unwrap_or_default() }
        </svg>
        </div>
        </div>
    }
}

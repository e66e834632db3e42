//! One hop's headers as tables, with what changed since the hop before marked.

use podnet_core::forward::{Encap, FrameRepr, L4Repr};
use podnet_core::topology::vxlan;
use yew::prelude::*;

/// Props: the frame at a hop and at the hop before.
#[derive(Properties, PartialEq)]
pub struct HeadersProps {
    /// Headers at this hop.
    pub frame: FrameRepr,
    /// Headers at the previous hop, to mark rewrites.
    #[prop_or_default]
    pub before: Option<FrameRepr>,
    /// The outer headers while the frame is inside VXLAN.
    #[prop_or_default]
    pub outer: Option<Encap>,
    /// The outer headers at the previous hop.
    #[prop_or_default]
    pub outer_before: Option<Encap>,
}

fn row(name: &str, now: String, was: Option<String>) -> Html {
    let changed = was.as_ref().is_some_and(|w| *w != now);
    let title = was.filter(|_| changed).map(|w| format!("was {w}"));
    html! {
        <tr class={classes!(changed.then_some("changed"))} title={title}>
            <th>{ name }</th><td>{ now }</td>
        </tr>
    }
}

fn l4_rows(l4: &L4Repr, before: Option<&L4Repr>) -> Vec<(&'static str, String, Option<String>)> {
    let ports = |l: &L4Repr| l.ports();
    let was = |f: fn((u16, u16)) -> u16| before.and_then(ports).map(|p| f(p).to_string());
    match *l4 {
        L4Repr::IcmpEcho { request, id, seq } => vec![
            (
                "ICMP",
                if request {
                    "echo request (8)"
                } else {
                    "echo reply (0)"
                }
                .to_string(),
                None,
            ),
            ("id / seq", format!("{id} / {seq}"), None),
        ],
        L4Repr::Icmp {
            icmp_type, code, ..
        } => vec![("ICMP", format!("type {icmp_type} code {code}"), None)],
        L4Repr::Udp { src_port, dst_port } => vec![
            ("UDP src port", src_port.to_string(), was(|p| p.0)),
            ("UDP dst port", dst_port.to_string(), was(|p| p.1)),
        ],
        L4Repr::Tcp {
            src_port,
            dst_port,
            flags,
            seq,
            ..
        } => {
            let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
            let set: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| flags & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            vec![
                ("TCP src port", src_port.to_string(), was(|p| p.0)),
                ("TCP dst port", dst_port.to_string(), was(|p| p.1)),
                (
                    "TCP flags / seq",
                    format!("{} / {seq}", set.join(",")),
                    None,
                ),
            ]
        }
        L4Repr::Unknown { protocol } => vec![("IP protocol", protocol.to_string(), None)],
    }
}

/// A MAC; the zero one is "not yet known" (before ARP answers).
fn mac_text(m: podnet_core::net::MacAddr) -> String {
    if m == podnet_core::net::MacAddr::default() {
        "— (ARP comes next)".into()
    } else {
        m.to_string()
    }
}

/// One frame's Ethernet, IPv4 and transport rows, under `prefix` ("" or "Outer ").
fn frame_rows(prefix: &str, f: &FrameRepr, b: Option<&FrameRepr>) -> Html {
    let l4 = l4_rows(&f.l4, b.map(|b| &b.l4));
    html! {
        <>
            <tr class="layer"><th colspan="2">{ format!("{prefix}Ethernet") }</th></tr>
            { row("src MAC", f.src_mac.to_string(), b.map(|b| b.src_mac.to_string())) }
            { row("dst MAC", mac_text(f.dst_mac), b.map(|b| mac_text(b.dst_mac))) }
            <tr class="layer"><th colspan="2">{ format!("{prefix}IPv4") }</th></tr>
            { row("src", f.src.to_string(), b.map(|b| b.src.to_string())) }
            { row("dst", f.dst.to_string(), b.map(|b| b.dst.to_string())) }
            { row("TTL", f.ttl.to_string(), b.map(|b| b.ttl.to_string())) }
            { row("id", f.ident.to_string(), None) }
            <tr class="layer"><th colspan="2">{ format!("{prefix}Transport") }</th></tr>
            { for l4.into_iter().map(|(n, v, w)| row(n, v, w)) }
        </>
    }
}

/// Ethernet, IPv4 and transport header tables; inside VXLAN, the outer
/// headers first (the underlay's addresses) and the pod's frame nested in them.
#[function_component(Headers)]
pub fn headers(p: &HeadersProps) -> Html {
    let inner = frame_rows("", &p.frame, p.before.as_ref());
    let Some(e) = p.outer else {
        return html! { <table class="headers"><tbody>{ inner }</tbody></table> };
    };
    let was = p.outer_before.map(|o| o.outer);
    html! {
        <table class="headers encapsulated">
            <tbody class="outer">
                { frame_rows("Outer ", &e.outer, was.as_ref()) }
                <tr class="layer"><th colspan="2">{ "VXLAN" }</th></tr>
                { row("VNI", e.vni.to_string(), None) }
                { row("added", format!("{} bytes (inner Ethernet 14 + VXLAN 8 + UDP 8 + IPv4 20)", vxlan::OVERHEAD), None) }
            </tbody>
            <tbody class="inner">
                <tr class="layer nested"><th colspan="2">{ "Inside: the pod's frame" }</th></tr>
                { inner }
            </tbody>
        </table>
    }
}

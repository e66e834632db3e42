//! The real app mounted in headless Chromium: click through it and read the DOM.
//! Run with `cargo test -p podnet-web --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]

use podnet_core::forward::{FrameRepr, Network, Place, ProbeKind, Trace, Verdict};
use podnet_core::topology::{scenario, Backend, Cluster};
use podnet_web::components::headers::{Headers, HeadersProps};
use podnet_web::components::joins::{Observed, ObservedProps};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, Event, EventInit, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Core's trace of a ping from `from` to `to` in `c`: what the page must
/// show hop for hop (the count is core's, not a copy of today's layout).
fn core_ping(c: &Cluster, from: &str, to: &str) -> Trace {
    let net = Network::new(c).unwrap();
    let a = c.endpoint_named(from).unwrap();
    let b = c.address_of(c.endpoint_named(to).unwrap()).unwrap();
    net.probe(a, b, ProbeKind::Ping).unwrap()
}

mod common;

use common::{click, count, find, mount, settle, text, until};

/// The text of `sel` once it equals `want`.
async fn text_becomes(root: &Element, sel: &str, want: &str) -> String {
    until(&format!("{sel} to read {want:?}"), || {
        text(root, sel) == want
    })
    .await;
    text(root, sel)
}

#[wasm_bindgen_test]
async fn every_scene_opens_from_its_tab() {
    let root = mount();
    settle().await;
    assert_eq!(count(&root, "nav button.tab"), 13);
    for key in [
        "a", "b", "b2", "c", "d", "e", "f", "f2", "g", "g2", "h", "i", "j",
    ] {
        click(&root, &format!("#tab-{key}")).await;
        assert!(
            root.query_selector(&format!("#scene-{key}"))
                .unwrap()
                .is_some(),
            "scene {key}"
        );
        assert!(text(&root, "#scene-title").starts_with(&format!("{key}.")));
    }
    click(&root, "#tab-a").await;
}

#[wasm_bindgen_test]
async fn the_overlay_scene_drops_with_host_gw_and_nests_headers_with_vxlan() {
    let root = mount();
    settle().await;
    click(&root, "#tab-f2").await;
    click(&root, "#backend-host-gw").await;
    assert!(text(&root, "#overlay-why").contains("Nexthop has invalid gateway"));
    let dropped = core_ping(&scenario::routed(Backend::HostGw), "pod-a", "pod-c");
    assert!(matches!(
        dropped.verdict,
        Verdict::Dropped {
            at: Place::Node(_),
            ..
        }
    ));
    assert_eq!(
        count(&root, "li.hop") as usize,
        dropped.hops.len(),
        "every hop to the drop at node1's routing"
    );
    assert!(text(&root, "#overlay-tally").contains("pod↔pod 8/20"));
    click(&root, "#backend-vxlan").await;
    assert!(text(&root, "#vtep-entries")
        .contains("bridge fdb 0e:50:c0:a8:02:0c dev podnet.1 dst 192.168.2.12"));
    assert!(text(&root, "#overlay-tally").contains("pod↔pod 20/20"));
    let tunnelled = core_ping(&scenario::routed(Backend::Vxlan), "pod-a", "pod-c");
    assert_eq!(count(&root, "li.hop") as usize, tunnelled.hops.len());
    assert!(
        count(&root, "span.encap-tag") >= 8,
        "hops inside VXLAN are marked"
    );
    // The drawing has two LANs and a router, and a VTEP on every node.
    assert_eq!(count(&root, "g.lan-g"), 2);
    assert_eq!(count(&root, "g.router-g"), 1);
    assert_eq!(count(&root, "g.vtep-g"), 3);
    // Seek to the first hop on the LAN: its headers are nested.
    let lan = (0..tunnelled.hops.len())
        .find(|i| text(&root, &format!("li.hop[data-hop=\"{i}\"] .place")).starts_with("LAN"))
        .expect("a LAN hop");
    click(&root, &format!("li.hop[data-hop=\"{lan}\"] summary")).await;
    let headers = text(&root, "li.hop.current table.headers.encapsulated");
    assert!(
        headers.contains("Outer IPv4") && headers.contains("192.168.2.12"),
        "{headers}"
    );
    assert!(
        headers.contains("Inside: the pod's frame") && headers.contains("10.244.2.2"),
        "{headers}"
    );
    assert!(headers.contains("VNI1"), "{headers}");
    click(&root, "#tab-a").await;
}

#[wasm_bindgen_test]
async fn the_cross_node_packet_steps_and_plays_to_delivery_without_nat() {
    let root = mount();
    settle().await;
    click(&root, "#tab-f").await;
    let n = core_ping(&scenario::demo(), "pod-a", "pod-c").hops.len();
    assert_eq!(count(&root, "li.hop") as usize, n);
    assert_eq!(text(&root, "#hop-counter"), format!("hop 1/{n}"));
    click(&root, "#btn-step").await;
    let got = text_becomes(&root, "#hop-counter", &format!("hop 2/{n}")).await;
    assert_eq!(
        got,
        format!("hop 2/{n}"),
        "url {:?} title {:?}",
        gloo::utils::window().location().search(),
        text(&root, "#scene-title")
    );
    click(&root, "#btn-back").await;
    assert_eq!(text(&root, "#hop-counter"), format!("hop 1/{n}"));
    let speed = find(&root, "#speed")
        .dyn_into::<web_sys::HtmlSelectElement>()
        .unwrap();
    speed.set_value("8");
    change(&speed).await;
    click(&root, "#btn-play").await;
    until("the verdict at the last hop", || {
        root.query_selector("#verdict").unwrap().is_some()
    })
    .await;
    assert_eq!(text(&root, "#hop-counter"), format!("hop {n}/{n}"));
    let verdict = text(&root, "#verdict");
    assert!(
        verdict.contains("Delivered to default/pod-c") && verdict.contains("no NAT"),
        "{verdict}"
    );
    assert_eq!(count(&root, "circle.packet"), 1);
}

#[wasm_bindgen_test]
async fn the_matrix_turns_green_with_the_cluster_network() {
    let root = mount();
    settle().await;
    click(&root, "#tab-d").await;
    let before = count(&root, "td.cell.bad");
    assert!(before > 0, "without a cluster network some pairs fail");
    assert_eq!(count(&root, "li.req.bad"), 3);
    click(&root, "#btn-network").await;
    assert_eq!(count(&root, "td.cell.bad"), 0);
    assert_eq!(count(&root, "td.cell.ok"), 36);
    assert_eq!(count(&root, "li.req.ok"), 3);
    click(&root, "#btn-network").await;
    assert_eq!(count(&root, "td.cell.bad"), before);
}

async fn change(el: &Element) {
    let init = EventInit::new();
    init.set_bubbles(true);
    el.dispatch_event(&Event::new_with_event_init_dict("change", &init).unwrap())
        .unwrap();
    settle().await;
}

#[wasm_bindgen_test]
async fn bad_sandbox_input_shows_an_error_and_the_app_keeps_working() {
    let root = mount();
    settle().await;
    click(&root, "#tab-h").await;
    assert!(root.query_selector("#sb-error").unwrap().is_none());
    let cidr = find(&root, "#sb-cidr")
        .dyn_into::<HtmlInputElement>()
        .unwrap();
    cidr.set_value("10.244.0.0/33");
    change(&cidr).await;
    assert!(
        text(&root, "#sb-error").contains("/33"),
        "{}",
        text(&root, "#sb-error")
    );
    let prefix = find(&root, "#sb-prefix")
        .dyn_into::<HtmlInputElement>()
        .unwrap();
    let cidr = find(&root, "#sb-cidr")
        .dyn_into::<HtmlInputElement>()
        .unwrap();
    cidr.set_value("10.244.0.0/16");
    change(&cidr).await;
    prefix.set_value("30");
    change(&prefix).await;
    assert!(
        text(&root, "#sb-error").contains("no free address"),
        "{}",
        text(&root, "#sb-error")
    );
    prefix.set_value("24");
    change(&prefix).await;
    assert!(root.query_selector("#sb-error").unwrap().is_none());
    click(&root, "#sb-add-node").await;
    assert_eq!(count(&root, "g.node-g"), 4);
    assert!(count(&root, "li.hop") > 0, "a trace is shown again");
}

#[wasm_bindgen_test]
async fn recreating_a_pod_shows_its_new_address() {
    let root = mount();
    settle().await;
    click(&root, "#tab-b").await;
    click(&root, "#btn-recreate").await;
    let t = text(&root, "#recreate-result");
    assert!(
        t.contains("it had 10.244.0.2, now it has 10.244.0.5"),
        "{t}"
    );
}

#[wasm_bindgen_test]
async fn headers_mark_what_changed_since_the_previous_hop() {
    let doc = gloo::utils::document();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    let before: FrameRepr =
        ProbeKind::Udp(53).frame("10.244.1.2".parse().unwrap(), "10.244.2.2".parse().unwrap());
    let mut after = before;
    after.ttl -= 1;
    after.src = "192.168.1.11".parse().unwrap();
    yew::Renderer::<Headers>::with_root_and_props(
        root.clone(),
        HeadersProps {
            frame: after,
            before: Some(before),
            outer: None,
            outer_before: None,
        },
    )
    .render();
    settle().await;
    assert_eq!(count(&root, "tr.changed"), 2, "TTL and source");
    assert_eq!(
        find(&root, "tr.changed").get_attribute("title").as_deref(),
        Some("was 10.244.1.2")
    );
}

#[wasm_bindgen_test]
async fn the_comparison_marks_every_place_where_model_and_kernel_differ() {
    use podnet_core::forward::capture::{compare, observable};
    use podnet_core::forward::{Hop, Network, Step, Trace};
    use podnet_core::topology::{scenario, Endpoint};
    use podnet_web::components::compare::{CompareProps, CompareTable};
    use std::rc::Rc;

    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let (a, pc) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
    let model = net
        .probe(Endpoint::Pod(a.id), pc.ip, ProbeKind::Ping)
        .unwrap();
    // A "capture" of the same path in which node2 did not lower the TTL.
    let seen = observable(&model);
    let n = seen.len();
    let hops: Vec<Hop> = seen
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut frame = s.frame;
            if i >= n - 3 {
                frame.ttl += 1;
            }
            Hop {
                place: s.place,
                step: Step::CrossVeth,
                frame,
                outer: None,
            }
        })
        .collect();
    let kernel = Trace {
        hops,
        ..model.clone()
    };
    let props = CompareProps {
        cmp: Rc::new(compare(&model, &kernel)),
        cluster: Rc::new(c.clone()),
    };
    let root = gloo::utils::document().create_element("div").unwrap();
    gloo::utils::document()
        .body()
        .unwrap()
        .append_child(&root)
        .unwrap();
    yew::Renderer::<CompareTable>::with_root_and_props(root.clone(), props).render();
    settle().await;
    assert_eq!(count(&root, "#live-compare tbody tr"), n as u32);
    assert_eq!(count(&root, "#live-compare tr.differs"), 3);
    assert_eq!(
        text(&root, "#live-compare-summary"),
        format!("Model and kernel differ at 3 of {n} places.")
    );
    assert!(text(&root, "#live-compare tr.differs").contains("✗ ttl"));
}

#[wasm_bindgen_test]
async fn the_join_scene_steps_from_not_ready_to_ready() {
    let root = mount();
    settle().await;
    click(&root, "#tab-j").await;
    assert_eq!(text(&root, "#join-position"), "step 1 of 8");
    assert_eq!(
        count(&root, ".join-node.not-ready"),
        1,
        "only node1 registered"
    );
    for _ in 0..7 {
        click(&root, "#join-next").await;
    }
    assert_eq!(text(&root, "#join-position"), "step 8 of 8");
    assert_eq!(count(&root, ".join-node.ready"), 2);
    assert!(text(&root, ".join-node[data-node='node2']").contains("10.244.1.0/24"));
}

#[wasm_bindgen_test]
async fn observed_joins_are_checked_against_the_ranges_node_ipam_would_give() {
    use podnet_core::lab_api::NodeJoinView;
    let doc = gloo::utils::document();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    let join = |name: &str, at: u64, cidr: &str| NodeJoinView {
        name: name.into(),
        registered_ms: Some(at),
        range_ms: Some(at + 100),
        pod_cidr: Some(cidr.into()),
        cni_config_ms: Some(at + 5000),
        ready_ms: Some(at + 7000),
        not_ready_message: Some(podnet_core::join::NOT_READY_MESSAGE.into()),
        given_back_before: 0,
    };
    // node2 registered first, so node IPAM gave it the first range; node1's is wrong on purpose.
    let joins = vec![
        join("node1", 900, "10.244.7.0/24"),
        join("node2", 800, "10.244.0.0/24"),
    ];
    yew::Renderer::<Observed>::with_root_and_props(
        root.clone(),
        ObservedProps {
            joins,
            cluster: std::rc::Rc::new(podnet_core::topology::scenario::demo()),
        },
    )
    .render();
    settle().await;
    assert!(text(&root, "tr[data-node='node2'] .prediction").contains("10.244.0.0/24 ✓"));
    assert!(text(&root, "tr[data-node='node1'] .prediction").contains("10.244.1.0/24 ≠"));
    assert!(text(&root, ".message").contains("the model's words too"));
    assert_eq!(count(&root, ".given-back"), 0);

    // Node IPAM gave a range back before node2's (a tier-3 run's lab did):
    // the model skips it too, and says why.
    let skipped = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&skipped).unwrap();
    let mut second = join("node2", 900, "10.244.2.0/24");
    second.given_back_before = 1;
    yew::Renderer::<Observed>::with_root_and_props(
        skipped.clone(),
        ObservedProps {
            joins: vec![join("node1", 800, "10.244.0.0/24"), second],
            cluster: std::rc::Rc::new(podnet_core::topology::scenario::demo()),
        },
    )
    .render();
    settle().await;
    assert!(text(&skipped, "tr[data-node='node2'] .prediction").contains("10.244.2.0/24 ✓"));
    assert!(text(&skipped, ".given-back").contains("took 1 range"));
}

//! a. In Docker an IP belongs to a container; in Kubernetes to the pod.

use yew::prelude::*;

use super::SceneProps;

/// Scene a.
pub fn pod_scene(p: &SceneProps) -> Html {
    let c = &p.model.cluster;
    let Some(web) = c.pod_named("web") else {
        return html! { <p class="error">{ "pod web is missing" }</p> };
    };
    let n = web.containers.len();
    let width = 60.0 + n as f64 * 200.0;
    html! {
        <section class="scene" id="scene-a">
            <div class="explain">
                <p>{ "In Docker an IP address is assigned to a container. In Kubernetes it is assigned to the " }<b>{ "pod" }</b>
                   { ": the containers of a pod share one network namespace, one eth0 and one address." }</p>
                <p>{ format!("Pod web has {n} containers ({}). Every one of them is reached at {}; between themselves they talk over localhost.",
                    web.containers.join(", "), web.ip) }</p>
                <p>{ format!("The address came from node {}'s range {}.",
                    c.node(web.node).map(|x| x.name.clone()).unwrap_or_default(),
                    c.node(web.node).map(|x| x.pod_range.to_string()).unwrap_or_default()) }</p>
            </div>
            <svg class="pod-drawing" viewBox={format!("0 0 {width} 220")} role="img" aria-label="a pod with its containers">
                <rect x="10" y="10" width={(width - 20.0).to_string()} height="200" rx="10" class="pod big" />
                <text x="24" y="36" class="node-name">{ format!("pod {} · network namespace · eth0 {}", web.name, web.ip) }</text>
                { for web.containers.iter().enumerate().map(|(i, name)| {
                    let x = 40.0 + i as f64 * 200.0;
                    html! {
                        <g class="container">
                            <rect x={x.to_string()} y="60" width="170" height="90" rx="6" class="container-box" />
                            <text x={(x + 85.0).to_string()} y="95" class="pod-name">{ name.clone() }</text>
                            <text x={(x + 85.0).to_string()} y="120" class="pod-ip">{ format!("reached at {}", web.ip) }</text>
                        </g>
                    }
                }) }
                <line x1="30" y1="180" x2={(width - 30.0).to_string()} y2="180" class="veth" />
                <text x="34" y="200" class="dev-label">{ format!("shared eth0 {} — one address for the whole pod", web.ip) }</text>
            </svg>
        </section>
    }
}

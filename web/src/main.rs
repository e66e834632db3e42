//! Entry point of the browser app (built by Trunk).

fn main() {
    yew::Renderer::<podnet_web::App>::new().render();
}

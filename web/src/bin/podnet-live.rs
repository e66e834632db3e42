//! The explainer with the Live scene (i) in it: what the page hands over to
//! when scene i opens (see `podnet_web::split`).

fn main() {
    podnet_web::start_with_live_lab();
}

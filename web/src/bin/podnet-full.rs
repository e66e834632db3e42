//! The explainer with every scene in it: what the page hands over to when
//! a scene after a and b opens (see `podnet_web::split`).

fn main() {
    podnet_web::start_full();
}

//! Entry point of the browser app (built by Trunk): the explainer without
//! the Live scene's code, which it fetches when that scene opens.

fn main() {
    podnet_web::start();
}

//! The `podnet` command; see `podnet --help`.

use clap::Parser;
use podnet_node::cli::{run, Cli};

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("podnet: {e}");
            std::process::exit(2);
        }
    }
}

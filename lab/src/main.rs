//! The `podnet` command; see `podnet --help`.

use clap::Parser;
use podnet_lab::cli::{run_with_status, Cli};

fn main() {
    let cli = Cli::parse();
    match run_with_status(&cli) {
        Ok((text, code)) => {
            print!("{text}");
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("podnet: {e}");
            std::process::exit(2);
        }
    }
}

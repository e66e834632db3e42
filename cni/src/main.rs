//! `podnet-cni`: the CNI plugin binary. A runtime calls it with CNI_* variables
//! and the network configuration on stdin; see the `cni` module.

use std::io::{Read, Write};

use podnet_cni::{run, Env};

fn main() {
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => run(&Env::from(|k| std::env::var(k).ok()), &stdin),
        Err(e) => podnet_cni::Outcome {
            stdout: podnet_cni::error::CniError::new(
                podnet_cni::error::Code::Io,
                "cannot read stdin",
            )
            .details(e.to_string())
            .to_json("1.1.0"),
            exit: 1,
        },
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(outcome.stdout.as_bytes());
    let _ = out.flush();
    std::process::exit(outcome.exit);
}

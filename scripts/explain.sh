#!/usr/bin/env bash
# README command 1: build podnet and explain the seed's pod network.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo run --release --quiet -p podnet-node --bin podnet -- story

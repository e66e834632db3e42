#!/usr/bin/env bash
# README command 1: build the explainer and serve it on http://127.0.0.1:8080
# with the demo cluster (node1 10.244.1.0/24, node2 10.244.2.0/24), opening a
# browser where there is a display. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true
bash scripts/install.sh web
cargo fetch --locked   # trunk builds offline
port=${PORT:-8080}
open=()
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then open=(--open); fi
echo "==> building and serving the explainer on http://127.0.0.1:$port/ (Ctrl-C to stop)"
exec trunk serve --address 127.0.0.1 --port "$port" --disable-address-lookup "${open[@]}"

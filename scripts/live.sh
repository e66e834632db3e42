#!/usr/bin/env bash
# Live mode in one command, as root: build podnet and the explainer, start a
# lab (2 nodes x 2 pods unless NODES/PODS say otherwise), and serve it with
# the explainer on http://127.0.0.1:7070/?scene=i (PORT to change). Ctrl-C
# stops the server and removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true
[ "$(id -u)" = 0 ] || { echo "live.sh: the lab needs root (network namespaces)" >&2; exit 1; }
bash scripts/install.sh web
cargo fetch --locked
echo "==> building podnet and the explainer"
cargo build --release --locked -q -p podnet-cni -p podnet-agent -p podnet-dns -p podnet-lab --bins
trunk build
bin=$PWD/target/release
lab=${LAB:-live}
port=${PORT:-7070}
"$bin/podnet" lab down --name "$lab" >/dev/null 2>&1 || true
"$bin/podnet" lab up --name "$lab" --nodes "${NODES:-2}" --pods-per-node "${PODS:-2}"
server=
stop() {
    trap - EXIT INT TERM
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    "$bin/podnet" lab down --name "$lab"
}
trap stop EXIT
trap 'exit 130' INT TERM
url="http://127.0.0.1:$port/?scene=i"
echo "==> open $url and press Connect (Ctrl-C to stop and remove the lab)"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null; then
    (sleep 1; xdg-open "$url" >/dev/null 2>&1 || true) &
fi
"$bin/podnet" lab serve --name "$lab" --listen "127.0.0.1:$port" --web dist &
server=$!
wait "$server"

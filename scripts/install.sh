#!/usr/bin/env bash
# Installs what podnet needs to build, run and test, from crates.io, Debian
# packages and npm only (see ../shared/TOOLCHAIN.md). Idempotent: every step
# checks first and skips what is already there, so a second run takes seconds.
#
#   scripts/install.sh           everything (build, web, tests)
#   scripts/install.sh web       only what the explainer needs (command 1)
set -euo pipefail
what=${1:-all}
export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1

step() { printf '==> %s\n' "$*"; }
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_updated=0
deb() {
    local missing=()
    for p in "$@"; do have_deb "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "install.sh: need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
    step "apt-get install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ! command -v cargo >/dev/null; then
    echo "install.sh: cargo not found; install Rust with rustup first" >&2
    exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    # Not --locked: its lockfile names a crate version the registry lacks.
    step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    # 0.22 needs a newer rustc than this machine's.
    step "cargo install trunk $TRUNK_VERSION (about 5 minutes)"
    cargo install trunk --version "$TRUNK_VERSION" --locked --force
fi

[ "$what" = web ] && exit 0

# Browser tests (wasm-bindgen-test, end-to-end) and network-namespace tests.
deb chromium chromium-driver iproute2 iputils-ping nftables ca-certificates
# wasm-pack runs the wasm browser tests; it finds the wasm-bindgen above and
# is given Debian's chromedriver, so it downloads nothing.
if [ "$(wasm-pack --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]; then
    step "cargo install wasm-pack $WASM_PACK_VERSION (about 4 minutes)"
    cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi
command -v npm >/dev/null || deb nodejs npm

# A real Kubernetes for the agent's API mode: etcd, containerd and runc from
# Debian, kubectl from Debian's kubernetes-client unless a kubectl is already
# installed (this machine image ships one in another package, which owns
# /usr/bin/kubectl), and the 1.20.2 server binaries built from Debian's
# source package, once, into /var/cache/podnet/kubernetes.
deb etcd-server containerd runc openssl
command -v kubectl >/dev/null || deb kubernetes-client
# The Kubernetes lab's nodes: kube-proxy's iptables and conntrack, the
# standard CNI plugins a node image carries (loopback; the reference bridge
# for the benchmarks), busybox for the test image, gcc for the pause image.
deb iptables conntrack containernetworking-plugins busybox-static gcc libc6-dev binutils
# Kubernetes' own e2e tests (tests/conformance.sh) run their commands in an
# agnhost image the lab builds from these: a POSIX sh, curl, a netcat with
# -u, dig and nslookup, ss.
deb dash curl netcat-openbsd bind9-dnsutils iproute2
# Wireshark's command line: the tests read podnet's pcap exports with it
# (VXLAN decoded, as a learner's Wireshark would).
command -v tshark >/dev/null || deb tshark
bash "$(dirname "$0")/kube-build.sh" >/dev/null

# playwright-core drives /usr/bin/chromium; it never downloads a browser.
e2e="$(dirname "$0")/../tests/e2e"
if [ ! -d "$e2e/node_modules/playwright-core" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
    step "npm ci in tests/e2e"
    (cd "$e2e" && npm ci --no-audit --no-fund --silent)
fi

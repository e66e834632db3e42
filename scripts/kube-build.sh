#!/usr/bin/env bash
# Builds the Kubernetes 1.20.2 server binaries (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy) from Debian's
# `kubernetes` source package with Debian's Go, once, into a cache outside
# the checkout. Skips when they are there, so a fresh clone on the same
# machine reuses them. No binary is downloaded: the source comes from
# Debian's archive (a deb-src list of our own, the system's apt sources are
# not touched) and every Go dependency is vendored in it.
#
#   scripts/kube-build.sh            build if missing; prints the bin dir
#   PODNET_KUBE_CACHE=DIR ...        cache elsewhere (default /var/cache/podnet/kubernetes)
#
# First build: about 5 minutes on 2 idle cores (15 on a busy machine), 2.5 GB of source tree (removed
# afterwards; the Go build cache is kept for rebuilds). Binaries: ~500 MB.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cache=${PODNET_KUBE_CACHE:-/var/cache/podnet/kubernetes}
bin="$cache/bin"
WHAT=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

step() { printf '==> %s\n' "$*" >&2; }

have_all() {
    for b in "${WHAT[@]}"; do [ -x "$bin/$b" ] || return 1; done
    "$bin/kube-apiserver" --version 2>/dev/null | grep -q 'v1.20'
}

if have_all; then
    echo "$bin"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "kube-build.sh: need root to install the build tools and write $cache" >&2
    exit 1
fi

missing=()
for p in golang-go make rsync jq dpkg-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A deb-src twin of the system's Debian entry, in a list of our own.
apt_dir="$cache/apt"
mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial"
src="$apt_dir/sources/debian-src.sources"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src"
else
    grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$apt_dir/sources/debian-src.list"
fi
apt_opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources"
          -o "Dir::State::Lists=$apt_dir/lists")

work="$cache/src"
mkdir -p "$work"
if ! ls "$work"/kubernetes_*.dsc >/dev/null 2>&1; then
    step "apt-get source kubernetes (Debian's source package, ~34 MB)"
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work" && apt-get "${apt_opts[@]}" source --download-only kubernetes >/dev/null)
fi

tree="$work/tree"
if [ ! -f "$tree/Makefile" ]; then
    step "unpack the source"
    rm -rf "$tree"
    dsc=$(ls "$work"/kubernetes_*.dsc | head -n 1)
    dpkg-source --no-check -x "$dsc" "$tree" >/dev/null
fi

# As Debian's debian/rules does: a GOPATH whose k8s.io/kubernetes is the tree.
mkdir -p "$tree/.go/src/k8s.io"
ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
targets=()
for b in "${WHAT[@]}"; do targets+=("cmd/$b"); done
step "build ${WHAT[*]} with $(go version | cut -d' ' -f3) (5 to 15 minutes the first time)"
(
    cd "$tree/.go/src/k8s.io/kubernetes"
    export GOPATH="$tree/.go" GOCACHE="$cache/gocache" CGO_ENABLED=0
    export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
    nice make WHAT="${targets[*]}" >"$cache/build.log" 2>&1
) || { echo "kube-build.sh: the build failed; see $cache/build.log" >&2; tail -20 "$cache/build.log" >&2; exit 1; }

mkdir -p "$bin"
for b in "${WHAT[@]}"; do
    install -m 0755 "$tree/_output/bin/$b" "$bin/$b"
done
# The binaries are what we keep; the 2.5 GB tree is not needed again.
rm -rf "$tree"
have_all || { echo "kube-build.sh: built, but $bin/kube-apiserver does not run" >&2; exit 1; }
echo "$bin"

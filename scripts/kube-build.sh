#!/usr/bin/env bash
# Builds the Kubernetes 1.20.2 server binaries (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy) and the
# upstream end-to-end tests (e2e.test and the agnhost test program, for
# tests/conformance.sh) from Debian's `kubernetes` source package with
# Debian's Go, once, into a cache outside the checkout. Skips when they are there, so a fresh clone on the same
# machine reuses them. No binary is downloaded: the source comes from
# Debian's archive (a deb-src list of our own, the system's apt sources are
# not touched) and every Go dependency is vendored in it.
#
#   scripts/kube-build.sh            build if missing; prints the bin dir
#   PODNET_KUBE_CACHE=DIR ...        cache elsewhere (default /var/cache/podnet/kubernetes)
#
# First build: about 5 minutes on 2 idle cores for the servers and 15 more
# for e2e.test (twice that on a busy machine), 4 GB of source tree and Go
# cache while building (removed afterwards). Binaries: ~600 MB. A cache
# holding the servers but not e2e.test (from before the e2e tests were
# added) builds only the missing ones.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

cache=${PODNET_KUBE_CACHE:-/var/cache/podnet/kubernetes}
bin="$cache/bin"
SERVERS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# Their make targets. kubectl 1.20 is built for e2e.test, which runs it and
# expects its own version (the machine's kubectl may be far newer).
declare -A TARGET=([e2e.test]=test/e2e/e2e.test [agnhost]=test/images/agnhost [kubectl]=cmd/kubectl)
for b in "${SERVERS[@]}"; do TARGET[$b]=cmd/$b; done
WHAT=("${SERVERS[@]}" kubectl e2e.test agnhost)

step() { printf '==> %s\n' "$*" >&2; }

have() { [ -x "$bin/$1" ] && [ -s "$bin/$1" ]; }

have_all() {
    for b in "${WHAT[@]}"; do have "$b" || return 1; done
    # agnhost's porter serves TLS with these; the image build takes them from here.
    [ -s "$bin/porter/localhost.crt" ] || return 1
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
build=()
targets=()
for b in "${WHAT[@]}"; do
    have "$b" && continue
    build+=("$b")
    targets+=("${TARGET[$b]}")
done
if [ ${#build[@]} -gt 0 ]; then
    step "build ${build[*]} with $(go version | cut -d' ' -f3) (5 to 30 minutes the first time; log: $cache/build.log)"
    (
        cd "$tree/.go/src/k8s.io/kubernetes"
        export GOPATH="$tree/.go" GOCACHE="$tree/.gocache" CGO_ENABLED=0
        export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
        nice make WHAT="${targets[*]}" >"$cache/build.log" 2>&1
    ) || { echo "kube-build.sh: the build failed; see $cache/build.log" >&2; tail -20 "$cache/build.log" >&2; exit 1; }
fi

mkdir -p "$bin/porter"
for b in "${build[@]}"; do
    install -m 0755 "$tree/_output/bin/$b" "$bin/$b"
done
install -m 0644 "$tree"/test/images/agnhost/porter/localhost.{crt,key} "$bin/porter/"
# The binaries are what we keep; the 4 GB tree and Go cache are not needed again.
rm -rf "$tree"
have_all || { echo "kube-build.sh: built, but $bin/kube-apiserver does not run" >&2; exit 1; }
echo "$bin"

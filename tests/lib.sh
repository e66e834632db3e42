# Shared by the benchmark scripts (sourced, not run): the checks and the
# build each of them starts with.

# bench_setup SCRIPT [COMMAND PACKAGE]...: runs from the repository root,
# insists on root, installs PACKAGE from Debian when COMMAND (a name on PATH
# or a file path) is missing, builds the release binaries (podnet, podnet-agent, podnet-cni) and sets
# $bin to their directory.
bench_setup() {
    local script=$1
    shift
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    export PATH="$HOME/.cargo/bin:$PATH"
    [ "$(id -u)" = 0 ] || { echo "$script: run as root (it creates network namespaces)" >&2; exit 1; }
    while [ $# -ge 2 ]; do
        if ! command -v "$1" >/dev/null && [ ! -x "$1" ]; then
            echo "==> apt-get install $2"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
        fi
        shift 2
    done
    echo "==> cargo build --release podnet, podnet-agent, podnet-cni"
    cargo build --release --quiet -p podnet-cni -p podnet-agent -p podnet-dns -p podnet-lab --bins
    bin=${CARGO_TARGET_DIR:-$PWD/target}/release
}

# iperf3 between two lab members. With two or more CPUs the client runs on
# CPU 0 and the server on CPU 1 for every path (iperf3 -A): left to the
# scheduler, the two sometimes share a CPU and sometimes not, which moves
# one run by more than the differences measured. UNPINNED=1 leaves
# placement to the scheduler.
pin=()
[ "$(nproc)" -ge 2 ] && [ -z "${UNPINNED:-}" ] && pin=(-A 0,1)
# run_iperf LAB SERVER CLIENT SERVER-IP: received bit/s of a 3 s TCP run.
run_iperf() {
    "$bin/podnet" lab --name "$1" exec "$2" -- iperf3 -s -1 -D -p 5201 >/dev/null
    sleep 0.3
    "$bin/podnet" lab --name "$1" exec "$3" -- iperf3 -c "$4" -p 5201 -t 3 "${pin[@]}" -J \
        | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
# median N...: the middle value.
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

# kube_bench_lab PREFIX: `podnet lab up --kubernetes` (2 nodes x 2 Pods)
# named PREFIX<pid>, for a benchmark; sets $lab, $dir and $work, defines
# now (ns), kc (kubectl in the control plane's namespace), ex (lab exec)
# and pod_on NODE (a web Pod there: name and IP); on exit, stops an iperf3
# server whose pid is in $work/iperf.pid and takes the lab down.
kube_bench_lab() {
    lab=$1$$
    dir=/run/podnet-lab/$lab
    work=$(mktemp -d)
    trap kube_bench_lab_down EXIT
    # Ctrl-C or kill: exit, so the EXIT trap takes the lab down.
    trap 'exit 130' INT TERM
    echo "==> podnet lab up --kubernetes --nodes 2 --pods-per-node 2"
    "$bin/podnet" lab up --kubernetes --name "$lab" --nodes 2 --pods-per-node 2 >/dev/null 2>"$work/up.log"
}
kube_bench_lab_down() {
    [ -s "$work/iperf.pid" ] && kill "$(cat "$work/iperf.pid")" 2>/dev/null
    "$bin/podnet" lab down --name "$lab" >/dev/null 2>&1 || true
    rm -rf "$work"
}
now() { date +%s%N; }
kc() { ip netns exec "$lab-cp" kubectl --kubeconfig "$dir/cp/kubeconfig" "$@"; }
ex() { "$bin/podnet" lab --name "$lab" exec "$@"; }
pod_on() { kc get pods -l app=web -o jsonpath="{range .items[?(@.spec.nodeName==\"$1\")]}{.metadata.name} {.status.podIP}{\"\\n\"}{end}" | head -1; }

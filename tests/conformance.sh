#!/usr/bin/env bash
# Kubernetes 1.20's own end-to-end tests (e2e.test, built from Debian's
# source package by scripts/kube-build.sh) against a podnet Kubernetes lab.
#
#   tests/conformance.sh [FOCUS]     FOCUS: a ginkgo regular expression
#                                    (default: $CI_FOCUS below, what .ci/run runs)
#   LIST=1 tests/conformance.sh F    only list what F selects (no lab)
#
# Brings up `podnet lab up --kubernetes --e2e-images`, runs e2e.test from
# the control plane's namespace (where kubectl and the API server are),
# prints one line per test (result, seconds, name) and, last,
# `N passed, M failed`; the lab always comes down, also after a failure or
# Ctrl-C. Exits 0 only when every selected test passed. The junit report
# and the whole log stay in $OUT (default /tmp/podnet-conformance).
#
# Offline, every `[sig-network] Networking` test first fetches
# http://google.com from e2e.test itself ("not really a test of
# Kubernetes"). It is answered on loopback inside the control plane's
# namespace only (/etc/netns/NAME/hosts, which `ip netns exec` mounts over
# /etc/hosts, and busybox httpd on 127.0.0.1:80 there): nothing leaves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The tests a CNI decides: the Networking Granular Checks (pod ↔ pod,
# node → pod, pod and node → Service, over HTTP and UDP), the
# [Conformance] tests of Services (ClusterIP, NodePort, hairpin, session
# affinity, endpoints), DNS and the API server's proxy to pods and
# Services, and the hostPort test that sends traffic (1.20 files it under
# sig-scheduling, [Serial]: this script runs one test at a time; its twin
# "there exists conflict" is the scheduler's alone and waits 5 minutes for
# a Pod that must stay Pending).
CI_FOCUS='\[sig-network\] (Networking Granular Checks|(Services|DNS|Proxy) .*\[Conformance\])|\[sig-scheduling\] SchedulerPredicates .*no conflict between pods with same hostPort'
# Tests that break the cluster for the others or need what the lab has
# not (upstream's conformance runs skip these too), slow variants of tests
# that run anyway, and SCTP (its module is not in every kernel).
SKIP='\[Disruptive\]|\[Flaky\]|\[Slow\]|SCTP'
focus=${1:-$CI_FOCUS}
# Feature tests need what a cluster may not have, unless asked for by name
# (tests/conformance.sh '\[Feature:NetworkPolicy\]').
case "$focus" in *Feature:*) ;; *) SKIP="$SKIP|\\[Feature:" ;; esac
lab=${PODNET_CONFORMANCE_LAB:-conf}
out=${OUT:-/tmp/podnet-conformance}
kube=${PODNET_KUBE_BIN:-/var/cache/podnet/kubernetes/bin}
bin=${CARGO_TARGET_DIR:-$PWD/target}/debug
limit=${PODNET_CONFORMANCE_TIMEOUT:-3600}

die() { echo "conformance.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (the lab is made of network namespaces)"
for b in e2e.test kubectl agnhost kube-apiserver; do
    [ -x "$kube/$b" ] || die "$kube/$b is missing: run bash scripts/kube-build.sh (builds e2e.test, kubectl and agnhost beside the servers, ~20 min once)"
done

e2e_args=(--provider=skeleton --kubectl-path="$kube/kubectl" --minStartupPods=0
          --disable-log-dump --ginkgo.noColor "--ginkgo.focus=$focus" "--ginkgo.skip=$SKIP")

# What the focus selects, without a cluster: a focus that matches nothing
# is an error here, not an empty green run.
selected=$("$kube/e2e.test" "${e2e_args[@]}" --ginkgo.dryRun --ginkgo.v 2>/dev/null \
    | sed -n 's/^Ran \([0-9]*\) of [0-9]* Specs.*/\1/p' | tail -n 1)
[ -n "$selected" ] || die "e2e.test --ginkgo.dryRun did not run; try: $kube/e2e.test --ginkgo.dryRun --ginkgo.focus='$focus'"
[ "$selected" -gt 0 ] || die "the focus '$focus' selects no test (skipping '$SKIP'); list them with: $kube/e2e.test --ginkgo.dryRun --ginkgo.v --ginkgo.focus=REGEX"
if [ -n "${LIST:-}" ]; then
    "$kube/e2e.test" "${e2e_args[@]}" --ginkgo.dryRun 2>/dev/null \
        | sed -n 's/^.*{"msg":"PASSED \(.*\)","total".*/\1/p' | sort
    echo "$selected tests"
    exit 0
fi
[ -x "$bin/podnet" ] || die "$bin/podnet is missing: cargo build --workspace --bins"

cp_ns="$lab-cp"
httpd_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null
    rm -rf "/etc/netns/$cp_ns"
    echo "==> podnet lab down --name $lab"
    "$bin/podnet" lab --name "$lab" down >/dev/null 2>&1 || echo "conformance.sh: lab down failed; run: $bin/podnet lab --name $lab down" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$out"
mkdir -p "$out/report" "$out/www"
start=$(date +%s)
echo "==> podnet lab up --kubernetes --e2e-images --name $lab (about a minute; log: $out/lab.log)"
"$bin/podnet" lab --name "$lab" down >/dev/null 2>&1 || true
if ! "$bin/podnet" lab --name "$lab" up --kubernetes --e2e-images >"$out/lab.log" 2>&1; then
    tail -n 20 "$out/lab.log" >&2
    die "the lab did not come up (whole log: $out/lab.log)"
fi

mkdir -p "/etc/netns/$cp_ns"
printf '127.0.0.1 localhost\n127.0.0.1 google.com www.google.com\n' >"/etc/netns/$cp_ns/hosts"
echo ok >"$out/www/index.html"
ip netns exec "$cp_ns" ip link set lo up
ip netns exec "$cp_ns" busybox httpd -f -p 127.0.0.1:80 -h "$out/www" &
httpd_pid=$!

kubeconfig=$("$bin/podnet" lab --name "$lab" kubeconfig --in-namespace)
[ -f "$kubeconfig" ] || die "no kubeconfig for lab $lab"
echo "==> e2e.test: $selected tests (--ginkgo.focus='$focus'); log: $out/e2e.log"
set +e
ip netns exec "$cp_ns" timeout --foreground "$limit" "$kube/e2e.test" "${e2e_args[@]}" \
    --kubeconfig="$kubeconfig" --report-dir="$out/report" >"$out/e2e.log" 2>&1
rc=$?
set -e
[ "$rc" = 124 ] && echo "conformance.sh: e2e.test ran longer than ${limit} s and was stopped" >&2

# One line per test that ran, from the junit report ginkgo writes.
report=$(ls "$out"/report/junit*.xml 2>/dev/null | head -n 1)
[ -n "$report" ] || { tail -n 30 "$out/e2e.log" >&2; die "e2e.test wrote no report (log: $out/e2e.log)"; }
awk '
    /<testcase / {
        match($0, /name="[^"]*"/); name = substr($0, RSTART + 6, RLENGTH - 7)
        match($0, /time="[^"]*"/); t = substr($0, RSTART + 6, RLENGTH - 7)
        result = "pass"; open = 1
        if ($0 ~ /\/>|<\/testcase>/) { open = 0; print_it() }
        next
    }
    # A test the focus left out is "skipped" in no time; one that ran and
    # skipped itself (an upstream known issue) took some.
    open && /<skipped/ { result = (t + 0 > 0) ? "skip" : "out" }
    open && /<failure/ { result = "FAIL" }
    open && /<\/testcase>/ { open = 0; print_it() }
    function print_it() {
        if (result == "out") return
        gsub(/&#39;/, "\x27", name); gsub(/&quot;/, "\"", name); gsub(/&amp;/, "\\&", name)
        gsub(/&lt;/, "<", name); gsub(/&gt;/, ">", name)
        printf "%-4s %6.1f s  %s\n", result, t, name
    }
' "$report" | tee "$out/results.txt"
passed=$(grep -c '^pass' "$out/results.txt" || true)
failed=$(grep -c '^FAIL' "$out/results.txt" || true)
skipped=$(grep -c '^skip' "$out/results.txt" || true)
[ "$skipped" = 0 ] || echo "($skipped skipped by the test itself: the reason is in $out/e2e.log)"
echo "$passed passed, $failed failed in $(( $(date +%s) - start )) s (report: $report)"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ] && [ "$rc" = 0 ]

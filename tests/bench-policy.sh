#!/usr/bin/env bash
# NetworkPolicy figures (issue 24), run by hand as root:
#   bash tests/bench-policy.sh
# On `podnet lab up --kubernetes` (2 nodes x 2 Pods of web, solo, hostport,
# cluster DNS; podnet's agents from deploy/podnet.yaml):
# 1. a NetworkPolicy created with kubectl -> its rules in the podnet_policy
#    table of every node (it selects Pods on both), 20 times: median and max
#    (target: median < 200 ms);
# 2. iperf3 TCP throughput between web Pods on the two nodes with 1,000
#    policies selecting other Pods (solo and hostport, on both nodes) as a
#    ratio of the same without any policy, the two alternated ROUNDS times
#    (default 3; each round applies and deletes the 1,000 policies)
#    (target >= 0.95).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-policy.sh iperf3 iperf3
rounds=${ROUNDS:-3}
kube_bench_lab pp

# 1. Created -> enforced on every node: `nft monitor` on each node reports
# the transaction that puts the policy in its table (no polling); the clock
# starts at the API request that creates it (tests/policy_bench.py).
kubeconfig=$("$bin/podnet" lab --name "$lab" kubeconfig)
api() { python3 tests/policy_bench.py "$kubeconfig" "$@"; }
api latency 20 node1 node2 \
    -- "$bin/podnet" lab --name "$lab" exec | tee "$work/latency"
read -r _ med _ max < <(tail -n 1 "$work/latency")
verdict=MET; [ "$med" -lt 200 ] || verdict=MISSED
# The agents' own part: one pass, from the watch event to nft's answer.
passes=$(kc logs -n kube-system -l app=podnet --tail=-1 | sed -n 's/.*took_ms=\([0-9]*\).*NetworkPolicy rules applied.*/\1/p; s/.*NetworkPolicy rules applied.*took_ms=\([0-9]*\).*/\1/p')
pass_med=$(median $passes)
echo "FIGURE policy created -> enforced on every node: median $med ms, max $max ms of 20 (target median < 200 ms) $verdict; the agents' pass (event -> table replaced) median ${pass_med:-?} ms of $(echo $passes | wc -w)"

# 2. Throughput with and without 1,000 policies selecting other Pods.
read -r client _ <<<"$(pod_on node1)"
read -r server server_ip <<<"$(pod_on node2)"
ex "$server" -- iperf3 -s -D -p 5201 -I "$work/iperf.pid" >/dev/null
tput() {
    ex "$client" -- iperf3 -c "$server_ip" -p 5201 -t 3 "${pin[@]}" -J \
        | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
# Polled, not timed: only that the agents are done before measuring. Odd
# policies select solo, even ones hostport: a node's table names the last
# one selecting a Pod of its own.
# grep reads it all: -q would end the pipe early, and pipefail fail it.
in_table() { ex "$1" -- nft list table inet podnet_policy 2>/dev/null | grep -F -- "$2" >/dev/null; }
last_on() {
    local apps
    apps=$(kc get pods -o jsonpath="{range .items[?(@.spec.nodeName==\"$1\")]}{.metadata.labels.app}{\"\\n\"}{end}")
    if grep -qx hostport <<<"$apps"; then echo 1000; elif grep -qx solo <<<"$apps"; then echo 999; fi
}
within() { # within SECONDS CONDITION...: polls, fails the run after SECONDS
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || { echo "bench-policy.sh: timed out waiting for: $*" >&2; exit 1; }
        sleep 0.5
    done
}
not() { ! "$@"; }
all_in() {
    local n k
    for n in node1 node2; do
        k=$(last_on "$n")
        [ -z "$k" ] || in_table "$n" "default/other-$k " || return 1
    done
}
without=() with=()
for round in $(seq 1 "$rounds"); do
    without+=("$(tput)")
    api many 1000
    within 600 all_in
    with+=("$(tput)")
    api delete-many
    within 600 not in_table node1 "default/other-"
    within 600 not in_table node2 "default/other-"
done
w=$(median "${with[@]}"); wo=$(median "${without[@]}")
ratio=$(python3 -c "print(f'{$w/$wo:.3f}')")
verdict=$(python3 -c "print('MET' if $w/$wo >= 0.95 else 'MISSED')")
echo "FIGURE iperf3 web(node1) -> web(node2): with 1,000 policies on other Pods $((w / 1000000)) Mbit/s, without $((wo / 1000000)) Mbit/s, ratio $ratio (target >= 0.95) $verdict"

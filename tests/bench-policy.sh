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
#    ratio of the same without any policy, the two alternated five times
#    (target >= 0.95).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-policy.sh iperf3 iperf3
kube_bench_lab pp

# 1. Created -> enforced on every node: each watcher polls the node's table
# as fast as nft answers and prints when the policy is in it.
in_table() { ex "$1" -- nft list table inet podnet_policy 2>/dev/null | grep -q "$2"; }
until_in() { until in_table "$1" "$2"; do :; done; now; }
until_gone() { while in_table "$1" "$2"; do :; done; }
times=()
for i in $(seq 1 20); do
    name=bench-$i
    t0=$(now)
    kc apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $name, namespace: default}
spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}
EOF
    until_in node1 "default/$name" >"$work/n1" &
    until_in node2 "default/$name" >"$work/n2" &
    wait
    t1=$(cat "$work/n1"); t2=$(cat "$work/n2")
    [ "$t2" -gt "$t1" ] && t1=$t2
    times+=($(( (t1 - t0) / 1000000 )))
    kc delete networkpolicy "$name" >/dev/null
    until_gone node1 "default/$name"; until_gone node2 "default/$name"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
med=$(median "${times[@]}")
max=$(echo "$sorted" | tail -n 1)
verdict=MET; [ "$med" -lt 200 ] || verdict=MISSED
echo "FIGURE policy created -> enforced on every node: median $med ms, max $max ms of 20 (target median < 200 ms) $verdict"

# 2. Throughput with and without 1,000 policies selecting other Pods.
read -r client _ <<<"$(pod_on node1)"
read -r server server_ip <<<"$(pod_on node2)"
ex "$server" -- iperf3 -s -D -p 5201 -I "$work/iperf.pid" >/dev/null
tput() {
    ex "$client" -- iperf3 -c "$server_ip" -p 5201 -t 3 "${pin[@]}" -J \
        | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
{
    for k in $(seq 1 1000); do
        app=solo; [ $((k % 2)) = 0 ] && app=hostport
        cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: other-$k, namespace: default}
spec:
  podSelector: {matchLabels: {app: $app}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: $((1000 + k))}]}]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.$((k % 200)).0/24]}}], ports: [{port: 53, protocol: UDP}]}]
EOF
    done
} >"$work/many.yaml"
without=() with=()
for round in 1 2 3 4 5; do
    without+=("$(tput)")
    kc apply -f "$work/many.yaml" >/dev/null
    until in_table node1 "default/other-1000" && in_table node2 "default/other-1000"; do :; done
    with+=("$(tput)")
    kc delete -f "$work/many.yaml" --wait=false >/dev/null
    until_gone node1 "default/other-"; until_gone node2 "default/other-"
done
w=$(median "${with[@]}"); wo=$(median "${without[@]}")
ratio=$(python3 -c "print(f'{$w/$wo:.3f}')")
verdict=$(python3 -c "print('MET' if $w/$wo >= 0.95 else 'MISSED')")
echo "FIGURE iperf3 web(node1) -> web(node2): with 1,000 policies on other Pods $((w / 1000000)) Mbit/s, without $((wo / 1000000)) Mbit/s, ratio $ratio (target >= 0.95) $verdict"

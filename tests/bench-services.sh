#!/usr/bin/env bash
# Services figures (issue 26), run by hand as root:
#   bash tests/bench-services.sh
# On `podnet lab up --kubernetes` (2 nodes x 2 Pods: the real kube-proxy
# 1.20.2 in iptables mode), with a Pod on node2 as the server and one on
# node1 as the client:
# 1. a Service created (ClusterIP, TCP 5201, its Endpoints naming the
#    server) -> its rules in every node's iptables -> the client's first
#    TCP connection to the ClusterIP answered;
# 2. iperf3 TCP throughput client -> ClusterIP as a ratio of client -> the
#    server's Pod IP, the two paths alternated five times (target >= 0.95).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-services.sh iperf3 iperf3
kube_bench_lab ps
read -r client _ <<<"$(pod_on node1)"
read -r server server_ip <<<"$(pod_on node2)"
echo "    client $client (node1), server $server $server_ip (node2)"
ex "$server" -- iperf3 -s -D -p 5201 -I "$work/iperf.pid" >/dev/null

# 1. Created -> rules on every node -> first answer. Each watcher polls its
# condition as fast as it can run the command and prints when it held.
# Before the rules, a SYN to the ClusterIP goes to the nodes' default route
# and is never answered, so each try gives up after 0.1 s.
ip=10.96.0.200
rules_on() { # node
    until ex "$1" -- iptables-save -t nat 2>/dev/null | grep -q 'default/bench'; do :; done
    now
}
answered() {
    until ex "$client" -- timeout 0.1 bash -c "exec 3<>/dev/tcp/$ip/5201" 2>/dev/null; do :; done
    now
}
t0=$(now)
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench}
spec: {clusterIP: $ip, ports: [{name: iperf, protocol: TCP, port: 5201}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: bench}
subsets: [{addresses: [{ip: $server_ip}], ports: [{name: iperf, protocol: TCP, port: 5201}]}]
EOF
rules_on node1 >"$work/node1" &
rules_on node2 >"$work/node2" &
answered >"$work/answer" &
wait
ms() { echo $(( ($(cat "$work/$1") - t0) / 1000000 )); }
echo "    kubectl apply -> rules on node1 $(ms node1) ms, node2 $(ms node2) ms, first answer $(ms answer) ms"

# 2. Throughput, the two paths in turns (client on CPU 0, server on CPU 1
# when there are two: lib.sh's pin).
tput() { # address
    ex "$client" -- iperf3 -c "$1" -p 5201 -t 3 "${pin[@]}" -J \
        | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
svc=() direct=()
for _ in 1 2 3 4 5; do
    svc+=("$(tput "$ip")")
    direct+=("$(tput "$server_ip")")
done
s=$(median "${svc[@]}")
d=$(median "${direct[@]}")
echo "    runs -> ClusterIP: ${svc[*]}; -> Pod IP: ${direct[*]} (bit/s)"
echo
awk -v a="$s" -v b="$d" 'BEGIN {printf "FIGURE pod -> ClusterIP / pod -> pod IP TCP throughput across nodes: %.3f (%d vs %d Mbit/s, median of 5, 3 s each; target >= 0.95) %s\n", a / b, a / 1e6, b / 1e6, (a / b >= 0.95 ? "met" : "MISSED")}'
echo "FIGURE Service created -> rules on node1 $(ms node1) ms, node2 $(ms node2) ms -> first answer $(ms answer) ms"

#!/usr/bin/env bash
# Dataplane figures (issue 4), run by hand as root:
#   bash tests/bench-lab.sh
# 1. podnet-agent programming routes to 1,000 peer nodes, against a shell
#    loop of `ip route add` doing the same, in one run (target: agent < 1 s);
# 2. `podnet lab up` for 4 nodes x 10 pods;
# 3. iperf3 TCP throughput pod -> pod across nodes as a ratio of node -> node
#    on the same LAN, in the same lab (target >= 0.95); then the same in a lab
#    without BIG TCP, for comparison.
# Everything runs inside namespaces this script creates and removes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-lab.sh iperf3 iperf3
ns=pnbench$$
work=$(mktemp -d)
lab=pb$$
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    "$bin/podnet" lab down --name "$lab" >/dev/null 2>&1 || true
    "$bin/podnet" lab down --name "pc$$" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
ms() { echo $(( ($2 - $1) / 1000000 )); }

# 1. A node with eth0 on 172.16.0.0/16 and 1,000 peers behind it.
ip netns add "$ns"
ip -n "$ns" link add eth0 type veth peer name eth0peer
ip -n "$ns" link set eth0peer up
ip -n "$ns" addr add 172.16.0.1/16 dev eth0
ip -n "$ns" link set eth0 up
python3 - "$work/cluster.json" <<'PY'
import json, sys
nodes = [{"name": f"n{i}", "ip": f"172.16.{i // 250}.{i % 250 + 1}", "podCidr": f"10.{i // 256}.{i % 256}.0/24"} for i in range(1001)]
json.dump({"clusterCidr": "10.0.0.0/8", "nodePrefix": 24, "underlay": "172.16.0.0/16", "nodes": nodes}, open(sys.argv[1], "w"))
PY
s=$(date +%s%N)
ip netns exec "$ns" "$bin/podnet-agent" --once --cluster "$work/cluster.json" --node n0 --cni-conf-dir "$work/net.d" >"$work/agent.out"
e=$(date +%s%N)
agent_ms=$(ms "$s" "$e")
routes=$(ip -n "$ns" route show proto 150 | wc -l)
ip -n "$ns" route flush proto 150
# The same 1,000 routes, one `ip route add` each.
python3 - "$work/cluster.json" > "$work/routes.txt" <<'PY'
import json, sys
for n in json.load(open(sys.argv[1]))["nodes"][1:]:
    print(n["podCidr"], n["ip"])
PY
s=$(date +%s%N)
while read -r dst via; do ip -n "$ns" route add "$dst" via "$via" proto 150; done < "$work/routes.txt"
e=$(date +%s%N)
loop_ms=$(ms "$s" "$e")
echo "routes to 1,000 peers: podnet-agent --once ${agent_ms} ms ($routes routes), ip route add loop ${loop_ms} ms"

# 2. lab up, 4 x 10.
s=$(date +%s%N)
"$bin/podnet" lab up --name "$lab" --nodes 4 --pods-per-node 10 >/dev/null
e=$(date +%s%N)
up_ms=$(ms "$s" "$e")
echo "podnet lab up --nodes 4 --pods-per-node 10: ${up_ms} ms"

# 3. iperf3: pod1-1 -> pod2-1 across nodes, node1 -> node2 on the LAN
# (run_iperf, median and the CPU pinning are in lib.sh).
# Alternates the two paths five times and compares medians: one noisy run
# decides nothing. Prints "ratio pod-Mbit/s node-Mbit/s".
iperf_ratio() { # lab
    local pods=() nodes=() p n
    for _ in 1 2 3 4 5; do
        pods+=("$(run_iperf "$1" pod2-1 pod1-1 10.244.2.2)")
        nodes+=("$(run_iperf "$1" node2 node1 192.168.1.12)")
    done
    p=$(median "${pods[@]}")
    n=$(median "${nodes[@]}")
    echo "  runs pod->pod: ${pods[*]}; node->node: ${nodes[*]} (bit/s)" >&2
    awk -v a="$p" -v b="$n" 'BEGIN {printf "%.3f %d %d\n", a / b, a / 1e6, b / 1e6}'
}
placement="client on CPU 0, server on CPU 1"
[ ${#pin[@]} -eq 0 ] && placement="CPUs left to the scheduler"
echo "==> iperf3 in the 4 x 10 lab (BIG TCP: every link takes 512 KiB GSO packets), $placement"
read -r ratio pod_mbps node_mbps <<<"$(iperf_ratio "$lab")"
echo "iperf3 (median of 5, 3 s each): pod->pod across nodes $pod_mbps Mbit/s, node->node $node_mbps Mbit/s"
# The same without BIG TCP, for what it is worth.
small=pc$$
"$bin/podnet" lab up --name "$small" --nodes 2 --pods-per-node 1 --no-big-tcp >/dev/null
echo "==> iperf3 in a 2 x 1 lab built with --no-big-tcp (64 KiB GSO packets), $placement"
read -r ratio64 pod64 node64 <<<"$(iperf_ratio "$small")"
"$bin/podnet" lab down --name "$small" >/dev/null
echo "iperf3 (median of 5, 3 s each): pod->pod across nodes $pod64 Mbit/s, node->node $node64 Mbit/s"
echo
awk -v a="$agent_ms" 'BEGIN {printf "FIGURE agent programs 1,000 peer routes: %d ms (target < 1000 ms) %s\n", a, (a < 1000 ? "met" : "MISSED")}'
awk -v a="$agent_ms" -v b="$loop_ms" 'BEGIN {printf "FIGURE agent vs ip route add loop: %d ms vs %d ms (%.1fx faster)\n", a, b, b / (a ? a : 1)}'
echo "FIGURE lab up 4 x 10: ${up_ms} ms"
awk -v r="$ratio" -v p="$placement" 'BEGIN {printf "FIGURE pod-to-pod / node-to-node TCP throughput: %.3f (target >= 0.95) %s (BIG TCP, %s)\n", r, (r >= 0.95 ? "met" : "MISSED"), p}'
echo "FIGURE the same with --no-big-tcp: $ratio64"

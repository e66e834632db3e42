#!/usr/bin/env bash
# Overlay figures (issue 14), run by hand as root:
#   bash tests/bench-overlay.sh
# 1. iperf3 TCP pod -> pod across the router over podnet's VXLAN (podnet.1,
#    programmed by podnet-agent), against the same path over a VXLAN device
#    built by hand with plain `ip` commands between the same namespaces
#    (flannel's layout: nolearning, a neighbour and an FDB entry, an onlink
#    route), alternated in one lab: target >= 0.95.
# 2. VXLAN / host-gw: pod -> pod across nodes on one LAN, a vxlan lab against
#    a host-gw lab, alternated.
# 3. The model: one encapsulated trace in a 1,000-node cluster (criterion, in
#    `cargo bench -p podnet-core`; printed here from the same bench binary).
# Everything runs inside namespaces this script creates and removes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-overlay.sh iperf3 iperf3
vx=pv$$
hg=ph$$
v1=pw$$
cleanup() {
    for l in "$vx" "$hg" "$v1"; do
        pkill -CONT -f "podnet-lab/$l/" 2>/dev/null || true
        "$bin/podnet" lab down --name "$l" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

x() { ip netns exec "$vx-$1" "${@:2}"; }

# 1. Two nodes on two LANs, VXLAN across the router.
"$bin/podnet" lab up --name "$vx" --nodes 2 --pods-per-node 1 --lans 2 --backend vxlan >/dev/null
# The agents would put their routes back: paused while the routes switch.
pkill -STOP -f "podnet-lab/$vx/"
# The hand-built VTEP, VNI 2 beside podnet's VNI 1 on the same UDP port.
mac() { printf '0e:51:c0:a8:%02x:%02x' "$1" "$2"; }
hand() { # node own-ip own-lan own-k peer-ip peer-lan peer-k peer-range-net
    x "$1" ip link add hand.2 address "$(mac "$3" "$4")" type vxlan id 2 dev eth0 local "$2" dstport 8472 nolearning
    x "$1" ip link set hand.2 mtu 1450 up
    x "$1" ip neigh add "$8.0" lladdr "$(mac "$6" "$7")" dev hand.2 nud permanent
    x "$1" bridge fdb append "$(mac "$6" "$7")" dev hand.2 dst "$5" self permanent
}
hand node1 192.168.1.11 1 11 192.168.2.12 2 12 10.244.2
hand node2 192.168.2.12 2 12 192.168.1.11 1 11 10.244.1
use() { # podnet.1 | hand.2
    x node1 ip route replace 10.244.2.0/24 via 10.244.2.0 dev "$1" onlink proto 150
    x node2 ip route replace 10.244.1.0/24 via 10.244.1.0 dev "$1" onlink proto 150
}
podnet_runs=() hand_runs=()
for _ in 1 2 3 4 5; do
    use podnet.1
    podnet_runs+=("$(run_iperf "$vx" pod2-1 pod1-1 10.244.2.2)")
    use hand.2
    hand_runs+=("$(run_iperf "$vx" pod2-1 pod1-1 10.244.2.2)")
done
use podnet.1
pkill -CONT -f "podnet-lab/$vx/"
p=$(median "${podnet_runs[@]}")
h=$(median "${hand_runs[@]}")
echo "  runs podnet.1: ${podnet_runs[*]}; hand-built: ${hand_runs[*]} (bit/s)"
echo "iperf3 pod -> pod across the router (median of 5, 3 s each): podnet's VXLAN $((p / 1000000)) Mbit/s, hand-built VXLAN $((h / 1000000)) Mbit/s"

# 2. One LAN: a vxlan lab and a host-gw lab, alternated.
"$bin/podnet" lab up --name "$v1" --nodes 2 --pods-per-node 1 --backend vxlan >/dev/null
"$bin/podnet" lab up --name "$hg" --nodes 2 --pods-per-node 1 >/dev/null
vx_runs=() hg_runs=()
for _ in 1 2 3 4 5; do
    vx_runs+=("$(run_iperf "$v1" pod2-1 pod1-1 10.244.2.2)")
    hg_runs+=("$(run_iperf "$hg" pod2-1 pod1-1 10.244.2.2)")
done
v=$(median "${vx_runs[@]}")
g=$(median "${hg_runs[@]}")
echo "  runs vxlan: ${vx_runs[*]}; host-gw: ${hg_runs[*]} (bit/s)"
echo "iperf3 pod -> pod across nodes on one LAN (median of 5): vxlan $((v / 1000000)) Mbit/s, host-gw $((g / 1000000)) Mbit/s"

# 3. The model's figure, from core's bench.
trace=$(cargo bench -q -p podnet-core 2>/dev/null | grep 'FIGURE one VXLAN' || echo "FIGURE one VXLAN-encapsulated trace: (cargo bench -p podnet-core failed)")

placement="client on CPU 0, server on CPU 1"
[ ${#pin[@]} -eq 0 ] && placement="CPUs left to the scheduler"
echo
awk -v a="$p" -v b="$h" -v pl="$placement" 'BEGIN {r = a / b; printf "FIGURE podnet VXLAN / hand-built kernel VXLAN, pod -> pod across a router: %.3f (target >= 0.95) %s (%s)\n", r, (r >= 0.95 ? "met" : "MISSED"), pl}'
awk -v a="$v" -v b="$g" 'BEGIN {printf "FIGURE VXLAN / host-gw, pod -> pod on one LAN: %.3f (the cost of encapsulation; no target)\n", a / b}'
echo "$trace"

#!/usr/bin/env bash
# Kubernetes lab figures (issue 12), run by hand as root:
#   bash tests/bench-kube.sh            (N=10 Pods per plugin; N=… to change)
# 1. `podnet lab up --kubernetes` (2 nodes x 2 Pods) until every Pod runs;
# 2. Pod created -> Ready on node1, one Pod at a time, and the CNI ADD inside
#    it, with podnet-cni and then with the reference bridge + host-local
#    plugins (Debian's containernetworking-plugins) on the same kubelet and
#    containerd: the ADD is timed by a wrapper around each plugin binary;
# 3. memory of the whole lab: RSS of every process it started (control
#    plane, containerd, kubelets, kube-proxies, shims, containers) and its
#    state directory (containerd's images and snapshots live on tmpfs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup bench-kube.sh /usr/lib/cni/bridge containernetworking-plugins
N=${N:-10}
lab=pk$$
dir=/run/podnet-lab/$lab
work=$(mktemp -d)
cleanup() {
    "$bin/podnet" lab down --name "$lab" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
kc() { ip netns exec "$lab-cp" kubectl --kubeconfig "$dir/cp/kubeconfig" "$@"; }

echo "==> podnet lab up --kubernetes --nodes 2 --pods-per-node 2"
t0=$(date +%s%N)
"$bin/podnet" lab up --kubernetes --name "$lab" --nodes 2 --pods-per-node 2 >/dev/null 2>"$work/up.log"
t1=$(date +%s%N)
up_ms=$(ms "$t0" "$t1")
sed 's/^/    /' "$work/up.log"

node1=$dir/node1/k8s
cidr=$(kc get node node1 -o jsonpath='{.spec.podCIDR}')
prefix=${cidr%.*}

# A plugin binary timed by a wrapper: ADD's microseconds into a log on the node.
wrap() {
    local plugin=$1
    mv "$node1/opt-cni-bin/$plugin" "$node1/opt-cni-bin/$plugin.real"
    cat >"$node1/opt-cni-bin/$plugin" <<'EOF'
#!/bin/sh
s=$(date +%s%N)
"$0.real"
rc=$?
e=$(date +%s%N)
echo "$CNI_COMMAND $(( (e - s) / 1000 ))" >>/run/podnet/cni-timing.log
exit $rc
EOF
    chmod 755 "$node1/opt-cni-bin/$plugin"
}

# N Pods on node1, one at a time: created -> Ready (ms), one line each.
pods() {
    local tag=$1
    for i in $(seq 1 "$N"); do
        local name=bench-$tag-$i
        local s e
        s=$(date +%s%N)
        kc run "$name" --image=podnet.local/busybox:1 --image-pull-policy=Never --restart=Never \
            --overrides='{"spec":{"nodeName":"node1","dnsPolicy":"Default","terminationGracePeriodSeconds":1}}' \
            --command -- sh -c "trap 'exit 0' TERM; sleep 2147483647 & wait" >/dev/null
        kc wait --for=condition=Ready "pod/$name" --timeout=60s >/dev/null
        e=$(date +%s%N)
        echo $(( (e - s) / 1000000 ))
    done
    kc delete pods -l "run" --wait=true >/dev/null 2>&1 || true
}

adds() { grep '^ADD ' "$node1/run-podnet/cni-timing.log" | awk '{print $2}' | median; }

echo "==> $N Pods on node1 with podnet-cni"
wrap podnet-cni
: >"$node1/run-podnet/cni-timing.log"
pods podnet >"$work/podnet.ms"
podnet_add=$(adds)
podnet_run=$(median <"$work/podnet.ms")

echo "==> $N Pods on node1 with the reference bridge + host-local (same kubelet, same containerd)"
cp /usr/lib/cni/bridge /usr/lib/cni/host-local "$node1/opt-cni-bin/"
wrap bridge
# containerd takes the first config by name: 05- comes before podnet's 10-.
cat >"$node1/etc-cni-net.d/05-bridge.conflist" <<EOF
{"cniVersion":"1.0.0","name":"reference","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"$cidr","rangeStart":"$prefix.128","rangeEnd":"$prefix.250"}]],"dataDir":"/run/podnet/reference-ipam"}}]}
EOF
sleep 2
: >"$node1/run-podnet/cni-timing.log"
pods reference >"$work/reference.ms"
ref_add=$(adds)
ref_run=$(median <"$work/reference.ms")
rm -f "$node1/etc-cni-net.d/05-bridge.conflist"

echo "==> memory"
rss_mb=$(ps -eo pid=,ppid=,rss=,args= | awk -v d="$dir/" '
    { pp[$1] = $2; rss[$1] = $3; if (index($0, d)) mark[$1] = 1 }
    END {
        do { changed = 0; for (p in pp) if (!(p in mark) && (pp[p] in mark)) { mark[p] = 1; changed = 1 } } while (changed)
        for (p in mark) s += rss[p]; printf "%d", s / 1024
    }')
tmpfs_mb=$(du -sm "$dir" | awk '{print $1}')

ratio=$(awk -v a="$podnet_add" -v b="$ref_add" 'BEGIN {printf "%.2f", a / b}')
echo
echo "Kubernetes lab (2 nodes x 2 Pods, Kubernetes 1.20.2, containerd $(containerd --version | awk '{print $3}'))"
printf '  %-52s %8s ms\n' "lab up --kubernetes, until every Pod runs" "$up_ms"
printf '  %-52s %8s ms\n' "Pod created -> Ready, podnet-cni (median of $N)" "$podnet_run"
printf '  %-52s %8s ms\n' "Pod created -> Ready, reference bridge (median of $N)" "$ref_run"
printf '  %-52s %8s µs\n' "CNI ADD inside it, podnet-cni (median)" "$podnet_add"
printf '  %-52s %8s µs\n' "CNI ADD inside it, reference bridge (median)" "$ref_add"
printf '  %-52s %8s   (podnet / reference; issue 3 target <= 0.50 on ADD)\n' "ADD ratio" "$ratio"
printf '  %-52s %8s MB\n' "memory: RSS of every lab process" "$rss_mb"
printf '  %-52s %8s MB\n' "memory: lab state on tmpfs (images, snapshots)" "$tmpfs_mb"

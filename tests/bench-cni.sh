#!/usr/bin/env bash
# ADD and DEL latency of podnet-cni next to the reference CNI plugins
# (bridge + host-local from Debian's containernetworking-plugins), with the
# same settings, in one run. Run by hand as root:
#
#   bash tests/bench-cni.sh            # 50 pods one at a time, then 8 at once
#   N=100 PAR=16 bash tests/bench-cni.sh
#
# Each plugin gets its own node namespace; every call is timed from inside
# that namespace (fork + exec + the call), so both pay the same harness cost.
# Target (issue 3): podnet median ADD <= 1/2 of the reference's, DEL <= the reference's.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
N=${N:-50}
PAR=${PAR:-8}
[ "$(id -u)" = 0 ] || { echo "bench-cni.sh: run as root (it creates network namespaces)" >&2; exit 1; }
if [ ! -x /usr/lib/cni/bridge ]; then
    echo "==> apt-get install containernetworking-plugins (the reference plugins)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >/dev/null
fi
echo "==> cargo build --release podnet-cni"
cargo build --release --quiet -p podnet-node --bin podnet-cni
PODNET=$PWD/target/release/podnet-cni
id=pnbench$$
work=$(mktemp -d)
cleanup() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^$id" || true); do ip netns del "$ns"; done
    rm -rf "$work"
}
trap cleanup EXIT

conf() { # name type
    printf '{"cniVersion":"1.0.0","name":"%s","type":"%s","bridge":"cni0","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","subnet":"10.77.0.0/16","dataDir":"%s/%s"}}' \
        "$1" "$2" "$work" "$1"
}

# One timed call inside the node namespace: prints microseconds.
timed_call='
s=$(date +%s%N)
CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/run/netns/$3 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$BIN" <<<"$CONF" >"$OUT/$1-$2.json" || { echo "$1 $2 failed: $(cat "$OUT/$1-$2.json")" >&2; exit 1; }
e=$(date +%s%N)
echo $(( (e - s) / 1000 ))
'

run() { # label bin conf
    local label=$1 bin=$2 cf=$3 node=$id-$1-node out=$work/$1-out
    mkdir -p "$out"
    ip netns add "$node"
    for i in $(seq 1 "$N"); do ip netns add "$id-$label-p$i"; done
    ip netns exec "$node" env BIN="$bin" CONF="$cf" OUT="$out" bash -c '
        call() { '"$timed_call"' }
        for i in $(seq 1 '"$N"'); do call ADD c$i '"$id-$label"'-p$i; done > '"$work/$label"'-add.txt
        for i in $(seq 1 '"$N"'); do call DEL c$i '"$id-$label"'-p$i; done > '"$work/$label"'-del.txt
        for r in $(seq 1 $(( '"$N"' / '"$PAR"' ))); do
            for j in $(seq 1 '"$PAR"'); do i=$(( (r - 1) * '"$PAR"' + j )); call ADD c$i '"$id-$label"'-p$i & done; wait
        done > '"$work/$label"'-padd.txt
        for r in $(seq 1 $(( '"$N"' / '"$PAR"' ))); do
            for j in $(seq 1 '"$PAR"'); do i=$(( (r - 1) * '"$PAR"' + j )); call DEL c$i '"$id-$label"'-p$i & done; wait
        done > '"$work/$label"'-pdel.txt
    '
}

stats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%d %d %d %d", v[1], v[int((NR+1)/2)], v[NR], NR}'; }

echo "==> podnet-cni: $N ADDs then $N DELs one at a time, then $PAR at once"
run podnet "$PODNET" "$(conf podnet podnet-cni)"
echo "==> reference bridge + host-local ($(dpkg-query -W -f='${Version}' containernetworking-plugins))"
run ref /usr/lib/cni/bridge "$(conf ref bridge)"

printf '\n%-22s %28s %28s %8s\n' "latency (µs)" "podnet-cni min/median/max" "reference min/median/max" "ratio"
verdicts=()
for kind in add del padd pdel; do
    read -r pmin pmed pmax pn <<<"$(stats "$work/podnet-$kind.txt")"
    read -r rmin rmed rmax rn <<<"$(stats "$work/ref-$kind.txt")"
    ratio=$(awk -v a="$pmed" -v b="$rmed" 'BEGIN {printf "%.2f", a / b}')
    case $kind in add) name="ADD, sequential";; del) name="DEL, sequential";; padd) name="ADD, $PAR at once";; pdel) name="DEL, $PAR at once";; esac
    printf '%-22s %28s %28s %8s\n' "$name (n=$pn)" "$pmin / $pmed / $pmax" "$rmin / $rmed / $rmax" "$ratio"
    case $kind in
        add|padd) target=0.5;;
        *) target=1.0;;
    esac
    met=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r <= t) ? "met" : "MISSED"}')
    verdicts+=("FIGURE $name: median ratio $ratio (target <= $target) $met")
done
echo
printf '%s\n' "${verdicts[@]}"

#!/usr/bin/env bash
# ADD and DEL latency of podnet-cni next to the reference CNI plugins
# (bridge + host-local from Debian's containernetworking-plugins), with the
# same settings, in one run. Run by hand as root:
#
#   bash tests/bench-cni.sh            # 50 pods one at a time, then 8 at once
#   N=100 PAR=16 REPEAT=5 bash tests/bench-cni.sh
#
# Each plugin gets its own node namespace; every call is timed from inside
# that namespace (fork + exec + the call), so both pay the same harness cost.
# The two plugins' calls alternate in random order, each after a 50-54 ms
# pause (see pause() below for why); BACK_TO_BACK=1 runs them the older way.
# Target (issue 3): podnet median ADD <= 1/2 of the reference's, DEL <= the reference's.
set -euo pipefail
N=${N:-50}
PAR=${PAR:-8}
REPEAT=${REPEAT:-3} # rounds of the concurrent phase: each gives only N/PAR batches
. "$(dirname "$0")/lib.sh"
bench_setup bench-cni.sh /usr/lib/cni/bridge containernetworking-plugins
PODNET=$bin/podnet-cni
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

# A worker runs inside one plugin's node namespace and times the calls it is
# sent on its FIFO: "VERB FIRST LAST" runs pods FIRST..LAST at once (one pod
# for a sequential call) and prints one line of microseconds per call, then
# "done". Each call is timed from inside the namespace (fork + exec + the
# call), so both plugins pay the same harness cost.
worker() { # label bin conf
    local label=$1 out=$work/$1-out
    mkdir -p "$out"
    mkfifo "$work/$label.in" "$work/$label.out"
    ip netns exec "$id-$label-node" env BIN="$2" CONF="$3" OUT="$out" NS="$id-$label" bash -c '
        call() {
            s=$(date +%s%N)
            CNI_COMMAND=$1 CNI_CONTAINERID=c$2 CNI_NETNS=/run/netns/$NS-p$2 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$BIN" <<<"$CONF" >"$OUT/$1-$2.json" \
                || { echo "$1 c$2 failed: $(cat "$OUT/$1-$2.json")" >&2; echo FAIL; return; }
            e=$(date +%s%N)
            echo $(( (e - s) / 1000 ))
        }
        while read -r verb first last; do
            for i in $(seq "$first" "$last"); do call "$verb" "$i" & done
            wait
            echo done
        done' <"$work/$label.in" >"$work/$label.out" &
}

# Sends one command to a plugin's worker and appends its timings to FILE.
send() { # label verb first last file
    local fd_in fd_out line
    [ "$1" = podnet ] && { fd_in=3; fd_out=4; } || { fd_in=5; fd_out=6; }
    echo "$2 $3 $4" >&"$fd_in"
    while read -r line <&"$fd_out"; do
        [ "$line" = done ] && return 0
        [ "$line" = FAIL ] && { echo "bench-cni.sh: a $1 call failed" >&2; exit 1; }
        echo "$line" >>"$5"
    done
    echo "bench-cni.sh: the $1 worker stopped" >&2
    exit 1
}

# Before each call (or batch): a pause, so the kernel's RCU work left by the
# previous call is over, plus 0-4 ms of jitter, so calls do not lock onto the
# 4 ms scheduler tick. Plugins alternate in random order. BACK_TO_BACK=1 runs
# the older design instead: all of one plugin's calls, then the other's, with
# no pause.
pause() { [ -n "${BACK_TO_BACK:-}" ] || sleep "0.05$((RANDOM % 4))$((RANDOM % 10))"; }
plugins_in_turn() { if [ -n "${BACK_TO_BACK:-}" ] || ((RANDOM % 2)); then echo podnet ref; else echo ref podnet; fi; }

phase() { # kind verb batch
    local kind=$1 verb=$2 batch=$3 r l first
    if [ -n "${BACK_TO_BACK:-}" ]; then
        for l in podnet ref; do
            for ((first = 1; first + batch - 1 <= N; first += batch)); do
                send "$l" "$verb" "$first" $((first + batch - 1)) "$work/$l-$kind.txt"
            done
        done
        return
    fi
    for ((first = 1; first + batch - 1 <= N; first += batch)); do
        for l in $(plugins_in_turn); do
            pause
            send "$l" "$verb" "$first" $((first + batch - 1)) "$work/$l-$kind.txt"
        done
    done
}

for l in podnet ref; do
    ip netns add "$id-$l-node"
    for i in $(seq 1 "$N"); do ip netns add "$id-$l-p$i"; done
done
worker podnet "$PODNET" "$(conf podnet podnet-cni)"
worker ref /usr/lib/cni/bridge "$(conf ref bridge)"
exec 3>"$work/podnet.in" 4<"$work/podnet.out" 5>"$work/ref.in" 6<"$work/ref.out"

design="alternating in random order, 50-54 ms apart"
[ -n "${BACK_TO_BACK:-}" ] && design="back to back, all of podnet-cni's calls first"
echo "==> podnet-cni and reference bridge + host-local ($(dpkg-query -W -f='${Version}' containernetworking-plugins)), $design"
echo "    $N ADDs then $N DELs one at a time"
phase add ADD 1
phase del DEL 1
echo "    $N ADDs then $N DELs, $PAR at once, $REPEAT times"
for _ in $(seq 1 "$REPEAT"); do
    phase padd ADD "$PAR"
    phase pdel DEL "$PAR"
done
exec 3>&- 5>&-
wait

stats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%d %d %d %d", v[1], v[int((NR+1)/2)], v[NR], NR}'; }


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

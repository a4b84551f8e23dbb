#!/usr/bin/env bash
# What a pod network costs at start: `jetpack run` of prepared one-app /bin/true pods with
# --net=host, --net=none (own namespace, loopback only) and --net=default (namespace, CNI
# bridge + portmap ADD, metadata service registration, DEL at the end), alternating. Store on a
# fresh ext4 loop device, the default network on a bridge and subnet of its own. Prints medians
# and the extra time over --net=host, then the median time of each CNI plugin call (from
# `--debug` runs): ADD is on the start path, DEL after the pod's end.
#
# Usage (root): bench/net.sh [RUNS] [STORAGE]     e.g. bench/net.sh 30 overlay
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-30}
storage=${2:-overlay}
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpnet.XXXXXX)
bridge=jpbench$$; bridge=${bridge:0:15}
loop=""
J=("$jp" --config /dev/null -o "root=$work/fs/store" -o "storage=$storage" -o "net.dir=$work/net.d"
   -o "net.default-bridge=$bridge" -o "net.default-subnet=10.250.$(( $$ % 250 )).0/24")
cleanup() {
    set +e
    "${J[@]}" gc --grace 0s >/dev/null 2>&1
    pid=$(cat "$work/fs/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null
    ip link del "$bridge" 2>/dev/null
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$work"
}
trap cleanup EXIT

truncate -s 1G "$work/fs.img"; loop=$(losetup -f --show "$work/fs.img")
mkfs.ext4 -q -F "$loop"; mkdir "$work/fs"; mount "$loop" "$work/fs"
"$here/images/busybox/aci.sh" "$work/busybox.aci"
"${J[@]}" init >/dev/null
"${J[@]}" import -q "$work/busybox.aci" >/dev/null
declare -A pod
for n in host none default; do
    pod[$n]=$("${J[@]}" prepare --net "$n" example.com/busybox --exec /bin/true)
    "${J[@]}" run "${pod[$n]}"   # warm: clones, the bridge, the metadata service
done
for _ in $(seq "$runs"); do
    for n in host none default; do ms "${J[@]}" run "${pod[$n]}" >> "$work/$n.ms"; done
done
h=$(median < "$work/host.ms")
for n in host none default; do
    m=$(median < "$work/$n.ms")
    printf '%-8s median %7.2f ms   extra over host %6.2f ms\n' "$n" "$m" "$(echo "$m - $h" | bc -l)"
done
for _ in $(seq "$runs"); do
    "${J[@]}" --debug run "${pod[default]}" 2>&1 >/dev/null | tr -d '\033' | sed 's/\[[0-9;]*m//g' \
        | sed -n 's/.*network default: \([A-Z]*\) \([a-z-]*\): \([0-9.]*\) ms.*/\1 \2 \3/p' >> "$work/calls"
done
echo "CNI plugin calls of the default network, medians of $runs runs:"
for c in ADD DEL; do
    total=0
    for p in bridge portmap bandwidth; do
        m=$(awk -v c=$c -v p=$p '$1==c && $2==p {print $3}' "$work/calls" | median)
        [ -n "$m" ] || continue
        total=$(echo "$total + $m" | bc -l)
        printf '  %s %-10s %7.2f ms\n' "$c" "$p" "$m"
    done
    printf '  %s total      %7.2f ms\n' "$c" "$total"
done

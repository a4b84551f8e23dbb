#!/usr/bin/env bash
# Start cost of isolators: `jetpack run` of two prepared one-app pods running /bin/true from
# the busybox image with --net=host, one plain and one with every isolator Jetpack enforces
# (--memory and --cpu, so the pod gets cgroups; --caps-retain; --seccomp; and, through a pod
# manifest, no-new-privileges and oom-score-adj). Runs alternate between the two; prints the
# medians and the difference, which must stay under 2 ms per app.
#
# Usage (root): bench/isolators.sh [RUNS] [STORAGE]     e.g. bench/isolators.sh 100 overlay
set -euo pipefail
runs=${1:-50}
storage=${2:-overlay}
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpiso.XXXXXX)
# A network configuration, bridge, subnet and metadata port of its own (host-network pods use
# the metadata service too), so that nothing of the host's or another store's is touched.
NET=(-o "net.dir=$work/net.d" -o "net.default-bridge=jpb$(( $$ % 10000 ))"
     -o "net.default-subnet=10.251.$(( $$ % 250 )).0/24" -o "mds.port=$(( 20000 + $$ % 10000 ))")
J=("$jp" --config /dev/null -o "root=$work/store" -o "storage=$storage" "${NET[@]}")
cleanup() {
    set +e
    "${J[@]}" gc --grace 0s >/dev/null 2>&1
    pid=$(cat "$work/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null
    ip link del "jpb$(( $$ % 10000 ))" 2>/dev/null
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$work"
}
trap cleanup EXIT

"$here/images/busybox/aci.sh" "$work/busybox.aci"
"${J[@]}" init >/dev/null
"${J[@]}" import -q "$work/busybox.aci" >/dev/null
plain=$("${J[@]}" prepare --net host example.com/busybox --exec /bin/true)
cat > "$work/pod.json" <<'JSON'
{"acKind": "PodManifest", "acVersion": "0.8.11",
 "apps": [{"name": "busybox", "image": {"name": "example.com/busybox"},
           "app": {"exec": ["/bin/true"], "user": "0", "group": "0",
                   "isolators": [
                       {"name": "resource/memory", "value": {"limit": "256Mi"}},
                       {"name": "resource/cpu", "value": {"limit": "500m"}},
                       {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]}},
                       {"name": "os/linux/no-new-privileges", "value": true},
                       {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot", "kexec_load", "mkdir"], "errno": "EPERM"}},
                       {"name": "os/linux/oom-score-adj", "value": 100}]}}]}
JSON
isolated=$("${J[@]}" prepare --net host --pod-manifest "$work/pod.json")
"${J[@]}" run "$plain"
"${J[@]}" run "$isolated"

ms() { local s=$EPOCHREALTIME; "$@" >/dev/null; local e=$EPOCHREALTIME; echo "($e - $s) * 1000" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
p=""; i=""
for _ in $(seq "$runs"); do
    p+="$(ms "${J[@]}" run "$plain") "
    i+="$(ms "${J[@]}" run "$isolated") "
done
mp=$(tr ' ' '\n' <<<"$p" | grep . | median)
mi=$(tr ' ' '\n' <<<"$i" | grep . | median)
printf 'jetpack run of a /bin/true pod, %s runs each, storage %s, medians:\n' "$runs" "$storage"
printf '  without isolators %.2f ms   with isolators %.2f ms   difference %.2f ms\n' \
    "$mp" "$mi" "$(echo "$mi - $mp" | bc -l)"

#!/usr/bin/env bash
# Detached pods: what `run -d` costs over the foreground start path, what a supervisor costs
# in host memory, and `list` with 1,000 pods.
#
# 1. Start: a prepared one-app pod (--net none, `sleep 0.2`) started RUNS times alternately in
#    the foreground (`jetpack run POD` under a NOTIFY_SOCKET: the time until its READY=1, sent
#    once every app has exec'd) and detached (`jetpack run -d POD`: the time until it returns,
#    which is also once every app has exec'd). Medians and their difference.
# 2. Memory: PODS (default 100) detached pods running `sleep`; each supervisor's and init's
#    RSS, PSS (shared pages divided among the processes sharing them) and private memory, from
#    /proc/PID/smaps_rollup, and MemAvailable before and after. Medians per pod.
# 3. `list` (table and --json) with 1,000 pods: PODS running, 300 exited, the rest prepared.
#
# Store on a fresh ext4 loop device, overlay backend. SKIP_START=1 leaves out part 1.
# Usage (root): bench/detach.sh [RUNS] [PODS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-20}
npods=${2:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpdetach.XXXXXX)
loop=""
NET=(-o "net.dir=$work/net.d" -o "net.default-bridge=jpd$(( $$ % 10000 ))"
     -o "net.default-subnet=10.252.$(( $$ % 250 )).0/24" -o "mds.port=$(( 20000 + $$ % 10000 ))")
J=("$jp" --config /dev/null -o "root=$work/fs/store" -o storage=overlay "${NET[@]}")
cleanup() {
    set +e
    for p in $("${J[@]}" list -q 2>/dev/null); do "${J[@]}" kill "$p" >/dev/null 2>&1; done
    "${J[@]}" gc --grace 0s >/dev/null 2>&1
    pid=$(cat "$work/fs/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null
    ip link del "jpd$(( $$ % 10000 ))" 2>/dev/null
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$work"
}
trap cleanup EXIT
truncate -s 4G "$work/fs.img"; loop=$(losetup -f --show "$work/fs.img")
mkfs.ext4 -q -F "$loop"; mkdir "$work/fs"; mount "$loop" "$work/fs"
"$here/images/busybox/aci.sh" "$work/busybox.aci"
"${J[@]}" init >/dev/null
"${J[@]}" import -q "$work/busybox.aci" >/dev/null

if [ "${SKIP_START:-}" != 1 ]; then
echo "== start: foreground until READY=1 vs run -d until it returns ($runs runs each, alternating)"
pod=$("${J[@]}" prepare --net none example.com/busybox --exec /bin/sleep -- 0.2)
"${J[@]}" run "$pod" >/dev/null
# The foreground run, timed from its start to the READY=1 datagram; then waited for.
fg() {
    python3 - "$work/notify.sock" "${J[@]}" run "$pod" <<'EOF'
import os, socket, subprocess, sys, time
path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path)
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], env=env, stdout=subprocess.DEVNULL)
s.settimeout(30)
while b"READY=1" not in s.recv(4096):
    pass
t1 = time.perf_counter()
if p.wait() != 0:
    sys.exit("the pod failed")
print((t1 - t0) * 1000)
EOF
}
bg() {
    local t
    t=$(ms "${J[@]}" run -d "$pod")
    "${J[@]}" status --wait "$pod" >/dev/null
    echo "$t"
}
: >"$work/fg"; : >"$work/bg"
for _ in $(seq "$runs"); do fg >>"$work/fg"; bg >>"$work/bg"; done
f=$(median <"$work/fg"); b=$(median <"$work/bg")
printf 'foreground to READY=1  %7.2f ms\nrun -d returns         %7.2f ms\ndifference             %7.2f ms (ratio %.2f)\n' \
    "$f" "$b" "$(echo "$b - $f" | bc -l)" "$(echo "$b / $f" | bc -l)"
fi

echo "== memory: $npods detached pods running sleep"
avail() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
sync; echo 3 >/proc/sys/vm/drop_caches
before=$(avail)
for _ in $(seq "$npods"); do
    "${J[@]}" run -d --net none example.com/busybox --exec /bin/sleep -- 3600 >/dev/null
done
sleep 1
after=$(avail)
: >"$work/mem"
"${J[@]}" list --json | jq -r '.[] | select(.state == "running") | "\(.supervisor) \(.pid)"' |
while read -r sup init; do
    for pid in $sup $init; do
        awk -v pid="$pid" '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Private_Clean:/ {c=$2} /^Private_Dirty:/ {d=$2}
            END {print pid, r, p, c + d}' "/proc/$pid/smaps_rollup"
    done | paste -d' ' - - >>"$work/mem"
done
running=$(wc -l <"$work/mem")
col() { awk -v c="$1" '{print $c}' "$work/mem" | median; }
printf 'pods running           %d\n' "$running"
printf 'supervisor: RSS %s KiB, PSS %s KiB, private %s KiB (medians)\n' "$(col 2)" "$(col 3)" "$(col 4)"
printf 'pod init:   RSS %s KiB, PSS %s KiB, private %s KiB (medians)\n' "$(col 6)" "$(col 7)" "$(col 8)"
printf 'sum of PSS, supervisor and init: %s KiB per pod\n' "$(awk '{s += $3 + $7} END {printf "%d", s / NR}' "$work/mem")"
printf 'MemAvailable fell by %d KiB: %d KiB per pod (supervisor, init, the app and its kernel objects)\n' \
    "$((before - after))" "$(((before - after) / running))"

echo "== list with 1,000 pods ($npods running, 300 exited, the rest prepared)"
for _ in $(seq 300); do "${J[@]}" run --net none example.com/busybox --exec /bin/true >/dev/null; done
while [ "$("${J[@]}" list -q | wc -l)" -lt 1000 ]; do
    "${J[@]}" prepare --net none example.com/busybox --exec /bin/true >/dev/null
done
: >"$work/list"; : >"$work/json"
for _ in $(seq 15); do ms "${J[@]}" list >>"$work/list"; ms "${J[@]}" list --json >>"$work/json"; done
printf 'list        %7.2f ms\nlist --json %7.2f ms\n' "$(median <"$work/list")" "$(median <"$work/json")"

#!/usr/bin/env bash
# Pod start benchmark: `jetpack run` of a prepared one-app pod running /bin/true from a busybox
# image with --net=host, against `crun run` and `runc run` of an OCI bundle of the same rootfs
# (no network namespace either). Alternating runs, then a block of runs of each (a container's
# asynchronous teardown slows whatever starts next). Store and bundle live on a fresh ext4 loop
# device. Prints medians and ratios.
#
# This host has a hybrid cgroup layout, on which crun refuses to start ("cgroups in hybrid mode
# not supported") until the hugetlb controller is on a v1 hierarchy; the script mounts it for
# the run and undoes that afterwards.
#
# With JETPACK_BASE=/path/to/an/older/jetpack, that build runs the same pod too, alternating with
# the others, and the difference of the medians is printed (what a change costs at start).
#
# Usage (root): bench/start.sh [RUNS] [STORAGE]     e.g. bench/start.sh 50 overlay
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-30}
storage=${2:-overlay}
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
for t in crun runc; do command -v $t >/dev/null || { echo "install $t (apt-get install crun runc)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/jpstart.XXXXXX)
loop=""; hugetlb=""
# A network configuration, bridge, subnet and metadata port of its own (host-network pods use
# the metadata service too), so that nothing of the host's or another store's is touched.
NET=(-o "net.dir=$work/net.d" -o "net.default-bridge=jpb$(( $$ % 10000 ))"
     -o "net.default-subnet=10.251.$(( $$ % 250 )).0/24" -o "mds.port=$(( 20000 + $$ % 10000 ))")
cleanup() {
    set +e
    "$jp" --config /dev/null -o root="$work/fs/store" "${NET[@]}" gc --grace 0s >/dev/null 2>&1
    pid=$(cat "$work/fs/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null
    ip link del "jpb$(( $$ % 10000 ))" 2>/dev/null
    for id in $(crun list -q 2>/dev/null | grep '^jpbench'); do crun delete -f "$id"; done
    for id in $(runc list -q 2>/dev/null | grep '^jpbench'); do runc delete -f "$id"; done
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    [ -n "$loop" ] && losetup -d "$loop"
    if [ -n "$hugetlb" ]; then umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb; fi
    rm -rf "$work"
}
trap cleanup EXIT

truncate -s 1G "$work/fs.img"; loop=$(losetup -f --show "$work/fs.img")
mkfs.ext4 -q -F "$loop"; mkdir "$work/fs"; mount "$loop" "$work/fs"

# The image, imported and prepared once; `jetpack run POD` then starts it again each time
# (each run from a fresh clone, as the pod semantics require).
"$here/images/busybox/aci.sh" "$work/busybox.aci"
J=("$jp" --config /dev/null -o "root=$work/fs/store" -o "storage=$storage" "${NET[@]}")
"${J[@]}" init >/dev/null
"${J[@]}" import -q "$work/busybox.aci" >/dev/null
pod=$("${J[@]}" prepare --net host example.com/busybox --exec /bin/true)
"${J[@]}" run "$pod"

# The OCI bundle: the same rootfs, /bin/true, no terminal, no network namespace.
mkdir -p "$work/fs/bundle/rootfs"
tar -xzf "$work/busybox.aci" -C "$work/fs/bundle" rootfs
(cd "$work/fs/bundle" && crun spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false
    | .linux.namespaces |= map(select(.type != "network"))' \
    "$work/fs/bundle/config.json" > "$work/fs/bundle/config.json.new"
mv "$work/fs/bundle/config.json.new" "$work/fs/bundle/config.json"

if [ ! -d /sys/fs/cgroup/hugetlb ] && [ -d /sys/fs/cgroup/unified ]; then
    mkdir /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && hugetlb=1
fi
crun run --bundle "$work/fs/bundle" jpbench-check || { echo "crun does not run here" >&2; exit 1; }
runc run --bundle "$work/fs/bundle" jpbench-check || { echo "runc does not run here" >&2; exit 1; }

t_jp() { "${J[@]}" run "$pod" >/dev/null; }
t_crun() { crun run --bundle "$work/fs/bundle" jpbench-c >/dev/null; }
t_runc() { runc run --bundle "$work/fs/bundle" jpbench-r >/dev/null; }
t_base() { "$JETPACK_BASE" --config /dev/null -o "root=$work/fs/store" -o "storage=$storage" \
    -o "net.dir=$work/net.d" run "$pod" >/dev/null; }
tools=(jp crun runc)
[ -n "${JETPACK_BASE:-}" ] && tools+=(base)

declare -A alt block
for _ in $(seq "$runs"); do
    for t in "${tools[@]}"; do alt[$t]+="$(ms "t_$t") "; done
done
for t in "${tools[@]}"; do
    for _ in $(seq "$runs"); do block[$t]+="$(ms "t_$t") "; done
done
report() { # MODE ARRAY-NAME
    local -n a=$2
    local j c r
    j=$(tr ' ' '\n' <<<"${a[jp]}" | grep . | median); c=$(tr ' ' '\n' <<<"${a[crun]}" | grep . | median)
    r=$(tr ' ' '\n' <<<"${a[runc]}" | grep . | median)
    printf '%-11s jetpack %.2f ms   crun %.2f ms   runc %.2f ms   jetpack/crun %.2f   jetpack/runc %.2f\n' \
        "$1" "$j" "$c" "$r" "$(echo "$j / $c" | bc -l)" "$(echo "$j / $r" | bc -l)"
    if [ -n "${JETPACK_BASE:-}" ]; then
        local b
        b=$(tr ' ' '\n' <<<"${a[base]}" | grep . | median)
        printf '%-11s base %.2f ms   jetpack - base %+.2f ms\n' "" "$b" "$(echo "$j - $b" | bc -l)"
    fi
}
echo "start of a /bin/true pod, $runs runs each, storage $storage, medians:"
report alternating alt
report block block

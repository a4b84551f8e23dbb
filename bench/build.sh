#!/usr/bin/env bash
# Build benchmark: `jetpack build --net none` of a step that adds one 1 MB file, on a parent of
# busybox plus 200 MB in 2000 files of 100 KB against the same step on a parent with 20 MB (200
# such files; BENCH_FILE_KB sets the file size, so the count):
# the goal is 200/20 <= 1.3x on zfs, btrfs and overlay (a build costs its change, not its
# parent). The same step with Debian's buildah (`buildah from` the same parent, exported by
# `jetpack image export --format oci` and pulled into buildah's own storage on the same file
# system, `buildah run --network none`, `buildah commit`): goal jetpack <= 0.5x buildah.
# buildah uses its overlay driver on ext4 (overlay, dir) and btrfs, vfs on zfs-fuse (overlay
# cannot stack on a FUSE upper directory), and runc (crun refuses this host's hybrid cgroups).
# Runs alternate (jetpack 20, jetpack 200, buildah 20, buildah 200); the built image or
# container image is removed after each run, untimed.
# overlay and dir run on a fresh ext4 loop device, btrfs on a btrfs loop device, zfs on a
# zfs-fuse file-backed pool. Prints medians and ratios.
#
# Usage (root): bench/build.sh [RUNS] [BACKENDS...]   e.g. bench/build.sh 5 btrfs overlay
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-5}; shift || true
backends=("$@"); [ ${#backends[@]} -gt 0 ] || backends=(zfs btrfs overlay)
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
command -v buildah >/dev/null || { echo "install buildah (apt-get install buildah)" >&2; exit 1; }
work=$(mktemp -d /tmp/jpbuild.XXXXXX)
loops=(); mounts=(); pool=""
# Each store has a network configuration, bridge, subnet and metadata port of its own
# (nothing of the host's; stores may not share them): see `net_for`.
net_for() { # INDEX
    NET=(-o "net.dir=$work/net$1.d" -o "net.default-bridge=jpbb$(( $$ % 1000 ))x$1"
         -o "net.default-subnet=10.252.$(( ($$ + $1) % 250 )).0/24" -o "mds.port=$(( 20000 + ($$ + $1) % 10000 ))")
}
cleanup() {
    set +e
    for b in "${backends[@]}"; do
        # A build starts the store's on-demand metadata service, which would keep the file
        # system busy.
        pid=$(cat "$work/fs-$b/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null && sleep 0.5
        [ -d "$work/fs-$b/bah" ] && buildah --root "$work/fs-$b/bah/root" --runroot "$work/fs-$b/bah/run" \
            rm --all >/dev/null 2>&1
    done
    for m in "${mounts[@]}"; do
        for sub in $(grep -o " $m[^ ]*" /proc/self/mounts | sort -r); do umount -l "$sub"; done
    done
    if [ -n "$pool" ]; then for _ in $(seq 30); do zpool destroy -f "$pool" 2>/dev/null && break; sleep 1; done; fi
    for l in "${loops[@]}"; do losetup -d "$l"; done
    for i in 0 1 2 3; do ip link del "jpbb$(( $$ % 1000 ))x$i" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# The parents: busybox plus SIZE MB of random data in files of BENCH_FILE_KB, 50 a directory,
# as uncompressed ACIs (import time is not measured here).
kb=${BENCH_FILE_KB:-100}
"$here/images/busybox/aci.sh" "$work/busybox.aci" example.com/bb 1.0.0 >/dev/null
parent() { # MB
    local d=$work/p$1; mkdir -p "$d"; tar -xzf "$work/busybox.aci" -C "$d"
    sed -i "s|example.com/bb|example.com/parent$1|" "$d/manifest"
    local files=$(( $1 * 1024 / kb ))
    for i in $(seq 0 $(( files - 1 ))); do
        mkdir -p "$d/rootfs/data/d$(( i / 50 ))"
        head -c "${kb}K" /dev/urandom > "$d/rootfs/data/d$(( i / 50 ))/f$i"
    done
    tar --numeric-owner -C "$d" -cf "$work/parent$1.aci" manifest rootfs; rm -rf "$d"
}
parent 20; parent 200
mkdir -p "$work/ctx"; head -c 1M /dev/urandom > "$work/ctx/one"
echo "parents: busybox plus 20 MB and 200 MB in files of $kb KB; the step adds one 1 MB file"

loopfs() { # TYPE SIZE MOUNTPOINT
    truncate -s "$2" "$work/$1.img"; local dev; dev=$(losetup -f --show "$work/$1.img"); loops+=("$dev")
    if [ "$1" = ext4 ]; then mkfs.ext4 -q -F "$dev"; else mkfs.btrfs -q -f "$dev" >/dev/null 2>&1; fi
    mkdir -p "$3"; mount "$dev" "$3"; mounts+=("$3")
}

bi=0
for b in "${backends[@]}"; do
    fs=$work/fs-$b
    net_for $bi; bi=$((bi + 1))
    J=("$jp" --config /dev/null -o "root=$fs/store" -o "storage=$b" "${NET[@]}")
    driver=overlay
    case $b in
        dir|overlay) loopfs ext4 6G "$fs" ;;
        btrfs) loopfs btrfs 6G "$fs" ;;
        zfs)
            pgrep -x zfs-fuse >/dev/null || { zfs-fuse; sleep 1; }
            pool=jpbb$$; truncate -s 6G "$work/zfs.img"; zpool create -f -m none "$pool" "$work/zfs.img"
            mkdir -p "$fs"; zfs create -o "mountpoint=$fs/bah" "$pool/buildah"
            J+=(-o "zfs.dataset=$pool/jetpack"); driver=vfs ;;
    esac
    B=(buildah --root "$fs/bah/root" --runroot "$fs/bah/run" --storage-driver "$driver")
    "${J[@]}" init >/dev/null
    for n in 20 200; do
        "${J[@]}" import -q "$work/parent$n.aci" >/dev/null
        "${J[@]}" image export --format oci "example.com/parent$n" "oci-archive:$work/parent$n.tar:latest" >/dev/null
        "${B[@]}" pull -q "oci-archive:$work/parent$n.tar" > "$work/bah$n.id"
        # Named, or `rmi` of a built image would remove it as its dangling parent.
        "${B[@]}" tag "$(cat "$work/bah$n.id")" "localhost/parent$n"
        rm -f "$work/parent$n.tar"
    done
    declare -A t=()
    k=0
    for _ in $(seq "$runs"); do
        for n in 20 200; do
            k=$((k + 1))
            sync
            t[j$n]+="$(ms "${J[@]}" build --net none --dir "$work/ctx" --name "example.com/built$k" \
                --save-id "$work/built.id" "example.com/parent$n" -- /bin/cp one /one) "
            "${J[@]}" image rm "$(cat "$work/built.id")" >/dev/null
        done
        for n in 20 200; do
            sync
            t[b$n]+="$(ms sh -c "c=\$($(printf '%q ' "${B[@]}") from --pull=never -q $(cat "$work/bah$n.id")) &&
                $(printf '%q ' "${B[@]}") run --runtime runc --network none -v $work/ctx:/ctx \"\$c\" -- /bin/cp /ctx/one /one &&
                $(printf '%q ' "${B[@]}") commit -q \"\$c\" built$n >$work/bah-built.id &&
                $(printf '%q ' "${B[@]}") rm \"\$c\" >/dev/null")"
            t[b$n]+=" "
            "${B[@]}" rmi "$(cat "$work/bah-built.id")" >/dev/null
        done
    done
    med() { printf '%s\n' ${t[$1]} | median; }
    j20=$(med j20); j200=$(med j200); b20=$(med b20); b200=$(med b200)
    printf '%-7s jetpack build  20 MB %6.0f ms  200 MB %6.0f ms  ratio 200/20 %.2f (goal <= 1.3)\n' \
        "$b" "$j20" "$j200" "$(echo "$j200 / $j20" | bc -l)"
    printf '        buildah (%s) 20 MB %6.0f ms  200 MB %6.0f ms  jetpack/buildah %.2f at 20 MB, %.2f at 200 MB (goal <= 0.5)\n' \
        "$driver" "$b20" "$b200" "$(echo "$j20 / $b20" | bc -l)" "$(echo "$j200 / $b200" | bc -l)"
    for key in j20 j200 b20 b200; do echo "        $key runs (ms): ${t[$key]}"; done
    unset t
    "${B[@]}" rm --all >/dev/null 2>&1 || true
    "${B[@]}" rmi --all -f >/dev/null 2>&1 || true
done

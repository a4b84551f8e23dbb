#!/usr/bin/env bash
# Prepare benchmark: `jetpack prepare` of a ~200 MB image against a ~20 MB image, per storage
# backend. On zfs, btrfs and overlay the app rootfs is a clone, so both should take about the
# same time (goal: ratio <= 1.3); dir copies, so it grows with the image. dir and overlay run on
# a fresh ext4 loop device, btrfs on a btrfs loop device, zfs on a zfs-fuse file-backed pool.
#
# Usage (root): bench/prepare.sh [RUNS] [BACKENDS...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-9}; shift || true
backends=("$@"); [ ${#backends[@]} -gt 0 ] || backends=(zfs btrfs overlay dir)
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpprep.XXXXXX)
loops=(); pool=""
cleanup() {
    set +e
    for b in "${backends[@]}"; do "$jp" -o "root=$work/fs-$b/store" gc --grace 0s >/dev/null 2>&1; done
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    if [ -n "$pool" ]; then for _ in $(seq 30); do zpool destroy -f "$pool" 2>/dev/null && break; sleep 1; done; fi
    for l in "${loops[@]}"; do losetup -d "$l"; done
    rm -rf "$work"
}
trap cleanup EXIT

# Two images: busybox plus ~20 MB or ~200 MB of real files.
mk() { # NAME MB
    local l=$work/layout-$1; mkdir -p "$l/rootfs"
    tar -xzf "$work/busybox.aci" -C "$l" rootfs
    mkdir -p "$l/rootfs/usr/payload"
    find /usr/lib /usr/share -xdev -type f -size -2M -printf '%s\t%p\n' 2>/dev/null \
        | awk -F'\t' -v max=$(($2 * 1048576)) '{t += $1; if (t > max) exit; print $2}' > "$work/list-$1" || true
    tar -cf - -T "$work/list-$1" 2>/dev/null | tar -xf - -C "$l/rootfs/usr/payload"
    printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/%s","app":{"exec":["/bin/true"],"user":"0","group":"0"}}' "$1" > "$l/manifest"
    tar --numeric-owner -C "$l" -czf "$work/$1.aci" rootfs manifest
    rm -rf "$l"
}
"$here/scripts/busybox-aci.sh" "$work/busybox.aci"
mk small 20; mk large 200
echo "images: small $(gzip -dc "$work/small.aci" | wc -c | awk '{printf "%d", $1/1048576}') MB, large $(gzip -dc "$work/large.aci" | wc -c | awk '{printf "%d", $1/1048576}') MB (uncompressed)"

loopfs() { # TYPE MOUNTPOINT
    truncate -s 3G "$work/$1-$(basename "$2").img"; local dev; dev=$(losetup -f --show "$work/$1-$(basename "$2").img"); loops+=("$dev")
    if [ "$1" = ext4 ]; then mkfs.ext4 -q -F "$dev"; else mkfs.btrfs -q -f "$dev" >/dev/null 2>&1; fi
    mkdir -p "$2"; mount "$dev" "$2"
}

for b in "${backends[@]}"; do
    fs=$work/fs-$b
    # Its own (unused) network directory: init writes the default network there, not in /etc.
    conf=(--config /dev/null -o "root=$fs/store" -o "storage=$b" -o "net.dir=$fs/net.d")
    case $b in
        dir|overlay) loopfs ext4 "$fs" ;;
        btrfs) loopfs btrfs "$fs" ;;
        zfs) pgrep -x zfs-fuse >/dev/null || { zfs-fuse; sleep 1; }
             pool=jpprep$$; truncate -s 3G "$work/zfs.img"; zpool create -f -m none "$pool" "$work/zfs.img"
             mkdir -p "$fs"; conf+=(-o "zfs.dataset=$pool/jetpack") ;;
    esac
    "$jp" "${conf[@]}" init >/dev/null
    "$jp" "${conf[@]}" import -q "$work/small.aci" >/dev/null
    "$jp" "${conf[@]}" import -q "$work/large.aci" >/dev/null
    small=(); large=()
    for _ in $(seq "$runs"); do
        small+=("$(ms "$jp" "${conf[@]}" prepare example.com/small)")
        large+=("$(ms "$jp" "${conf[@]}" prepare example.com/large)")
    done
    sm=$(printf '%s\n' "${small[@]}" | median); lm=$(printf '%s\n' "${large[@]}" | median)
    printf '%-8s prepare small %.1f ms   large %.1f ms   large/small %.2f\n' "$b" "$sm" "$lm" "$(echo "$lm / $sm" | bc -l)"
    "$jp" "${conf[@]}" gc --grace 0s >/dev/null
done

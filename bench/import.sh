#!/usr/bin/env bash
# Import benchmark: `jetpack import` of a ~100 MB gzip ACI built from /usr/bin, against GNU
# `gzip -dc | tar -x` into a fresh directory on the same filesystem, alternating in one run,
# with `gzip -dc | sha512sum` as the CPU floor. dir and overlay run on a fresh ext4 loop device
# (the VM's root disk is too slow at creating files to measure code), btrfs on a btrfs loop
# device, zfs on a zfs-fuse file-backed pool. Prints medians and ratios. Each run also imports
# with JETPACK_IMPORT_NO_SYNC=1 (no syncfs of the tree before sealing) into a fresh store, to
# show what making the image durable costs.
#
# Usage (root): bench/import.sh [RUNS] [BACKENDS...]   e.g. bench/import.sh 7 dir overlay
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-5}; shift || true
backends=("$@"); [ ${#backends[@]} -gt 0 ] || backends=(dir overlay btrfs zfs)
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpbench.XXXXXX)
loops=(); mounts=(); pool=""
cleanup() {
    set +e
    for m in "${mounts[@]}"; do
        for sub in $(grep -o " $m[^ ]*" /proc/self/mounts | sort -r); do umount -l "$sub"; done
    done
    # zfs-fuse releases datasets asynchronously after unmounting; retry while it says busy.
    if [ -n "$pool" ]; then for _ in $(seq 30); do zpool destroy -f "$pool" 2>/dev/null && break; sleep 1; done; fi
    for l in "${loops[@]}"; do losetup -d "$l"; done
    rm -rf "$work"
}
trap cleanup EXIT

aci=$work/usrbin.aci
if [ ! -f "$aci" ]; then
    mkdir -p "$work/layout/rootfs/usr"
    printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/usrbin","labels":[{"name":"version","value":"1"}]}' > "$work/layout/manifest"
    tar -C / -cf - usr/bin | tar -C "$work/layout/rootfs" -xf -
    tar --numeric-owner -C "$work/layout" -cf - rootfs manifest | gzip -6 > "$aci"
    rm -rf "$work/layout"
fi
echo "ACI: $(du -m "$aci" | cut -f1) MB gzip, $(gzip -dc "$aci" | wc -c | awk '{printf "%d", $1/1048576}') MB tar, $(gzip -dc "$aci" | tar -t | wc -l) entries"

loopfs() { # TYPE SIZE MOUNTPOINT
    truncate -s "$2" "$work/$1.img"; local dev; dev=$(losetup -f --show "$work/$1.img"); loops+=("$dev")
    if [ "$1" = ext4 ]; then mkfs.ext4 -q -F "$dev"; else mkfs.btrfs -q -f "$dev" >/dev/null 2>&1; fi
    mkdir -p "$3"; mount "$dev" "$3"; mounts+=("$3")
}

now() { date +%s.%N; }
# zfs-fuse finishes unmounting asynchronously: retry a removal that finds a busy mount point.
rmrf() { for _ in $(seq 40); do rm -rf "$1" 2>/dev/null && return 0; sleep 0.25; done; rm -rf "$1"; }
# Empties a store through jetpack itself (sealed btrfs subvolumes and zfs datasets are read-only).
wipe() { [ -f "$fs/store/store.json" ] || return 0
    for id in $("$jp" "${conf[@]}" images --no-trunc | awk 'NR>1 {print $1}'); do "$jp" "${conf[@]}" image rm -f "$id" >/dev/null; done
    "$jp" "${conf[@]}" gc >/dev/null; }

floor=()
for _ in $(seq "$runs"); do t0=$(now); gzip -dc "$aci" | sha512sum >/dev/null; t1=$(now); floor+=("$(echo "$t1 - $t0" | bc -l)"); done
floor_med=$(printf '%s\n' "${floor[@]}" | median)
printf 'floor  gzip -dc | sha512sum          median %.3fs\n' "$floor_med"

for b in "${backends[@]}"; do
    fs=$work/fs-$b
    # Its own (unused) network directory: init writes the default network there, not in /etc.
    conf=(--config /dev/null -o "root=$fs/store" -o "storage=$b" -o "net.dir=$fs/net.d")
    case $b in
        dir|overlay) loopfs ext4 4G "$fs" ;;
        btrfs) loopfs btrfs 4G "$fs" ;;
        zfs)
            pgrep -x zfs-fuse >/dev/null || { zfs-fuse; sleep 1; }
            pool=jpbench$$; truncate -s 4G "$work/zfs.img"; zpool create -f -m none "$pool" "$work/zfs.img"
            mkdir -p "$fs"; conf+=(-o "zfs.dataset=$pool/jetpack") ;;
    esac
    jpt=(); jpn=(); tart=()
    for _ in $(seq "$runs"); do
        # jetpack: fresh store each run (removal and init are not timed).
        # zfs keeps its datasets (emptied through jetpack); the others start from nothing.
        wipe; [ "$b" = zfs ] || rmrf "$fs/store"; "$jp" "${conf[@]}" init >/dev/null
        sync; t0=$(now); "$jp" "${conf[@]}" import -q "$aci" >/dev/null; t1=$(now)
        jpt+=("$(echo "$t1 - $t0" | bc -l)")
        # The same without the sync before sealing (the `sync` after it is not timed).
        wipe; [ "$b" = zfs ] || rmrf "$fs/store"; "$jp" "${conf[@]}" init >/dev/null
        sync; t0=$(now); JETPACK_IMPORT_NO_SYNC=1 "$jp" "${conf[@]}" import -q "$aci" >/dev/null; t1=$(now)
        jpn+=("$(echo "$t1 - $t0" | bc -l)")
        # GNU tar: fresh directory on the same filesystem.
        tdir=$fs/tar; [ "$b" = zfs ] && tdir=$fs/store/storage/tmp/tar
        rm -rf "$tdir"; mkdir -p "$tdir"
        sync; t0=$(now); gzip -dc "$aci" | tar -x -C "$tdir"; t1=$(now)
        tart+=("$(echo "$t1 - $t0" | bc -l)")
        rm -rf "$tdir"
    done
    jm=$(printf '%s\n' "${jpt[@]}" | median); tm=$(printf '%s\n' "${tart[@]}" | median)
    nm=$(printf '%s\n' "${jpn[@]}" | median)
    printf '%-7s jetpack import median %.3fs   gzip|tar median %.3fs   ratio %.2f   (vs floor %.2f)\n' \
        "$b" "$jm" "$tm" "$(echo "$jm / $tm" | bc -l)" "$(echo "$jm / $floor_med" | bc -l)"
    printf '        without the sync before sealing: median %.3fs   (the sync costs %.3fs, %.0f%%)\n' \
        "$nm" "$(echo "$jm - $nm" | bc -l)" "$(echo "($jm - $nm) * 100 / $nm" | bc -l)"
    echo "        jetpack runs: ${jpt[*]}"
    echo "        no-sync runs: ${jpn[*]}"
    echo "        tar runs:     ${tart[*]}"
    wipe; [ "$b" = zfs ] || rmrf "$fs/store"
done

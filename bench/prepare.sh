#!/usr/bin/env bash
# Prepare benchmark: `jetpack prepare` of a ~200 MB image against a ~20 MB image, per storage
# backend. On zfs, btrfs and overlay the app rootfs is a clone, so both should take about the
# same time (goal: ratio <= 1.3); dir copies, so it grows with the image. dir and overlay run on
# a fresh ext4 loop device, btrfs on a btrfs loop device, zfs on a zfs-fuse file-backed pool.
# Then the same ~200 MB as an OCI image of 1 layer and of 10 layers (busybox, then the files in
# 9 layers), imported from OCI layouts: `prepare`, and `run` of the prepared pod (where overlay
# mounts its stack of lower layers), of the 10-layer image against the 1-layer one (goal <= 1.3).
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
    for b in "${backends[@]}"; do
        "$jp" --config /dev/null -o "root=$work/fs-$b/store" gc --grace 0s >/dev/null 2>&1
        pid=$(cat "$work/fs-$b/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null
    done
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
"$here/images/busybox/aci.sh" "$work/busybox.aci"
mk small 20; mk large 200
echo "images: small $(gzip -dc "$work/small.aci" | wc -c | awk '{printf "%d", $1/1048576}') MB, large $(gzip -dc "$work/large.aci" | wc -c | awk '{printf "%d", $1/1048576}') MB (uncompressed)"

# An OCI layout DIR (tag 1) of the given layer tars, gzip-compressed, exec /bin/true.
oci_layout() { # DIR TAR...
    local d=$1; shift; mkdir -p "$d/blobs/sha256"
    local descs="[]" diffs="[]" t diff dg sz
    put() { dg=$(sha256sum < "$1" | cut -d' ' -f1); sz=$(stat -c %s "$1"); mv "$1" "$d/blobs/sha256/$dg"; }
    for t in "$@"; do
        diff=$(sha256sum < "$t" | cut -d' ' -f1)
        gzip -1 -c "$t" > "$d/blob.tmp"; put "$d/blob.tmp"
        descs=$(jq -c --arg d "sha256:$dg" --argjson s "$sz" '. + [{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":$d,"size":$s}]' <<<"$descs")
        diffs=$(jq -c --arg d "sha256:$diff" '. + [$d]' <<<"$diffs")
    done
    jq -nc --argjson diffs "$diffs" '{architecture:"amd64",os:"linux",config:{Cmd:["/bin/true"]},rootfs:{type:"layers",diff_ids:$diffs}}' > "$d/blob.tmp"
    put "$d/blob.tmp"; local config="sha256:$dg" csz=$sz
    jq -nc --arg c "$config" --argjson cs "$csz" --argjson layers "$descs" \
        '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},layers:$layers}' > "$d/blob.tmp"
    put "$d/blob.tmp"
    jq -nc --arg m "sha256:$dg" --argjson s "$sz" \
        '{schemaVersion:2,manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$m,size:$s,annotations:{"org.opencontainers.image.ref.name":"1"}}]}' > "$d/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"
}
mkdir -p "$work/oci/rootfs/usr/payload"
tar -xzf "$work/busybox.aci" -C "$work/oci" rootfs
tar --numeric-owner -C "$work/oci/rootfs" -cf "$work/oci/base.tar" .
split -n l/9 -d "$work/list-large" "$work/oci/part-"
files=()
for part in "$work"/oci/part-*; do
    # Each part under usr/payload, as the ACI has it.
    rm -rf "$work/oci/p"; mkdir -p "$work/oci/p/usr/payload"
    tar -cf - -T "$part" 2>/dev/null | tar -xf - -C "$work/oci/p/usr/payload"
    tar --numeric-owner -C "$work/oci/p" -cf "$part.tar" usr
    files+=("$part.tar")
done
rm -rf "$work/oci/p"; mkdir -p "$work/oci/p"
tar -xf "$work/oci/base.tar" -C "$work/oci/p"
for f in "${files[@]}"; do tar -xf "$f" -C "$work/oci/p"; done
tar --numeric-owner -C "$work/oci/p" -cf "$work/oci/one.tar" .
rm -rf "$work/oci/p" "$work/oci/rootfs"
oci_layout "$work/oci/layers1" "$work/oci/one.tar"
oci_layout "$work/oci/layers10" "$work/oci/base.tar" "${files[@]}"
rm -f "$work"/oci/*.tar "$work"/oci/part-*

loopfs() { # TYPE MOUNTPOINT
    truncate -s 3G "$work/$1-$(basename "$2").img"; local dev; dev=$(losetup -f --show "$work/$1-$(basename "$2").img"); loops+=("$dev")
    if [ "$1" = ext4 ]; then mkfs.ext4 -q -F "$dev"; else mkfs.btrfs -q -f "$dev" >/dev/null 2>&1; fi
    mkdir -p "$2"; mount "$dev" "$2"
}

for b in "${backends[@]}"; do
    fs=$work/fs-$b
    # Its own (unused) network directory: init writes the default network there, not in /etc.
    # A bridge, subnet and metadata port of its own, too (pods of every network use the
    # metadata service): nothing of the host's or another store's is touched.
    n=$(( ($$ + ${#b} * 7 + $(printf '%d' "'$b")) % 200 ))
    conf=(--config /dev/null -o "root=$fs/store" -o "storage=$b" -o "net.dir=$fs/net.d"
          -o "net.default-bridge=jpp$n" -o "net.default-subnet=10.252.$n.0/24" -o "mds.port=$(( 21000 + n ))")
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
    one=$("$jp" "${conf[@]}" import "oci:$work/oci/layers1:1")
    ten=$("$jp" "${conf[@]}" import "oci:$work/oci/layers10:1")
    p1=(); p10=(); r1=(); r10=()
    for _ in $(seq "$runs"); do
        p1+=("$(ms "$jp" "${conf[@]}" prepare --net none "$one")")
        p10+=("$(ms "$jp" "${conf[@]}" prepare --net none "$ten")")
        u1=$("$jp" "${conf[@]}" prepare --net none "$one"); u10=$("$jp" "${conf[@]}" prepare --net none "$ten")
        r1+=("$(ms "$jp" "${conf[@]}" run "$u1")")
        r10+=("$(ms "$jp" "${conf[@]}" run "$u10")")
    done
    pm1=$(printf '%s\n' "${p1[@]}" | median); pm10=$(printf '%s\n' "${p10[@]}" | median)
    rm1=$(printf '%s\n' "${r1[@]}" | median); rm10=$(printf '%s\n' "${r10[@]}" | median)
    printf '%-8s OCI prepare 1 layer %.1f ms   10 layers %.1f ms   10/1 %.2f\n' "$b" "$pm1" "$pm10" "$(echo "$pm10 / $pm1" | bc -l)"
    printf '%-8s OCI run     1 layer %.1f ms   10 layers %.1f ms   10/1 %.2f\n' "$b" "$rm1" "$rm10" "$(echo "$rm10 / $rm1" | bc -l)"
    for u in $("$jp" "${conf[@]}" list --json | jq -r '.[].uuid'); do "$jp" "${conf[@]}" destroy "$u" >/dev/null; done
    pid=$(cat "$fs/store/mds/lock" 2>/dev/null) && kill "$pid" 2>/dev/null || true
    ip link del "jpp$n" 2>/dev/null || true
    "$jp" "${conf[@]}" gc --grace 0s >/dev/null
done

#!/usr/bin/env bash
# OCI pull benchmark: a 4-layer image of about 150 MB (a busybox-static base, ~75 MB of real
# files from /usr/share, ~60 MB of random data, a ~10 MB top layer of random and text files),
# gzip layers, pushed with skopeo to Debian's docker-registry on 127.0.0.1 (plain HTTP). Timed,
# alternating, RUNS times each, into empty storage:
#   - `jetpack fetch --insecure-options=http docker://…:1` into an empty store;
#   - `podman pull --tls-verify=false` with its own --root/--runroot (overlay driver);
#   - `skopeo copy` to an OCI layout + `umoci unpack` (what a runtime without a store does);
# then the update case: tag 2 differs from tag 1 only in its top layer; after pulling tag 1
# (not timed), pulling tag 2 is timed for jetpack and podman. Prints medians and the ratios
# jetpack/podman, jetpack/(skopeo+umoci) and update/first.
#
# The store and podman's root share one filesystem: a fresh ext4 loop device for overlay and
# dir, a btrfs loop device for btrfs; for zfs the store is on a zfs-fuse file-backed pool and
# podman, skopeo and umoci on a fresh ext4 loop device (podman's overlay driver cannot use FUSE).
#
# Usage (root): bench/oci-pull.sh [RUNS] [STORAGE]   STORAGE: overlay (default), zfs, btrfs, dir
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-5}
backend=${2:-overlay}
case $backend in overlay|zfs|btrfs|dir) ;; *) echo "unknown storage $backend" >&2; exit 2 ;; esac
for tool in docker-registry skopeo umoci podman jq; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")/.." && pwd)
jp=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$jp" ] || (cd "$here" && cargo build --release -q)
work=$(mktemp -d /tmp/jpoci.XXXXXX)
loops=(); pool=""; registry=""
cleanup() {
    set +e
    [ -n "$registry" ] && kill "$registry" 2>/dev/null && wait "$registry" 2>/dev/null
    [ -n "$pool" ] && "$jp" "${conf[@]}" gc --grace 0s >/dev/null 2>&1
    grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    # zfs-fuse releases datasets asynchronously after unmounting; retry while it says busy.
    if [ -n "$pool" ]; then for _ in $(seq 30); do zpool destroy -f "$pool" 2>/dev/null && break; sleep 1; done; fi
    for l in "${loops[@]}"; do losetup -d "$l"; done
    rm -rf "$work"
}
trap cleanup EXIT

# --- the registry ---------------------------------------------------------------------------
port=""
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
[ -n "$port" ] || { echo "no free port" >&2; exit 1; }
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/data
http:
  addr: 127.0.0.1:$port
  secret: jetpack-bench-secret
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$work/registry/log" >&2; exit 1; }
repo=127.0.0.1:$port/bench/img

# --- the image: an OCI layout with tags 1 and 2, built with tar, gzip and jq ------------------
oci=$work/oci; mkdir -p "$oci/blobs/sha256"
blob() { # FILE: moves FILE into the layout's blobs, prints its digest
    local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$oci/blobs/sha256/$d"; echo "sha256:$d"; }
layers=(); diffs=(); sizes=(); tars=()
layer() { # DIR: appends DIR as a gzip layer
    local t=$work/layer.tar
    (cd "$1" && tar --numeric-owner --owner=0 --group=0 --sort=name -cf "$t" -- *)
    diffs+=("sha256:$(sha256sum "$t" | cut -d' ' -f1)"); tars+=("$(stat -c %s "$t")")
    gzip -6 -n "$t"; sizes+=("$(stat -c %s "$t.gz")"); layers+=("$(blob "$t.gz")")
    rm -rf "$1"
}
d=$work/l1; mkdir -p "$d/bin" "$d/etc" "$d/tmp"
cp /bin/busybox "$d/bin/busybox"; ln -s busybox "$d/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' > "$d/etc/passwd"
layer "$d"
d=$work/l2; mkdir -p "$d/usr/share"
find /usr/share -xdev -type f -size -1024k -printf '%s\t%P\n' 2>/dev/null \
    | awk -F'\t' -v max=$((75 * 1048576)) '{t += $1; if (t > max) exit; print $2}' > "$work/list" || true
tar -C /usr/share -cf - -T "$work/list" 2>/dev/null | tar -xf - -C "$d/usr/share"
layer "$d"
d=$work/l3; mkdir -p "$d/var/data"
for i in $(seq 60); do head -c 1048576 /dev/urandom > "$d/var/data/blob$i"; done
layer "$d"
top() { # TAG: the top layer, different for each tag
    local d=$work/l4; mkdir -p "$d/app"
    for i in $(seq 5); do head -c 1048576 /dev/urandom > "$d/app/data$i"; done
    for i in $(seq 5); do head -c 786432 /dev/urandom | base64 > "$d/app/text$i"; done
    echo "$1" > "$d/app/tag"
    layer "$d"
}
top 1; top 2
manifest() { # TAG: the manifest of the base layers and that tag's top layer; prints its descriptor
    local top=$(( $1 + 2 ))  # tag 1: layers[3], tag 2: layers[4]
    local idx=(0 1 2 "$top") ls="" ds="" i
    for i in "${idx[@]}"; do
        ls+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"${layers[$i]}\",\"size\":${sizes[$i]}},"
        ds+="\"${diffs[$i]}\","
    done
    jq -cn --argjson d "[${ds%,}]" '{architecture:"amd64",os:"linux",
        config:{Env:["PATH=/bin"],Cmd:["/bin/sh"]},rootfs:{type:"layers",diff_ids:$d}}' > "$work/config"
    local cs; cs=$(stat -c %s "$work/config"); local cd; cd=$(blob "$work/config")
    jq -cn --argjson l "[${ls%,}]" --arg cd "$cd" --argjson cs "$cs" '{schemaVersion:2,
        mediaType:"application/vnd.oci.image.manifest.v1+json",
        config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$cd,size:$cs},layers:$l}' > "$work/manifest"
    local ms; ms=$(stat -c %s "$work/manifest"); local md; md=$(blob "$work/manifest")
    jq -cn --arg md "$md" --argjson ms "$ms" --arg t "$1" '{mediaType:"application/vnd.oci.image.manifest.v1+json",
        digest:$md,size:$ms,annotations:{"org.opencontainers.image.ref.name":$t}}'
}
m1=$(manifest 1); m2=$(manifest 2)
jq -cn --argjson a "$m1" --argjson b "$m2" '{schemaVersion:2,manifests:[$a,$b]}' > "$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
for t in 1 2; do skopeo copy -q --dest-tls-verify=false "oci:$oci:$t" "docker://$repo:$t"; done
total=0; for s in "${sizes[@]:0:4}"; do total=$((total + s)); done
tar_total=0; for s in "${tars[@]:0:4}"; do tar_total=$((tar_total + s)); done
echo "image: 4 layers, $((tar_total / 1048576)) MB of tar, $((total / 1048576)) MB gzip; the top layer (what tag 2 changes) $(( ${tars[3]} / 1048576 )) MB of tar, $(( ${sizes[3]} / 1048576 )) MB gzip"

# --- the filesystems ------------------------------------------------------------------------
loopfs() { # TYPE MOUNTPOINT
    truncate -s 4G "$work/$1-$(basename "$2").img"
    local dev; dev=$(losetup -f --show "$work/$1-$(basename "$2").img"); loops+=("$dev")
    if [ "$1" = ext4 ]; then mkfs.ext4 -q -F "$dev"; else mkfs.btrfs -q -f "$dev" >/dev/null 2>&1; fi
    mkdir -p "$2"; mount "$dev" "$2"
}
fs=$work/fs; others=$fs   # jetpack's filesystem; podman's, skopeo's and umoci's
conf=(--config /dev/null -o "root=$fs/store" -o "storage=$backend" -o "net.dir=$fs/net.d")
case $backend in
    dir|overlay) loopfs ext4 "$fs" ;;
    btrfs) loopfs btrfs "$fs" ;;
    zfs)
        # One pool at a time machine-wide, as the tests do (zfs-fuse deadlocks otherwise).
        exec 9>/run/lock/jetpack-test-zfs.lock; flock 9
        pgrep -x zfs-fuse >/dev/null || { zfs-fuse; sleep 1; }
        pool=jpoci$$; truncate -s 4G "$work/zfs.img"; zpool create -f -m none "$pool" "$work/zfs.img"
        mkdir -p "$fs"; conf+=(-o "zfs.dataset=$pool/jetpack")
        others=$work/ext4; loopfs ext4 "$others" ;;
esac

# --- the contenders -------------------------------------------------------------------------
# Empties the store through jetpack (sealed btrfs subvolumes and zfs datasets are read-only),
# then starts a new one; zfs keeps its datasets, the others start from nothing.
fresh_store() {
    if [ -f "$fs/store/store.json" ]; then
        for id in $("$jp" "${conf[@]}" images --no-trunc | awk 'NR>1 {print $1}'); do
            "$jp" "${conf[@]}" image rm -f "$id" >/dev/null
        done
        "$jp" "${conf[@]}" gc --grace 0s >/dev/null
    fi
    [ "$backend" = zfs ] || rm -rf "$fs/store"
    "$jp" "${conf[@]}" init >/dev/null
}
jp_fetch() { "$jp" "${conf[@]}" fetch -q --insecure-options=http "docker://$repo:$1"; }

printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
pm=(podman --root "$others/podman/root" --runroot "$others/podman/run" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$others/podman/tmp")
fresh_podman() {
    { grep -o " $others/podman[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$others/podman"; mkdir -p "$others/podman/tmp"
}
pm_pull() { "${pm[@]}" pull -q --tls-verify=false "$repo:$1"; }

skopeo_umoci() {
    rm -rf "$others/sk"; mkdir -p "$others/sk"
    sync; ms sh -c "skopeo copy -q --src-tls-verify=false docker://$repo:1 oci:$others/sk/layout:1 &&
        umoci unpack --image $others/sk/layout:1 $others/sk/bundle"
}

# Other work on the machine skews every contender; the load says how quiet it was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
jt=(); pt=(); st=(); ju=(); pu=()
for r in $(seq "$runs"); do
    fresh_store; sync; jt+=("$(ms jp_fetch 1)")
    fresh_podman; sync; pt+=("$(ms pm_pull 1)")
    st+=("$(skopeo_umoci)"); rm -rf "$others/sk"
    # The update: tag 1 is there, tag 2 changes the top layer only.
    fresh_store; jp_fetch 1 >/dev/null; sync; ju+=("$(ms jp_fetch 2)")
    fresh_podman; pm_pull 1 >/dev/null; sync; pu+=("$(ms pm_pull 2)")
    echo "run $r: jetpack ${jt[-1]%.*} ms, podman ${pt[-1]%.*} ms, skopeo+umoci ${st[-1]%.*} ms; update: jetpack ${ju[-1]%.*} ms, podman ${pu[-1]%.*} ms" >&2
done
fresh_podman

jm=$(printf '%s\n' "${jt[@]}" | median); pmed=$(printf '%s\n' "${pt[@]}" | median)
sm=$(printf '%s\n' "${st[@]}" | median); jum=$(printf '%s\n' "${ju[@]}" | median)
pum=$(printf '%s\n' "${pu[@]}" | median)
ratio() { echo "$1 / $2" | bc -l; }
printf '%s, %d runs (load average after: %s), medians:\n' "$backend" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  first pull    jetpack %7.0f ms   podman %7.0f ms   skopeo+umoci %7.0f ms\n' "$jm" "$pmed" "$sm"
printf '  update (tag 2) jetpack %6.0f ms   podman %7.0f ms\n' "$jum" "$pum"
printf '  jetpack/podman %.2f (goal <= 0.5)   jetpack/skopeo+umoci %.2f\n' "$(ratio "$jm" "$pmed")" "$(ratio "$jm" "$sm")"
printf '  update/first: jetpack %.2f (goal <= 0.2)   podman %.2f\n' "$(ratio "$jum" "$jm")" "$(ratio "$pum" "$pmed")"

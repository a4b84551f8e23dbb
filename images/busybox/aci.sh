#!/bin/sh
# Writes an ACI from Debian's busybox-static: a real, runnable image with no network needed.
# The same busybox, name and version give the same tar, so the same image ID.
# Usage: aci.sh OUT.aci [NAME] [VERSION] (the Makefile beside it runs it for `make aci`)
set -eu
umask 022
out=${1:?usage: aci.sh OUT.aci [NAME] [VERSION]}
name=${2:-example.com/busybox}
version=${3:-1.0.0}
bb=/bin/busybox
[ -x "$bb" ] || { echo "aci.sh: $bb not found: apt-get install busybox-static" >&2; exit 1; }
if ! LC_ALL=C ldd "$bb" 2>&1 | grep -q 'not a dynamic'; then
    echo "aci.sh: $bb is not statically linked: apt-get install busybox-static" >&2; exit 1
fi
case $(uname -m) in x86_64) arch=amd64;; aarch64) arch=aarch64;; i?86) arch=i386;; *) arch=$(uname -m);; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" "$root/root" \
         "$root/proc" "$root/sys" "$root/dev" "$root/var/www"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    ln -sf /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'hello from a jetpack pod\n' > "$root/var/www/index.html"
cat > "$work/manifest" <<JSON
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "$name",
    "labels": [
        {"name": "version", "value": "$version"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "app": {
        "exec": ["/bin/sh"],
        "user": "0",
        "group": "0",
        "environment": [{"name": "PATH", "value": "/usr/sbin:/usr/bin:/sbin:/bin"}],
        "ports": [{"name": "http", "protocol": "tcp", "port": 80}]
    },
    "annotations": [
        {"name": "authors", "value": "Debian busybox-static"}
    ]
}
JSON
# rootfs first, manifest last, as actool writes them; numeric owners, names sorted, every
# time the busybox binary's, gzip.
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$(stat -c %Y "$bb")" \
    -C "$work" -czf "$out.tmp" rootfs manifest
mv "$out.tmp" "$out"

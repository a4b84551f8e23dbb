#!/bin/sh
# Installs the Debian 12 packages Jetpack needs to build, run and test (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config ca-certificates \
    tar gzip bzip2 xz-utils zstd e2fsprogs util-linux attr \
    zfs-fuse btrfs-progs busybox-static \
    gnupg gpgv \
    containernetworking-plugins iptables iproute2 wrk >/dev/null

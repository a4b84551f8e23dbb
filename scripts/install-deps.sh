#!/bin/sh
# Installs the Debian 12 packages Jetpack needs to build, run and test (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential make pkg-config ca-certificates \
    tar gzip bzip2 xz-utils zstd e2fsprogs util-linux attr \
    zfs-fuse btrfs-progs busybox-static \
    strace \
    gnupg gpgv \
    docker-registry skopeo apache2-utils umoci podman \
    containernetworking-plugins iptables iproute2 wrk >/dev/null
# cargo-fuzz, pinned, for bench/fuzz.sh (the README's test command runs it); libFuzzer itself is
# built from source by the fuzz crate with the C++ compiler of build-essential.
CARGO_FUZZ_VERSION=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# Rust's standard library for FreeBSD, for scripts/check-freebsd.sh (type-checks the FreeBSD
# build; nothing is linked). Without it the check says SKIP.
if command -v rustup >/dev/null 2>&1; then
    rustup target add x86_64-unknown-freebsd >/dev/null 2>&1 ||
        echo "warning: could not install Rust's x86_64-unknown-freebsd standard library" >&2
fi

#!/usr/bin/env bash
# Type-checks the code FreeBSD builds, on this (Linux) host: the OS-neutral crates, and
# jetpack-runtime, jetpack-mds and jetpack-pod with the feature `freebsd-check`, which leaves
# the Linux engine out and puts the FreeBSD one in (its system calls declared, never linked).
# A Linux-only call that slips into shared code fails here. Nothing is built to run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy --locked -p appc -p jetpack-fs -p jetpack-jail -- -D warnings
cargo clippy --locked -p jetpack-pod -p jetpack-mds -p jetpack-runtime \
    --features jetpack-pod/freebsd-check -- -D warnings

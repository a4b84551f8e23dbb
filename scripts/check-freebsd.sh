#!/usr/bin/env bash
# Type-checks the FreeBSD build on this (Linux) host: clippy of every library and binary of the
# workspace for x86_64-unknown-freebsd, so a Linux-only call that slips into shared code fails
# here. Nothing is linked (there is no FreeBSD C library here) and nothing runs. Tests are left
# out: most are Linux pods. Needs the target's standard library
# (`rustup target add x86_64-unknown-freebsd`, done by scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-freebsd
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    if [ "${JETPACK_FREEBSD_CHECK:-}" = required ]; then
        echo "check-freebsd: the $TARGET standard library is not installed" >&2
        exit 1
    fi
    echo "SKIP check-freebsd: the $TARGET standard library is not installed" \
        "(rustup target add $TARGET)" >&2
    exit 0
fi
# A target directory of its own: the FreeBSD build shares nothing with the host's.
cargo clippy --locked --workspace --lib --bins --target "$TARGET" \
    --target-dir "${CARGO_TARGET_DIR:-target}/freebsd-check" -- -D warnings

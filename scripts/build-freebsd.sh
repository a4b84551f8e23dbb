#!/usr/bin/env bash
# Builds and links the jetpack binary for FreeBSD 14 on this Linux host: zig is the C compiler
# and linker (it carries FreeBSD 14's libc headers and versioned symbol stubs), through
# cargo-zigbuild. A link that succeeds shows every C library symbol the binary needs exists in
# FreeBSD's libc with its symbol version; the C code of the dependencies (SQLite, zstd) is
# compiled for FreeBSD too. Nothing here runs the result.
#
#   scripts/build-freebsd.sh [--release]
#
# Needs the target's Rust standard library (`rustup target add x86_64-unknown-freebsd`) and
# python3-venv: zig and cargo-zigbuild are installed from PyPI into target/zig-venv, pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-freebsd
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET_DIR/zig-venv"
if ! "$VENV/bin/pip" list 2>/dev/null | grep -q "^ziglang *$ZIGLANG_VERSION$"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
fi
PATH="$PWD/$VENV/bin:$PATH" cargo zigbuild --locked --target "$TARGET" -p jetpack \
    --target-dir "$TARGET_DIR/freebsd-build" "$@"
profile=debug
[[ " $* " == *" --release "* ]] && profile=release
bin="$TARGET_DIR/freebsd-build/$TARGET/$profile/jetpack"
file "$bin"
# What it takes from FreeBSD: its libraries, and the FreeBSD-only calls with their versions.
readelf -d "$bin" | grep NEEDED
nm -D --undefined-only "$bin" | grep -E ' (jail_|nmount|unmount|extattr_|copy_file_range|procctl|getfsstat)' || true

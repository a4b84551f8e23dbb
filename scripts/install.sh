#!/bin/sh
# Installs Jetpack: the binary of `cargo build --release` as $PREFIX/bin/jetpack and the shared
# files (the make helper jetpack.image.mk) in $PREFIX/share/jetpack, where the binary looks
# for them (`jetpack config path.share`). DESTDIR stages the whole tree elsewhere (packaging).
# Usage: [PREFIX=/usr/local] [DESTDIR=] [JETPACK_BIN=target/release/jetpack] scripts/install.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
bin=${JETPACK_BIN:-$here/target/release/jetpack}
[ -x "$bin" ] || { echo "install.sh: $bin not found: run cargo build --release first" >&2; exit 1; }
install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$PREFIX/share/jetpack"
install -m 0755 "$bin" "$DESTDIR$PREFIX/bin/jetpack"
install -m 0644 "$here/share/jetpack.image.mk" "$DESTDIR$PREFIX/share/jetpack/jetpack.image.mk"
echo "installed $DESTDIR$PREFIX/bin/jetpack and $DESTDIR$PREFIX/share/jetpack/jetpack.image.mk"

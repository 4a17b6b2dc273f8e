#!/usr/bin/env bash
# arm64-go.sh SYSROOT GO_ARGS...: run the go command for linux/arm64 with cgo,
# compiling and linking against the Debian arm64 sysroot that
# scripts/arm64-sysroot.sh made. `go test` binaries run under qemu-user:
#   arm64-go.sh "$SYSROOT" test -exec qemu-aarch64-static ./gate/...
# GO names the go command (default: go).
set -euo pipefail
SYSROOT=${1:?usage: arm64-go.sh SYSROOT GO_ARGS...}
shift
if [ ! -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/opencv4.pc" ]; then
	echo "arm64-go: no arm64 OpenCV in $SYSROOT: run 'make deps-arm64' first" >&2
	exit 1
fi
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++; do
	if ! command -v "$tool" >/dev/null; then
		echo "arm64-go: $tool is missing: run 'make deps-arm64' (apt package g++-aarch64-linux-gnu)" >&2
		exit 1
	fi
done
export CGO_ENABLED=1 GOOS=linux GOARCH=arm64
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++
# pkg-config reads only the sysroot's .pc files and prefixes their paths with it.
export PKG_CONFIG=pkg-config PKG_CONFIG_SYSROOT_DIR=$SYSROOT
export PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig
unset PKG_CONFIG_PATH
# --sysroot lets gcc and ld find libc, crt*.o and the libraries OpenCV's own
# libraries need (gdal, vtk...). Setting CGO_*FLAGS replaces Go's default
# "-O2 -g", so keep those. --as-needed keeps NEEDED (and so Depends) to the
# OpenCV modules the binary really uses (Debian's gcc already defaults to it).
export CGO_CFLAGS="-O2 -g --sysroot=$SYSROOT"
export CGO_CXXFLAGS="-O2 -g --sysroot=$SYSROOT"
export CGO_LDFLAGS="-O2 -g --sysroot=$SYSROOT -Wl,--as-needed"
# qemu-user finds the arm64 dynamic loader and libraries here.
export QEMU_LD_PREFIX=$SYSROOT
exec "${GO:-go}" "$@"

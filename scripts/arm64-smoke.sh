#!/usr/bin/env bash
# arm64-smoke.sh BINARY SYSROOT: run the cross-built binary under qemu-user:
# `facegate version`, then `facegate crop` on gocv's sample face (one frontal
# face: it must be found and a 960x720 JPEG written).
set -euo pipefail
BIN=${1:?usage: arm64-smoke.sh BINARY SYSROOT}
SYSROOT=${2:?usage: arm64-smoke.sh BINARY SYSROOT}
GO=${GO:-go}
for tool in qemu-aarch64-static file; do command -v $tool >/dev/null || { echo "arm64-smoke: $tool is missing: run 'make deps-arm64'" >&2; exit 1; }; done
run() { QEMU_LD_PREFIX=$SYSROOT qemu-aarch64-static "$BIN" "$@"; }

run version
gocv=$("$GO" list -m -f '{{.Dir}}' gocv.io/x/gocv)
face=$gocv/images/face.jpg
[ -f "$face" ] || { echo "arm64-smoke: $face is missing (gocv module not downloaded?)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s%N)
if ! run crop --image "$face" --out "$tmp/crop.jpg" --json >"$tmp/crop.json"; then
	echo "arm64-smoke: facegate crop found no face in $face (exit $?):" >&2
	cat "$tmp/crop.json" >&2
	exit 1
fi
ms=$((($(date +%s%N) - start) / 1000000))
grep -q '"found": *true' "$tmp/crop.json" || { echo "arm64-smoke: crop --json does not say found:" >&2; cat "$tmp/crop.json" >&2; exit 1; }
size=$(file -b "$tmp/crop.jpg")
case $size in
*"960x720"*) ;;
*) echo "arm64-smoke: the crop is not a 960x720 JPEG: $size" >&2; exit 1 ;;
esac
echo "arm64 smoke: crop found the face in ${ms} ms under qemu: $(head -c 300 "$tmp/crop.json")"

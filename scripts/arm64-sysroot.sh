#!/usr/bin/env bash
# arm64-sysroot.sh CACHE: make CACHE/sysroot, a Debian bookworm arm64 root holding
# OpenCV's headers and libraries, for cross-compiling cgo (gocv) code.
#
# It never touches the host's dpkg database: installing libopencv-dev:arm64 beside
# the amd64 one would make apt remove the amd64 OpenCV. Instead a private apt root
# (its own empty status file, APT::Architecture=arm64) resolves and downloads the
# closure of SYSROOT_PACKAGES, and `dpkg -x` unpacks each .deb into the sysroot.
# The downloaded .debs stay in CACHE/aptroot/var/cache/apt/archives: their shlibs
# files give the package's Depends (packaging/deps-from-needed.sh).
#
# The result is reused while CACHE/sysroot.stamp matches the package list; it is
# built in a temporary folder and renamed, so an interrupted run leaves no half
# sysroot behind. Needs: apt-get, dpkg, flock, network access to the Debian mirror.
set -euo pipefail
CACHE=${1:?usage: arm64-sysroot.sh CACHE_DIR}
PKGS=${SYSROOT_PACKAGES:-libopencv-dev opencv-data}
SOURCES=${SYSROOT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
STAMP="$CACHE/sysroot.stamp"
want="packages: $PKGS"

exec 9>"$CACHE/.lock"
flock 9 # two makes at once must not unpack into the same folder

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -d "$CACHE/sysroot/usr/include/opencv4" ]; then
	echo "arm64 sysroot: up to date ($CACHE/sysroot)"
	exit 0
fi
if [ ! -r "$SOURCES" ]; then
	echo "arm64-sysroot: no Debian apt sources at $SOURCES (set SYSROOT_SOURCES to a deb822 .sources file for bookworm)" >&2
	exit 1
fi

start=$SECONDS
APTROOT=$CACHE/aptroot
NEW=$CACHE/sysroot.new
rm -rf "$NEW" "$APTROOT/var/lib/apt/lists" "$APTROOT/etc"
mkdir -p "$APTROOT"/etc/apt/{sources.list.d,preferences.d,apt.conf.d} \
	"$APTROOT"/var/lib/apt/lists/partial "$APTROOT"/var/cache/apt/archives/partial \
	"$APTROOT"/var/lib/dpkg "$NEW"
: >"$APTROOT/var/lib/dpkg/status"
cp "$SOURCES" "$APTROOT/etc/apt/sources.list.d/"
APT=(apt-get -q
	-o Dir="$APTROOT" -o Dir::State::status="$APTROOT/var/lib/dpkg/status"
	-o Dir::Etc::trusted=/etc/apt/trusted.gpg -o Dir::Etc::trustedparts=/etc/apt/trusted.gpg.d
	-o APT::Architecture=arm64 -o APT::Architectures::=arm64
	-o APT::Install-Recommends=false -o Debug::NoLocking=true)
# As root, apt would hand downloads to the _apt user, which cannot write in a
# home folder: keep them with the caller (no effect for other users).
[ "$(id -u)" = 0 ] && APT+=(-o APT::Sandbox::User=root)
"${APT[@]}" update >/dev/null
# Drop .debs of an older package set so the shlibs lookup sees one version each.
"${APT[@]}" clean
# shellcheck disable=SC2086 # PKGS is a word list
"${APT[@]}" install -y --download-only $PKGS >/dev/null
debs=("$APTROOT"/var/cache/apt/archives/*.deb)
echo "arm64 sysroot: unpacking ${#debs[@]} packages ($(du -sh "$APTROOT/var/cache/apt/archives" | cut -f1))"
for d in "${debs[@]}"; do dpkg -x "$d" "$NEW"; done

# Absolute symlinks (libfoo.so -> /lib/...) would point at the host's amd64 files:
# make them relative so they resolve inside the sysroot.
find "$NEW" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
	t=$(readlink "$l")
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$NEW$t")" "$l"
done
# dpkg -x runs no maintainer scripts: make the links the libblas3/liblapack3
# postinst would make through update-alternatives (libopencv_core needs them;
# without them the link fails with "undefined reference to `dposv_'").
ML=$NEW/usr/lib/aarch64-linux-gnu
[ -e "$ML/blas/libblas.so.3" ] && ln -sfn blas/libblas.so.3 "$ML/libblas.so.3"
[ -e "$ML/lapack/liblapack.so.3" ] && ln -sfn lapack/liblapack.so.3 "$ML/liblapack.so.3"

for f in usr/include/opencv4/opencv2/core.hpp usr/lib/aarch64-linux-gnu/pkgconfig/opencv4.pc \
	usr/lib/aarch64-linux-gnu/libopencv_core.so lib/ld-linux-aarch64.so.1; do
	if [ ! -e "$NEW/$f" ]; then
		echo "arm64-sysroot: $f is missing from the unpacked packages ($PKGS)" >&2
		exit 1
	fi
done
rm -rf "$CACHE/sysroot"
mv "$NEW" "$CACHE/sysroot"
echo "$want" >"$STAMP"
echo "arm64 sysroot: ready in $((SECONDS - start))s, $(du -sh "$CACHE/sysroot" | cut -f1) ($CACHE/sysroot)"

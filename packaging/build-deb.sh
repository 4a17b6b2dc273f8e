#!/usr/bin/env bash
# build-deb.sh ARCH BINARY OUTDIR [DEBDIR]: package BINARY (built for ARCH, amd64
# or arm64) as OUTDIR/facegate_<version>_<ARCH>.deb with dpkg-deb:
#   /usr/bin/facegate (stripped), /lib/systemd/system/facegate.service (from
#   systemd/, ExecStart pointed at /usr/bin), /etc/facegate/facegate.yaml (from
#   configs/, a conffile), a udev rule giving the gpio group the GPIO chips,
#   copyright (with the statically linked Go modules), changelog, man page and
#   the maintainer scripts in packaging/debian.
# Depends comes from the binary's NEEDED libraries: the shlibs of the .debs in
# DEBDIR (the arm64 sysroot's), or of this machine's packages without it.
# Env: GO (go command), DEB_VERSION (default packaging/version.sh),
#      DEB_MAINTAINER, SOURCE_DATE_EPOCH (default: the HEAD commit's time).
set -euo pipefail
ARCH=${1:?usage: build-deb.sh ARCH BINARY OUTDIR [DEBDIR]}
BIN=${2:?usage: build-deb.sh ARCH BINARY OUTDIR [DEBDIR]}
OUT=${3:?usage: build-deb.sh ARCH BINARY OUTDIR [DEBDIR]}
DEBDIR=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
D=$HERE/debian
MAINT=${DEB_MAINTAINER:-facegate maintainers <maintainers@facegate.invalid>}

fail() { echo "build-deb: $*" >&2; exit 1; }
UNIT=$TOP/systemd/facegate.service
CONF=${DEB_CONFIG:-$TOP/configs/facegate.yaml} # DEB_CONFIG: only to try the packaging before configs/ has one
[ -f "$UNIT" ] || fail "$UNIT is missing: the package ships the project's own unit (systemd/)"
[ -f "$CONF" ] || fail "$CONF is missing: the package ships it as /etc/facegate/facegate.yaml"
[ -x "$BIN" ] || fail "$BIN is not an executable (build it first: make build / make build-arm64)"
case $ARCH in
amd64) machine='X86-64' strip=strip ;;
arm64) machine='AArch64' strip=aarch64-linux-gnu-strip ;;
*) fail "architecture $ARCH: only amd64 and arm64 are packaged" ;;
esac
readelf -h "$BIN" | grep -q "Machine:.*$machine" ||
	fail "$BIN is not a $ARCH binary ($(readelf -h "$BIN" | sed -n 's/.*Machine: *//p'))"
[ "$(dpkg --print-architecture)" = "$ARCH" ] && strip=strip # a native build (e.g. on the Pi)
command -v "$strip" >/dev/null || fail "$strip is missing (apt package binutils / binutils-aarch64-linux-gnu)"

VERSION=$("$HERE/version.sh")
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct)}
DEPENDS="$("$HERE/deps-from-needed.sh" "$BIN" "$ARCH" ${DEBDIR:+"$DEBDIR"}), adduser, opencv-data"

mkdir -p "$OUT"
R=$(mktemp -d "$OUT/.root-$ARCH.XXXXXX")
trap 'rm -rf "$R"' EXIT
chmod 0755 "$R"
DOC=$R/usr/share/doc/facegate

install -d -m0755 "$R/usr/bin" "$DOC" "$R/usr/share/man/man1" \
	"$R/lib/systemd/system" "$R/lib/udev/rules.d" "$R/etc/facegate" "$R/DEBIAN"
"$strip" --strip-unneeded --remove-section=.comment -o "$R/usr/bin/facegate" "$BIN"
chmod 0755 "$R/usr/bin/facegate"

# The unit in systemd/ names /usr/local/bin (where `facegate service install`
# puts a hand-built binary); the package's binary is in /usr/bin.
sed -E 's#^ExecStart=[^ ]*/facegate( |$)#ExecStart=/usr/bin/facegate\1#' "$UNIT" >"$R/lib/systemd/system/facegate.service"
grep -q '^ExecStart=/usr/bin/facegate run' "$R/lib/systemd/system/facegate.service" ||
	fail "$UNIT: no 'ExecStart=.../facegate run' line to point at /usr/bin/facegate"
install -m0644 "$D/60-facegate-gpio.rules" "$R/lib/udev/rules.d/"
install -m0644 "$CONF" "$R/etc/facegate/facegate.yaml"
GO=${GO:-go} "$HERE/copyright.sh" "$BIN" >"$DOC/copyright"
gzip -9n <"$HERE/facegate.1" >"$R/usr/share/man/man1/facegate.1.gz"

# changelog: the committed one, headed by a snapshot entry when this version
# has none of its own (every build between two tags).
{
	if ! head -1 "$D/changelog" | grep -qF "facegate ($VERSION)"; then
		printf 'facegate (%s) unstable; urgency=medium\n\n  * Snapshot of git %s.\n\n -- %s  %s\n\n' \
			"$VERSION" "$(git -C "$TOP" describe --tags --always --dirty)" "$MAINT" \
			"$(date -R -u -d "@$SOURCE_DATE_EPOCH")"
	fi
	cat "$D/changelog"
} | gzip -9n >"$DOC/changelog.Debian.gz"

for s in postinst prerm postrm; do install -m0755 "$D/$s" "$R/DEBIAN/$s"; done
install -m0644 "$D/conffiles" "$R/DEBIAN/conffiles"
while read -r f; do [ -f "$R$f" ] || fail "conffile $f is not in the package"; done <"$D/conffiles"
(cd "$R" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$R/DEBIAN/md5sums"
cat >"$R/DEBIAN/control" <<CTL
Package: facegate
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINT
Installed-Size: $(du -sk --exclude=DEBIAN "$R" | cut -f1)
Depends: $DEPENDS
Suggests: mosquitto, chromium | chromium-browser
Section: misc
Priority: optional
Homepage: https://github.com/facegate/facegate
Description: face-authenticated gate for a Raspberry Pi and a USB webcam
 A worker identifies with a badge QR code, MQTT or HTTP and looks at the
 camera; facegate picks the best frontal face, checks it with the FaceAuth
 API, pulses a GPIO relay on approval, and publishes every decision over
 MQTT and on a local kiosk page. Any doubt keeps the gate shut.
CTL
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB=$OUT/facegate_${VERSION}_$ARCH.deb
rm -f "$OUT"/facegate_*_"$ARCH".deb # one package per architecture in OUT: what lint-deb checks
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB ($(du -k "$DEB" | cut -f1) KiB; Depends: $DEPENDS)"

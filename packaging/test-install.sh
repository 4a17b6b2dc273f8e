#!/usr/bin/env bash
# test-install.sh CACHE DEB: install an arm64 facegate .deb into an emulated
# Debian bookworm arm64 (debootstrap, then proot + qemu-user: no binfmt_misc, no
# root needed inside) and check what a Raspberry Pi would get:
#   apt resolves Depends from the archive; the facegate user is in video and gpio;
#   /etc/facegate/facegate.yaml is a conffile and a local edit survives an
#   upgrade; the binary runs on the installed libraries (crop finds gocv's sample
#   face); remove keeps the config, purge removes it and the state.
# systemd does not run in there: starting the unit is left to a real Pi.
# The base root (CACHE/rootfs-bookworm) and the downloaded .debs are cached; each
# run works on a copy. Slow: ~8 min the first time, then a few minutes.
set -euo pipefail
CACHE=${1:?usage: test-install.sh CACHE DEB}
DEB=$(realpath "${2:?usage: test-install.sh CACHE DEB}")
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
GO=${GO:-go}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
BASE=$CACHE/rootfs-bookworm
ARCHIVES=$CACHE/rootfs-archives
for tool in debootstrap proot qemu-aarch64-static dpkg-deb; do
	command -v $tool >/dev/null || { echo "test-install: $tool is missing: run 'make deps-deb-install'" >&2; exit 1; }
done
step() { echo "== test-install: $* ($SECONDS s)"; }

# in ROOT CMD...: run CMD inside an arm64 root as (fake) root.
inroot() {
	local root=$1
	shift
	proot -q qemu-aarch64-static -r "$root" -0 -w / -b /proc -b /dev -b /sys \
		${BIND_ARCHIVES:+-b "$ARCHIVES:/var/cache/apt/archives"} \
		/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive ${DEBOOTSTRAP_DIR:+DEBOOTSTRAP_DIR=$DEBOOTSTRAP_DIR} "$@"
}

mkdir -p "$ARCHIVES/partial"
if [ ! -f "$BASE/.facegate-ready" ]; then
	step "making the arm64 Debian root (once)"
	rm -rf "$BASE.new"
	debootstrap --foreign --arch=arm64 --variant=minbase --include=adduser,init-system-helpers \
		bookworm "$BASE.new" "$MIRROR" >"$CACHE/debootstrap.log"
	# in a container debootstrap leaves proc -> /proc
	rm -rf "$BASE.new/proc" && mkdir "$BASE.new/proc"
	# `[ -x /debootstrap/debootstrap ]` is false under proot -q: name the folder.
	DEBOOTSTRAP_DIR=/debootstrap inroot "$BASE.new" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap.log"
	# signed-by a binary keyring: under proot, gpgv fails to read apt's
	# trusted.gpg.d/*.asc keys (add_keyblock_resource), so every index is "not signed".
	k=/usr/share/keyrings/debian-archive-keyring.gpg
	printf 'deb [signed-by=%s] %s bookworm main\ndeb [signed-by=%s] %s bookworm-updates main\n' "$k" "$MIRROR" "$k" "$MIRROR" >"$BASE.new/etc/apt/sources.list"
	echo "deb [signed-by=$k] http://deb.debian.org/debian-security bookworm-security main" >>"$BASE.new/etc/apt/sources.list"
	# apt's download sandbox user cannot drop privileges under proot
	echo 'APT::Sandbox::User "root";' >"$BASE.new/etc/apt/apt.conf.d/99facegate-test"
	# No init system runs in there: maintainer scripts must not start services
	# (x11-common's would fail and fail the install), as in any chroot.
	printf '#!/bin/sh\nexit 101\n' >"$BASE.new/usr/sbin/policy-rc.d"
	chmod 0755 "$BASE.new/usr/sbin/policy-rc.d"
	touch "$BASE.new/.facegate-ready"
	mv "$BASE.new" "$BASE"
fi

BIND_ARCHIVES=1 # from here on, downloaded .debs are kept for the next run
WORK=$(mktemp -d "$CACHE/install-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
step "copying the base root"
cp -a "$BASE" "$R"
cp "$DEB" "$R/tmp/facegate.deb"
cp "$("$GO" list -m -f '{{.Dir}}' gocv.io/x/gocv)/images/face.jpg" "$R/tmp/face.jpg"
# The same package, one version later, to check that the conffile edit survives.
v1=$(dpkg-deb -f "$DEB" Version)
v2=${v1%-*}+1-${v1##*-}
dpkg-deb -R "$DEB" "$WORK/v2"
sed -i "s/^Version: .*/Version: $v2/" "$WORK/v2/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$WORK/v2" "$R/tmp/facegate-v2.deb" >/dev/null

step "apt-get install ./facegate.deb ($v1)"
inroot "$R" apt-get update -q >/dev/null
inroot "$R" apt-get install -y -q --no-install-recommends /tmp/facegate.deb >"$WORK/install.log" 2>&1 ||
	{ cp "$WORK/install.log" "$CACHE/install-failed.log"; tail -30 "$WORK/install.log" >&2; echo "test-install: apt-get install failed (whole log: $CACHE/install-failed.log)" >&2; exit 1; }
grep -A4 'is installed but not started' "$WORK/install.log" || true

step "checking the account, the conffile and the binary"
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
inroot "$R" getent passwd facegate | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "no facegate system user: $(inroot "$R" getent passwd facegate)"
groups=$(inroot "$R" id -nG facegate)
for g in video gpio; do [[ " $groups " == *" $g "* ]] || fail "facegate is not in $g (groups: $groups)"; done
grep -qx /etc/facegate/facegate.yaml "$R/var/lib/dpkg/info/facegate.conffiles" || fail "facegate.yaml is not a conffile"
[ -f "$R/lib/systemd/system/facegate.service" ] || fail "no unit in /lib/systemd/system"
grep -q '^ExecStart=/usr/bin/facegate run' "$R/lib/systemd/system/facegate.service" || fail "the unit does not start /usr/bin/facegate"
inroot "$R" /usr/bin/facegate version | tee "$WORK/version"
inroot "$R" /usr/bin/facegate crop --image /tmp/face.jpg --out /tmp/crop.jpg --json >"$WORK/crop.json" ||
	fail "facegate crop on the installed libraries: exit $? $(cat "$WORK/crop.json")"
grep -q '"found": *true' "$WORK/crop.json" || fail "crop found no face: $(cat "$WORK/crop.json")"
echo "crop on the installed OpenCV: $(head -c 200 "$WORK/crop.json")"

step "upgrading to $v2 with a local edit in the conffile"
echo "# local edit by test-install" >>"$R/etc/facegate/facegate.yaml"
inroot "$R" apt-get install -y -q -o Dpkg::Options::=--force-confdef /tmp/facegate-v2.deb >"$WORK/upgrade.log" 2>&1 ||
	{ tail -30 "$WORK/upgrade.log" >&2; fail "upgrade failed"; }
grep -q '^# local edit by test-install$' "$R/etc/facegate/facegate.yaml" || fail "the upgrade lost the local edit"
[ "$(inroot "$R" dpkg-query -W -f='${Version}' facegate)" = "$v2" ] || fail "version after the upgrade is not $v2"

step "remove, then purge"
inroot "$R" dpkg -r facegate >/dev/null
[ -f "$R/etc/facegate/facegate.yaml" ] || fail "remove deleted the config (only purge should)"
[ ! -e "$R/usr/bin/facegate" ] || fail "remove left /usr/bin/facegate"
mkdir -p "$R/var/lib/facegate" && touch "$R/var/lib/facegate/audit.log"
inroot "$R" dpkg -P facegate >/dev/null
[ ! -e "$R/etc/facegate/facegate.yaml" ] || fail "purge left /etc/facegate/facegate.yaml"
[ ! -e "$R/var/lib/facegate" ] || fail "purge left /var/lib/facegate"
step "PASS: install, account, conffile, binary, upgrade, remove, purge"

#!/bin/bash
# kit.sh - prepare what vm.sh needs, once per machine (idempotent).
#
# Produces, under $FACEGATE_HIL_KIT (default /var/cache/facegate-hil):
#   root/boot/vmlinuz-<kver>        Debian's own kernel, unpacked with dpkg -x (never installed)
#   root/lib/modules/<kver>/        its modules + extra/gpio-sim.ko + extra/v4l2loopback.ko
#   initrd.cpio.gz                  busybox + virtio/9p/overlay modules + init.sh
#   kver, init.sha256, .complete
#
# gpio-sim: Debian 12's kernel has "# CONFIG_GPIO_SIM is not set" (and no
# IRQ_SIM), so gpio-sim.c is built out of tree from linux-source-<ver> with a
# copy of kernel/irq/irq_sim.c, whose one call to irq_to_desc() (not exported to
# modules in 6.1) is replaced by the exported generic_handle_irq().
# v4l2loopback: built from the v4l2loopback-dkms package's sources, which are
# only downloaded (installing the -dkms package would build for every kernel).
#
# Installs with apt-get (root, or sudo): qemu-system-x86 busybox-static kmod
# cpio make linux-headers-<kver> linux-source-<ver>. Set FACEGATE_HIL_REBUILD=1
# to rebuild a complete kit.
set -euo pipefail

KIT=${FACEGATE_HIL_KIT:-/var/cache/facegate-hil}
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
log() { echo "[hil-kit] $*" >&2; }
t0=$SECONDS

init_sum=$(sha256sum "$HERE/init.sh" | cut -d' ' -f1)
if [ -f "$KIT/.complete" ] && [ -z "${FACEGATE_HIL_REBUILD:-}" ] &&
	[ "$(cat "$KIT/init.sha256" 2>/dev/null)" = "$init_sum" ]; then
	log "kit complete in $KIT (FACEGATE_HIL_REBUILD=1 redoes it)"
	exit 0
fi

# The ABI linux-image-amd64 points to, e.g. linux-image-6.1.0-56-amd64.
kpkg_of_meta() {
	apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1
}

# --- 1. host packages --------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v make >/dev/null || need+=(make)
if [ ${#need[@]} -gt 0 ] || [ -z "$(kpkg_of_meta)" ]; then
	log "apt-get update"
	$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
fi
KPKG=$(kpkg_of_meta)
[ -n "$KPKG" ] || { log "apt cannot resolve linux-image-amd64 (is this Debian with apt sources?)"; exit 1; }
KVER=${KPKG#linux-image-}
SRCPKG=linux-source-$(echo "$KVER" | cut -d. -f1,2)
log "kernel $KPKG (kver $KVER)"
[ -e "/usr/src/linux-headers-$KVER/Module.symvers" ] || need+=("linux-headers-$KVER")
compgen -G "/usr/src/$SRCPKG.tar.*" >/dev/null || need+=("$SRCPKG")
if [ ${#need[@]} -gt 0 ]; then
	log "apt-get install ${need[*]}"
	$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
log "packages ready after $((SECONDS - t0)) s"

# --- 2. kernel image + modules, unpacked only --------------------------------
T=$KIT.tmp
$SUDO rm -rf "$T"
$SUDO mkdir -p "$T/dl"
$SUDO chown "$(id -u):$(id -g)" "$T" "$T/dl"
(cd "$T/dl" && apt-get download -q "$KPKG" 2>/dev/null)
dpkg -x "$T"/dl/"$KPKG"_*.deb "$T/root"
rm -rf "$T/dl"
MODDIR=$T/root/lib/modules/$KVER
mkdir -p "$MODDIR/extra"

# --- 3. gpio-sim.ko ----------------------------------------------------------
B=$T/gpio-sim
mkdir -p "$B"
SRCTAR=$(ls /usr/src/"$SRCPKG".tar.* | head -n1)
tar -xf "$SRCTAR" -C "$B" --strip-components=1 --wildcards \
	'*/drivers/gpio/gpio-sim.c' '*/drivers/gpio/gpiolib.h' '*/kernel/irq/irq_sim.c'
mv "$B/drivers/gpio/gpio-sim.c" "$B/gpio-sim-main.c"
mv "$B/drivers/gpio/gpiolib.h" "$B/kernel/irq/irq_sim.c" "$B/"
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$B/irq_sim.c"
grep -q 'generic_handle_irq(irqnum);' "$B/irq_sim.c" || { log "the irq_sim.c patch did not apply"; exit 1; }
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >"$B/Kbuild"
log "building gpio-sim.ko"
make -s -C "/usr/src/linux-headers-$KVER" M="$B" modules >"$B/build.log" 2>&1 || { cat "$B/build.log" >&2; exit 1; }
cp "$B/gpio-sim.ko" "$MODDIR/extra/"

# --- 4. v4l2loopback.ko ------------------------------------------------------
L=$T/v4l2loopback
mkdir -p "$L"
(cd "$L" && apt-get download -q v4l2loopback-dkms 2>/dev/null && dpkg -x v4l2loopback-dkms_*.deb x)
LSRC=$(ls -d "$L"/x/usr/src/v4l2loopback-* | head -n1)
log "building v4l2loopback.ko"
make -s -C "/usr/src/linux-headers-$KVER" M="$LSRC" modules >"$L/build.log" 2>&1 || { cat "$L/build.log" >&2; exit 1; }
cp "$LSRC/v4l2loopback.ko" "$MODDIR/extra/"
depmod -b "$T/root" "$KVER"

# --- 5. initramfs ------------------------------------------------------------
I=$T/initrd
mkdir -p "$I"/{bin,dev,proc,sys,lower,newroot,ctl,rw,mods}
cp /bin/busybox "$I/bin/busybox"
for a in sh mount umount mkdir insmod cat echo sleep switch_root poweroff ln cp chmod; do
	ln -s busybox "$I/bin/$a"
done
: >"$I/mods/order"
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -d "$T/root" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	cp "$ko" "$I/mods/"
	basename "$ko" >>"$I/mods/order"
done
install -m 0755 "$HERE/init.sh" "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initrd.cpio.gz"
rm -rf "$I" "$B" "$L"
echo "$KVER" >"$T/kver"
echo "$init_sum" >"$T/init.sha256"
touch "$T/.complete"
$SUDO rm -rf "$KIT"
$SUDO mv "$T" "$KIT"
log "kit ready in $KIT (kernel $KVER) after $((SECONDS - t0)) s"

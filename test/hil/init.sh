#!/bin/sh
# init.sh - PID 1 of the HIL VM, stage 1, from the initramfs under busybox.
# Mounts the host's root (9p, read-only, tag "hostroot") under a tmpfs overlay
# so the guest may write anywhere (thrown away at power-off), then switch_root's
# into it and runs stage2.sh from the control share (tag "hilctl").
# Baked into the initramfs: kit.sh rebuilds the kit when this file changes.
export PATH=/bin
die() {
	echo "hil-init: FATAL: $*"
	echo o >/proc/sysrq-trigger # power off: vm.sh sees no exit status
	sleep 30
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko; do
	insmod "/mods/$ko" || echo "hil-init: insmod $ko failed"
done </mods/order

O=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$O,cache=none" hilctl /ctl || die "cannot mount the control share"
# cache=loose: the host tree does not change while the VM runs, and exec of
# large binaries (OpenCV libraries) is much faster than with cache=none.
mount -t 9p -o "$O,ro,cache=loose" hostroot /lower || die "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot; then
	echo "hil-init: overlay failed, the root stays read-only"
	mount --bind /lower /newroot
fi
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/hil/ctl
mount --move /ctl /newroot/run/hil/ctl
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
exec switch_root /newroot /bin/sh /run/hil/ctl/stage2.sh

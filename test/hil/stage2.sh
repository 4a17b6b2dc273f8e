#!/bin/sh
# stage2.sh - PID 1 of the HIL VM after switch_root, under the host's /bin/sh
# on the overlaid host root: /dev, modules, configfs, read-write shares, then
# the command with its output on ttyS1 (vm.sh's stdout); stores the exit status
# in the control share and powers off. Copied in on every run.
CTL=/run/hil/ctl
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
KVER=$(uname -r)
say() { echo "hil-stage2: $*"; } # ttyS0, the console log
poweroff_now() {
	sync
	/bin/busybox poweroff -f # no init system here: reboot(POWER_OFF) directly
	echo o >/proc/sysrq-trigger
	while :; do :; done
}

mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null

# The kit's /lib/modules/<kver> goes where modprobe looks for it.
KIT=$(cat $CTL/kit)
mkdir -p "/lib/modules/$KVER" 2>/dev/null || { mount -t tmpfs tmpfs /lib/modules && mkdir -p "/lib/modules/$KVER"; }
mount --bind "$KIT/root/lib/modules/$KVER" "/lib/modules/$KVER" || say "cannot bind the modules"
modprobe configfs 2>/dev/null && mount -t configfs configfs /sys/kernel/config
while read -r line; do
	[ -n "$line" ] || continue
	# shellcheck disable=SC2086 # "module param=value ..."
	modprobe $line || say "modprobe $line failed"
done <$CTL/modules
while read -r tag path; do
	[ -n "$tag" ] || continue
	mkdir -p "$path" 2>/dev/null
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none "$tag" "$path" ||
		say "cannot mount $tag on $path"
done <$CTL/rwdirs

hostname hil-vm 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null # no CR insertion on the output port
. $CTL/env
export HIL_IN_VM=1
cd "$(cat $CTL/cwd)" 2>/dev/null || cd /
say "running the command"
/bin/sh $CTL/cmd </dev/null >/dev/ttyS1 2>&1
rc=$?
say "the command exited with $rc"
echo "$rc" >$CTL/rc
poweroff_now

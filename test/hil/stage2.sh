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

run_command() {
	. $CTL/env
	export HIL_IN_VM=1
	cd "$(cat $CTL/cwd)" 2>/dev/null || cd /
	say "running the command"
	/bin/sh $CTL/cmd </dev/null >/dev/ttyS1 2>&1
	rc=$?
	say "the command exited with $rc"
	echo "$rc" >$CTL/rc
	sync
}

# FACEGATE_HIL_INIT=systemd: systemd becomes PID 1 with hil.target as its only
# goal; hil-command.service runs the command ("stage2.sh --command") and
# powers off. Everything the host's targets would pull in is masked, but
# journald; units started by the command (systemctl start) still get
# sysinit.target and basic.target, now empty.
boot_systemd() {
	U=/etc/systemd/system
	for w in $U/*.wants/* /lib/systemd/system/*.wants/*; do
		n=${w##*/}
		case $n in
		*.target | systemd-journald.service | systemd-journald*.socket | '*') continue ;;
		esac
		ln -sf /dev/null "$U/$n"
	done
	cat >$U/hil.target <<-EOF
		[Unit]
		Description=facegate HIL: the command only
		Wants=hil-command.service
	EOF
	cat >$U/hil-command.service <<-EOF
		[Unit]
		Description=facegate HIL command
		Wants=sysinit.target
		After=sysinit.target
		SuccessAction=poweroff-immediate
		FailureAction=poweroff-immediate
		[Service]
		Type=exec
		ExecStart=/bin/sh $CTL/stage2.sh --command
		StandardOutput=journal+console
	EOF
	# The host root may be a container's: its /.dockerenv would make systemd
	# think it runs in Docker and leave / private, and then LoadCredential's
	# mount (made in a child namespace) never reaches /run/credentials.
	rm -f /.dockerenv /run/.containerenv
	mount --make-rshared /
	say "exec systemd"
	exec /lib/systemd/systemd --unit=hil.target --show-status=false --log-level=notice
}

if [ "${1:-}" = --command ]; then # under systemd, from hil-command.service
	run_command
	exit 0
fi

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
[ "${FACEGATE_HIL_INIT:-}" = systemd ] && boot_systemd
run_command
poweroff_now

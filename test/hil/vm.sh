#!/bin/bash
# vm.sh - run one command as root inside a throw-away qemu VM that boots
# Debian's own kernel with gpio-sim and v4l2loopback available, and exit with
# the command's exit status. The guest sees this machine's root read-only
# (9p) under a tmpfs overlay: host binaries run as they are, writes vanish.
#
#   vm.sh [--] COMMAND [ARG...]        (no shell re-parsing: use sh -c '...')
#
# The command runs in the current directory; its stdout+stderr come to this
# script's stdout (the guest's ttyS1). Kernel messages go to a console log,
# printed when the VM ends without a status or with FACEGATE_HIL_VERBOSE=1.
# The guest exports HIL_IN_VM=1.
#
# Environment (optional):
#   FACEGATE_HIL_KIT      kit made by kit.sh (default /var/cache/facegate-hil;
#                         built on first use: apt-get + two module builds)
#   FACEGATE_HIL_MODULES  ';'-separated "module [param=value ...]" to modprobe
#                         (default "gpio-sim")
#   FACEGATE_HIL_RW       host directories mounted read-write at the same path
#   FACEGATE_HIL_PASSENV  extra variable names passed in (PATH HOME LANG TERM
#                         USER GO* FACEGATE_* are always passed)
#   FACEGATE_HIL_MEM      MiB (default 2048); FACEGATE_HIL_SMP vCPUs (default nproc)
#   FACEGATE_HIL_TIMEOUT  seconds before the VM is killed (default 600)
#   FACEGATE_HIL_ACCEL    auto (default), kvm or tcg
#   FACEGATE_HIL_INIT     systemd: PID 1 is systemd, the command runs in
#                         hil-command.service (see stage2.sh)
# Exit status: the command's; 124 on timeout; 125 when the VM gave no status.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KIT=${FACEGATE_HIL_KIT:-/var/cache/facegate-hil}
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi

# KVM only helps with hardware virtualisation (kvm_intel/kvm_amd). Where
# /dev/kvm comes from a paravirtual hypervisor (kvm_pvm), a stock kernel runs
# ~100x slower than under TCG and -cpu host aborts, so "auto" picks TCG there.
accel=${FACEGATE_HIL_ACCEL:-auto}
if [ "$accel" = auto ]; then
	if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		accel=kvm
	else
		accel=tcg
	fi
fi
case $accel in
kvm) accel_args=(-accel kvm -cpu host) ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
*) echo "vm.sh: FACEGATE_HIL_ACCEL must be auto, kvm or tcg" >&2; exit 2 ;;
esac

"$HERE/kit.sh" || { echo "vm.sh: kit setup failed" >&2; exit 125; }
KVER=$(cat "$KIT/kver")

CTL=$(mktemp -d /tmp/facegate-hil.XXXXXX)
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	rm -rf "$CTL"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

cp "$HERE/stage2.sh" "$CTL/stage2.sh"
echo "$KIT" >"$CTL/kit"
pwd >"$CTL/cwd"
{
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(shq "$a")"; done
	printf '\n'
} >"$CTL/cmd"
{
	for v in PATH HOME LANG TERM USER $(compgen -v | grep -E '^(GO|FACEGATE_)' || true) ${FACEGATE_HIL_PASSENV:-}; do
		[ -n "${!v+x}" ] && printf 'export %s=%s\n' "$v" "$(shq "${!v}")"
	done
} >"$CTL/env"
echo "${FACEGATE_HIL_MODULES-gpio-sim}" | tr ';' '\n' | sed 's/^ *//; s/ *$//' >"$CTL/modules"

rwargs=()
: >"$CTL/rwdirs"
i=0
for d in ${FACEGATE_HIL_RW:-}; do
	d=$(cd "$d" && pwd) || { echo "vm.sh: bad FACEGATE_HIL_RW directory $d" >&2; exit 2; }
	rwargs+=(-virtfs "local,path=$d,mount_tag=hilrw$i,security_model=none,multidevs=remap")
	echo "hilrw$i $d" >>"$CTL/rwdirs"
	i=$((i + 1))
done

# ttyS0: kernel console -> console.log; ttyS1: the command's output -> stdout.
# No NIC, no display; -no-reboot + panic=-1 turn a guest panic into a qemu exit.
qemu-system-x86_64 \
	"${accel_args[@]}" -machine q35 \
	-smp "${FACEGATE_HIL_SMP:-$(nproc)}" -m "${FACEGATE_HIL_MEM:-2048}" \
	-nodefaults -display none -no-reboot -no-user-config \
	-kernel "$KIT/root/boot/vmlinuz-$KVER" -initrd "$KIT/initrd.cpio.gz" \
	-append "console=ttyS0 rdinit=/init panic=-1 loglevel=4" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$CTL,mount_tag=hilctl,security_model=none" \
	"${rwargs[@]}" \
	-serial "file:$CTL/console.log" \
	-chardev stdio,id=cmdout,signal=on -serial chardev:cmdout \
	</dev/null &
QPID=$!

timeout=${FACEGATE_HIL_TIMEOUT:-600}
start=$SECONDS
while kill -0 "$QPID" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		echo "vm.sh: timeout after ${timeout}s, killing the VM; guest console:" >&2
		kill "$QPID"; wait "$QPID" 2>/dev/null; QPID=
		cat "$CTL/console.log" >&2
		exit 124
	fi
	sleep 0.2
done
wait "$QPID"; QPID=

[ -n "${FACEGATE_HIL_VERBOSE:-}" ] && { echo "----- guest console -----" >&2; cat "$CTL/console.log" >&2; }
if [ ! -s "$CTL/rc" ]; then
	echo "vm.sh: the VM stopped without an exit status; guest console:" >&2
	[ -z "${FACEGATE_HIL_VERBOSE:-}" ] && cat "$CTL/console.log" >&2
	exit 125
fi
exit "$(cat "$CTL/rc")"

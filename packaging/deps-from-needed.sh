#!/usr/bin/env bash
# deps-from-needed.sh BINARY ARCH [DEBDIR]: the Debian Depends of an ELF binary,
# from its NEEDED libraries and the shlibs files of the packages that ship them:
#   libopencv-core406 (>= 4.6.0+dfsg), libc6 (>= 2.36), ...
# With DEBDIR (the arm64 .debs the sysroot was unpacked from) the shlibs come
# from those .debs, so no foreign-architecture dpkg database is needed; without
# it, from the packages installed on this machine for ARCH. A library no package
# claims is an error: a package with an incomplete Depends would install and
# then fail to start.
set -euo pipefail
BIN=${1:?usage: deps-from-needed.sh BINARY ARCH [DEBDIR]}
ARCH=${2:?usage: deps-from-needed.sh BINARY ARCH [DEBDIR]}
DEBDIR=${3:-}
declare -A SHL # "libfoo.so.3" -> "libfoo3 (>= 1.2)"

add_shlibs() { # reads shlibs lines on stdin
	local name ver dep
	while read -r name ver dep; do
		# skip blanks, comments and typed (udeb:) lines
		[[ -z ${name:-} || $name == \#* || $name == *: ]] && continue
		[[ -n ${SHL["$name.so.$ver"]:-} ]] || SHL["$name.so.$ver"]=$dep
	done
}

if [ -n "$DEBDIR" ]; then
	shopt -s nullglob
	debs=("$DEBDIR"/*.deb)
	[ ${#debs[@]} -gt 0 ] || { echo "deps-from-needed: no .deb files in $DEBDIR" >&2; exit 1; }
	for deb in "${debs[@]}"; do
		add_shlibs < <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./shlibs 2>/dev/null || true)
	done
else
	shopt -s nullglob
	# Multi-Arch: same libraries carry the architecture in the file name; the
	# others have none. *-cross packages describe another architecture.
	for f in /var/lib/dpkg/info/*:"$ARCH".shlibs /var/lib/dpkg/info/*.shlibs; do
		base=${f##*/}
		[[ $base == *:* && $base != *:"$ARCH".shlibs ]] && continue
		[[ $base == *-cross.shlibs ]] && continue
		add_shlibs <"$f"
	done
fi

needed=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "deps-from-needed: $BIN has no NEEDED libraries (not a dynamic ELF?)" >&2; exit 1; }
deps=()
missing=()
for so in $needed; do
	if [ -n "${SHL[$so]:-}" ]; then deps+=("${SHL[$so]}"); else missing+=("$so"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps-from-needed: no package's shlibs names ${missing[*]} (needed by $BIN)" >&2
	exit 1
fi
printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g'

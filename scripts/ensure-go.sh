#!/usr/bin/env bash
# ensure-go.sh: make sure a Go toolchain new enough for go.mod is available.
# Debian 12 ships Go 1.19; newer toolchains are on the Go module proxy as the
# module golang.org/toolchain, which any go command (1.19 included) can
# download like a module. The Makefile's GO runs `ensure-go.sh --which`, so once
# `make deps` has downloaded one, every target uses it with no PATH change.
#
#   ensure-go.sh          find or download a toolchain (installs golang-go if
#                         there is no go at all); prints which go is used
#   ensure-go.sh --which  print the path of a new enough go, or "go" if there is
#                         none yet (never downloads: cheap enough for every make)
#   ensure-go.sh --toolchain  print the version a download would fetch
#
# GO_TOOLCHAIN=go1.25.14 picks the version to download (default: go.mod's
# toolchain line, else $default_toolchain if that is new enough for the go
# line, else the go line when it names a release, else its .0 release).
# Too old a go never skips a test silently: from Go 1.21 go.mod's go line
# makes it refuse (or, with GOTOOLCHAIN=auto, switch toolchain); older ones
# fail loudly on testing/synctest.
set -euo pipefail
# ENSURE_GO_TOP names another folder holding go.mod (tests).
top=${ENSURE_GO_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# A patch release the module proxy serves for linux-amd64 and linux-arm64
# (checked with `go list -m -versions golang.org/toolchain`).
default_toolchain=go1.25.14
need=$(awk '/^go /{print $2; exit}' "$top/go.mod")
[ -n "$need" ] || { echo "ensure-go: no go line in $top/go.mod" >&2; exit 1; }

ver_ok() { # $1 = a version like go1.23.4 or 1.23: is it at least $need?
	local v=${1#go}
	[ "$(printf '%s\n%s\n' "$need" "$v" | sort -V | head -n1)" = "$need" ]
}
go_ok() { # $1 = a go binary: does it run and is it new enough?
	local v
	[ -x "$1" ] || return 1
	v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
	ver_ok "${v%%[ -]*}" # go1.23.4, go1.24rc1, go1.23.4 X:... are all fine for sort -V
}

# The version to download, and where the module cache keeps it.
pick_toolchain() {
	local tc
	tc=${GO_TOOLCHAIN:-$(awk '/^toolchain /{print $2; exit}' "$top/go.mod")}
	if [ -z "$tc" ]; then
		if ver_ok "$default_toolchain"; then
			tc=$default_toolchain
		elif [[ $need =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
			tc=go$need
		else
			tc=go$need.0
		fi
	fi
	echo "$tc"
}
modcache() { # GOMODCACHE without asking a go command (there may be none)
	if [ -n "${GOMODCACHE:-}" ]; then echo "$GOMODCACHE"; else echo "${GOPATH:-$HOME/go}" | cut -d: -f1 | sed 's#$#/pkg/mod#'; fi
}
goarch() {
	case $(uname -m) in
	x86_64) echo amd64 ;; aarch64 | arm64) echo arm64 ;; armv6l | armv7l) echo armv6l ;; i?86) echo 386 ;;
	*) uname -m ;;
	esac
}
toolchain_dir() { echo "$(modcache)/golang.org/toolchain@v0.0.1-$(pick_toolchain).linux-$(goarch)"; }

# Candidates in order: PATH, the usual install folders, a downloaded toolchain.
# ENSURE_GO_DIRS replaces the install folders (tests).
find_go() {
	local c d cands=("$(command -v go 2>/dev/null || true)")
	# shellcheck disable=SC2086 # a list of folders
	for d in ${ENSURE_GO_DIRS-/usr/local/go /usr/lib/go}; do cands+=("$d/bin/go"); done
	cands+=("$(toolchain_dir)/bin/go")
	for c in "${cands[@]}"; do
		if [ -n "$c" ] && go_ok "$c"; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

case ${1:-} in
--which)
	find_go || echo go
	exit 0
	;;
--toolchain)
	pick_toolchain
	exit 0
	;;
esac

if found=$(find_go); then
	echo "go: $found ($(GOTOOLCHAIN=local "$found" env GOVERSION))"
	exit 0
fi
echo "No Go >= $need found: downloading golang.org/toolchain $(pick_toolchain) from the module proxy."
if ! command -v go >/dev/null; then
	sudo=$([ "$(id -u)" = 0 ] || echo sudo)
	$sudo apt-get install -y -q golang-go
fi
dir=$(toolchain_dir)
if [ ! -f "$dir/bin/go" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# Outside any module; GOTOOLCHAIN=local keeps a newer go from switching itself.
	(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod GOMODCACHE=$(modcache) go mod download "golang.org/toolchain@v0.0.1-$(pick_toolchain).linux-$(goarch)")
fi
# Module zips carry no file modes: mark the commands executable, as the go
# command does when it switches toolchains itself (pkg/tool first, then bin).
for d in "$dir"/pkg/tool/*/ "$dir/bin/"; do
	find "$d" -maxdepth 1 -type f -exec chmod a+x {} +
done
if ! go_ok "$dir/bin/go"; then
	echo "ensure-go: $dir/bin/go does not run or is older than go $need" >&2
	exit 1
fi
echo "go: $dir/bin/go ($("$dir/bin/go" env GOVERSION)); make uses it through GO (or: export PATH=$dir/bin:\$PATH)"

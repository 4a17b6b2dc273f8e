#!/usr/bin/env bash
# Make sure a Go toolchain new enough for go.mod is on PATH. Debian 12 ships
# Go 1.19; newer toolchains come from the Go module proxy as the module
# golang.org/toolchain, which Debian's go can download like any module.
set -euo pipefail
need=$(awk '/^go /{print $2; exit}' "$(dirname "$0")/../go.mod")
ver_ok() { # $1 = "go1.23.4" style
	local v=${1#go}
	[ "$(printf '%s\n%s\n' "$need" "$v" | sort -V | head -n1)" = "$need" ]
}
if command -v go >/dev/null && ver_ok "$(go env GOVERSION)"; then
	exit 0
fi
echo "Go >= $need is not on PATH."
if ! command -v go >/dev/null; then
	sudo=$([ "$(id -u)" = 0 ] || echo sudo)
	$sudo apt-get install -y -q golang-go
fi
arch=$(go env GOARCH)
tc="v0.0.1-go1.23.4.linux-$arch"
dir=$(go env GOMODCACHE)/golang.org/toolchain@$tc
if [ ! -x "$dir/bin/go" ]; then
	tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && GOFLAGS=-mod=mod go mod download "golang.org/toolchain@$tc")
fi
echo "Go toolchain downloaded: add it to PATH and run make again:"
echo "  export PATH=$dir/bin:\$PATH"
exit 1

#!/usr/bin/env bash
# version.sh: the Debian version of the package being built, from `git describe`.
#   tag v1.2.3, exactly              -> 1.2.3-1
#   5 commits after v1.2.3           -> 1.2.3+git5.abc1234-1
#   no tag yet, commit 42 on main    -> 0.0.0~git42.abc1234-1
#   uncommitted changes              -> ...+dirty before the revision
# These sort the way releases happen: 0.0.0~git… < 1.2.3 < 1.2.3+git5… < 1.2.4.
# DEB_VERSION overrides it (e.g. for a rebuild: 1.2.3-2).
set -euo pipefail
if [ -n "${DEB_VERSION:-}" ]; then
	echo "$DEB_VERSION"
	exit 0
fi
cd "$(dirname "$0")/.."
dirty=
if ! git diff --quiet HEAD -- 2>/dev/null; then dirty=+dirty; fi
if desc=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
	# v1.2.3-5-gabc1234 (tag names may contain '-': split from the right)
	hash=${desc##*-g}
	rest=${desc%-g*}
	count=${rest##*-}
	tag=${rest%-*}
	upstream=${tag#v}
	upstream=${upstream//-/\~} # v1.2.3-rc1 -> 1.2.3~rc1 (a pre-release sorts first)
	if [ "$count" != 0 ]; then upstream="$upstream+git$count.$hash"; fi
else
	count=$(git rev-list --count HEAD)
	hash=$(git rev-parse --short=7 HEAD)
	upstream="0.0.0~git$count.$hash"
fi
upstream=$upstream$dirty
if ! [[ $upstream =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
	echo "version.sh: '$upstream' (from git describe '${desc:-}') is not a valid Debian upstream version" >&2
	exit 1
fi
echo "$upstream-1"

#!/bin/sh
# Fetches the real camera clips of liveness/testdata/captured.tsv from their
# GitHub repositories into $EVAL_CAPTURED (default ~/.cache/facegate/captured)
# for `make eval-liveness`, and checks their sha256. They are never
# committed (docs/liveness.md, "Real camera clips"). Needs git and access to
# github.com, which this project's CI does not have. A clip already present
# is checked, not fetched again. CAPTURED_MANIFEST names another manifest
# (tests).
set -eu
cd "$(dirname "$0")/.."
dest=${EVAL_CAPTURED:-$HOME/.cache/facegate/captured}
manifest=${CAPTURED_MANIFEST:-liveness/testdata/captured.tsv}
[ -r "$manifest" ] || { echo "captured-clips: cannot read the manifest $manifest" >&2; exit 1; }
mkdir -p "$dest"
export GIT_TERMINAL_PROMPT=0 # a repository that is gone must fail, not ask for a password
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tab=$(printf '\t')
grep -v -e '^#' -e '^[[:space:]]*$' "$manifest" > "$tmp/lines" || true
while IFS="$tab" read -r name kind sum src seconds; do
	repo=${src%%@*}; rest=${src#*@}; commit=${rest%%:*}; file=${rest#*:}
	base=${file##*/}
	ext=
	case $base in *.*) ext=.$(printf %s "${base##*.}" | tr 'A-Z' 'a-z') ;; esac
	out="$dest/$name$ext"
	if [ ! -s "$out" ]; then
		rm -rf "$tmp/git"
		git clone -q --bare --filter=blob:none "https://$repo" "$tmp/git" ||
			{ echo "captured-clips: $name: cannot clone https://$repo" >&2; exit 1; }
		git --git-dir="$tmp/git" show "$commit:$file" > "$tmp/clip" ||
			{ echo "captured-clips: $name: no $file at $commit in $repo" >&2; exit 1; }
		echo "$sum  $tmp/clip" | sha256sum -c --quiet >/dev/null 2>&1 ||
			{ echo "captured-clips: $name: $repo@$commit:$file is not the clip the manifest names (sha256)" >&2; exit 1; }
		mv "$tmp/clip" "$out"
	fi
	echo "$sum  $out" | sha256sum -c --quiet >/dev/null 2>&1 ||
		{ echo "captured-clips: $out: not the clip the manifest names ($kind, $src); delete it to fetch it again" >&2; exit 1; }
done < "$tmp/lines"

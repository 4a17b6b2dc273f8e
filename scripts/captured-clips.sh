#!/bin/sh
# Fetches the real camera clips of liveness/testdata/captured.tsv from their
# GitHub repositories into $EVAL_CAPTURED (default ~/.cache/facegate/captured)
# for `make eval-liveness`, and checks their sha256. They are never
# committed (docs/liveness.md, "Real camera clips"). Needs git and access to
# github.com, which this project's CI does not have. A clip already present
# is kept. CAPTURED_MANIFEST names another manifest (tests).
set -eu
cd "$(dirname "$0")/.."
dest=${EVAL_CAPTURED:-$HOME/.cache/facegate/captured}
manifest=${CAPTURED_MANIFEST:-liveness/testdata/captured.tsv}
mkdir -p "$dest"
tab=$(printf '\t')
grep -v '^#' "$manifest" | while IFS="$tab" read -r name kind sum src seconds; do
	repo=${src%%@*}; rest=${src#*@}; commit=${rest%%:*}; file=${rest#*:}
	out="$dest/$name.$(printf %s "${file##*.}" | tr 'A-Z' 'a-z')"
	if [ ! -s "$out" ]; then
		git=$(mktemp -d)
		git clone -q --bare --filter=blob:none "https://$repo" "$git"
		git --git-dir="$git" show "$commit:$file" > "$out.part"
		mv "$out.part" "$out"
		rm -rf "$git"
	fi
	echo "$sum  $out" | sha256sum -c --quiet || { echo "captured-clips: $out: not the clip the manifest names ($kind, $src)" >&2; exit 1; }
done

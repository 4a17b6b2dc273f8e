#!/usr/bin/env bash
# copyright.sh BINARY: the package's debian/copyright (DEP-5): facegate itself,
# then every Go module linked into BINARY (from its build info) with the license
# text shipped in the module. Go links them statically, so Debian policy wants
# their notices in the package. Apache-2.0 texts point to
# /usr/share/common-licenses instead of being repeated. GO names the go command.
set -euo pipefail
BIN=${1:?usage: copyright.sh BINARY}
GO=${GO:-go}
HERE=$(cd "$(dirname "$0")" && pwd)
MODCACHE=$("$GO" env GOMODCACHE)

# DEP-5 continuation lines (leading blank lines dropped)
indent() { sed -e 's/[[:space:]]*$//' | sed -e '/./,$!d' -e 's/^$/./' -e 's/^/ /'; }

short_name() { # license short name from its text on stdin
	local t
	t=$(cat)
	case $t in
	*"Eclipse Public License - v 2.0"*) echo "EPL-2.0 or BSD-3-clause" ;; # paho: EPL-2.0 and EDL-1.0 (a BSD-3-clause)
	*"This project is covered by two different licenses: MIT and Apache"*) echo "Expat and Apache-2.0" ;;
	*"Apache License"*"Version 2.0"*) echo "Apache-2.0" ;;
	*"Mozilla Public License"*"2.0"*) echo "MPL-2.0" ;;
	*"Permission is hereby granted, free of charge"*) echo "Expat" ;;
	*"Permission to use, copy, modify, and/or distribute"*) echo "ISC" ;;
	*"provided 'as-is'"*"misrepresented as being the original software"*) echo "Zlib" ;;
	*"Redistribution and use in source and binary forms"*"Neither the name"*) echo "BSD-3-clause" ;;
	*"Redistribution and use in source and binary forms"*) echo "BSD-2-clause" ;;
	*) echo "other" ;;
	esac
}

cat "$HERE/debian/copyright.in"
goroot=$("$GO" env GOROOT)
printf '\nFiles: go-modules/std\n'
printf 'Comment: The Go runtime and standard library (%s), statically linked into /usr/bin/facegate.\n' "$("$GO" version -m "$BIN" | head -1 | awk '{print $2}')"
printf 'Copyright: %s\n' "$(grep -m1 -i '^copyright' "$goroot/LICENSE")"
printf 'License: BSD-3-clause\n'
indent <"$goroot/LICENSE"
# "dep <path> <version> <sum>" and "=> <path> <version> <sum>" (a replace)
"$GO" version -m "$BIN" | awk '$1 == "dep" && $NF != "=>" { p = $2; v = $3 } $1 == "=>" { p = $2; v = $3 } $1 == "dep" || $1 == "=>" { print p, v }' |
	sort -u -k1,1 | while read -r path version; do
	# The module cache spells capitals as !lower.
	dir=$MODCACHE/$(printf '%s' "$path" | sed 's/[A-Z]/!\L&/g')@$version
	mapfile -t files < <(find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' \) | sort)
	if [ ${#files[@]} -eq 0 ]; then
		echo "copyright.sh: no license file in $dir (module $path $version, linked into $BIN)" >&2
		exit 1
	fi
	text=$(cat "${files[@]}")
	name=$(short_name <<<"$text")
	holders=$(grep -ihE '^[[:space:]]*copyright (\(c\)|©|[0-9])' <<<"$text" | sed 's/^[[:space:]]*//' | sort -u || true)
	printf '\nFiles: go-modules/%s\n' "$path"
	printf 'Comment: Go module %s %s, statically linked into /usr/bin/facegate.\n' "$path" "$version"
	printf 'Copyright: %s\n' "$(printf '%s\n' "${holders:-the $path authors}" | sed '2,$s/^/ /')"
	if [ "$name" = Apache-2.0 ] && ! grep -q 'Permission is hereby granted' <<<"$text"; then
		# The full text is in every Debian system; keep the module's own notice lines.
		printf 'License: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
	else
		printf 'License: %s\n' "$name"
		# Drop an appended full Apache-2.0 text (kept in common-licenses).
		awk '/^[[:space:]]*Apache License[[:space:]]*$/ { skip = 1 } !skip' <<<"$text" | indent
		if grep -q 'Apache License' <<<"$text"; then
			printf ' .\n The Apache License 2.0 text is in /usr/share/common-licenses/Apache-2.0.\n'
		fi
	fi
done

#!/bin/sh
# dev-template.sh CACHE NAME KEY VZTMPL-BUILD-COMMAND...
#
# Makes the development template NAME (make debian-template,
# guest-templates) in CACHE with the given vztmpl build command, unless
# CACHE already holds NAME.tar.gz made with the same KEY (recorded in
# NAME.key). The Makefile's KEY hashes what decides the template's contents
# (the recipes and the code that runs them, the build flags), so a changed
# recipe rebuilds while a fresh clone of unchanged sources (new file dates)
# does not. The key is written only after a successful build: an
# interrupted one builds again.
set -eu
[ $# -ge 4 ] || { echo "usage: dev-template.sh CACHE NAME KEY COMMAND..." >&2; exit 2; }
cache=$1 name=$2 key=$3
shift 3
if [ -f "$cache/$name.tar.gz" ] && [ "$(cat "$cache/$name.key" 2>/dev/null)" = "$key" ]; then
	echo "$name: cached ($cache, key $key)"
	exit 0
fi
mkdir -p "$cache"
rm -f "$cache/$name.key"
"$@" --cache "$cache" --force
printf '%s\n' "$key" >"$cache/.$name.key.tmp"
mv -f "$cache/.$name.key.tmp" "$cache/$name.key"

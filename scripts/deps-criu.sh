#!/bin/sh
# deps-criu.sh - make a CRIU >= 4.0 available at $CRIU_DEST (default
# /usr/local/sbin/criu), the path govz looks at first (ct/checkpoint).
#
# Why not Debian 12's own criu: 3.17 fails `criu check` on kernels >= 6.13
# ("vdso: Unexpected rt vDSO area bounds"): those kernels split the vDSO data
# into [vvar] + [vvar_vclock], which CRIU learned in 4.x.
#
#  - Debian 13 and later: the distribution's package is new enough; link it.
#  - Debian 12: build CRIU from Debian 13's *orig* source tarball, fetched
#    from Debian's mirror with a private apt source list (the system's apt
#    configuration is not touched), build deps installed for the build and
#    purged after it (only those this script installed). The binary is kept
#    in $CACHE so CI and re-runs build once.
set -eu
CACHE=${CRIU_CACHE:-/var/cache/govz-dev/criu}
DEST=${CRIU_DEST:-/usr/local/sbin/criu}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# The shared libraries criu links against (ldd): Debian 12 names.
RUNTIME_LIBS="libbsd0 libgnutls30 libnftables1 libprotobuf-c1 libnl-3-200 libnet1"
BUILD_DEPS="libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler pkgconf uuid-dev gcc make"
export DEBIAN_FRONTEND=noninteractive

major() { "$1" --version 2>/dev/null | sed -n 's/^Version: \([0-9]*\).*/\1/p'; }

if [ -x "$DEST" ] && [ "$(major "$DEST")" -ge 4 ] 2>/dev/null; then
	echo "criu: $("$DEST" --version | head -1) at $DEST"; exit 0
fi

. /etc/os-release
if [ "${VERSION_ID%%.*}" -ge 13 ] 2>/dev/null; then
	apt-get install -y --no-install-recommends criu
	mkdir -p "$(dirname "$DEST")"; ln -sf /usr/sbin/criu "$DEST"
	echo "criu: $("$DEST" --version | head -1) (Debian package)"; exit 0
fi

apt-get install -y --no-install-recommends $RUNTIME_LIBS >/dev/null
if [ ! -x "$CACHE/criu" ]; then
	t0=$(date +%s)
	work=$(mktemp -d /tmp/criu-build.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/lists/partial"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" >"$work/src.list"
	APTOPT="-o APT::Sandbox::User=root -o Dir::Etc::SourceList=$work/src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
	apt-get $APTOPT update -qq
	# Only the orig tarball (the upstream release as is; Debian's patches
	# are packaging). Its URI and SHA256 come from the Sources index, which
	# apt verified against the archive key, so the download is checked.
	set -- $(apt-get $APTOPT source --print-uris criu | grep "\.orig\.tar\." | tr -d "'")
	[ $# -ge 4 ] || { echo "deps-criu: no criu source in $SUITE at $MIRROR" >&2; exit 1; }
	orig="$work/$2"
	curl -fsS -o "$orig" "$1"
	echo "${4#SHA256:}  $orig" | sha256sum -c --quiet
	new=""
	for p in $BUILD_DEPS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || new="$new $p"
	done
	[ -z "$new" ] || apt-get install -y --no-install-recommends $new >/dev/null
	mkdir "$work/src" && tar -xf "$orig" -C "$work/src" --strip-components=1
	if ! make -C "$work/src" -j"$(nproc)" criu >"$work/build.log" 2>&1; then
		tail -20 "$work/build.log" >&2
		[ -z "$new" ] || apt-get purge -y $new >/dev/null
		echo "deps-criu: building CRIU from $orig failed" >&2; exit 1
	fi
	# Build deps are not needed at run time: the runtime libraries are above.
	[ -z "$new" ] || apt-get purge -y $new >/dev/null
	mkdir -p "$CACHE"
	install -m 0755 "$work/src/criu/criu" "$CACHE/criu"
	basename "$orig" >"$CACHE/SOURCE"
	echo "criu: built from $(basename "$orig") in $(( $(date +%s) - t0 )) s"
fi
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$CACHE/criu" "$DEST"
echo "criu: $("$DEST" --version | head -1) at $DEST"

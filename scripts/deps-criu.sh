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
#  - Our patches (scripts/criu-*.patch) are applied to that build: CRIU 4.1
#    cannot save a TCP or UDP socket on Linux >= 6.16 (the kernel refuses
#    SO_PASSCRED/SO_PASSSEC on them; checkpoint-restore/criu#2718), so a
#    container with a network connection could not be checkpointed. The
#    cache is keyed by the source and the patches: a changed patch rebuilds.
set -eu
CACHE=${CRIU_CACHE:-/var/cache/govz-dev/criu}
DEST=${CRIU_DEST:-/usr/local/sbin/criu}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# The shared libraries criu links against (ldd): Debian 12 names.
RUNTIME_LIBS="libbsd0 libgnutls30 libnftables1 libprotobuf-c1 libnl-3-200 libnet1"
BUILD_DEPS="patch libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler pkgconf uuid-dev gcc make"
export DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "$0")" && pwd)
PATCHES=$(ls "$HERE"/criu-*.patch 2>/dev/null || true)
major() { "$1" --version 2>/dev/null | sed -n 's/^Version: \([0-9]*\).*/\1/p'; }

# A CRIU >= 4 the admin put there is kept; one this script installed
# from an older cache (same bytes as the cached build) is rebuilt below
# when the patches changed.
if [ -x "$DEST" ] && [ "$(major "$DEST")" -ge 4 ] 2>/dev/null && ! cmp -s "$DEST" "$CACHE/criu"; then
	echo "criu: $("$DEST" --version | head -1) at $DEST"; exit 0
fi

. /etc/os-release
if [ "${VERSION_ID%%.*}" -ge 13 ] 2>/dev/null; then
	apt-get install -y --no-install-recommends criu
	mkdir -p "$(dirname "$DEST")"; ln -sf /usr/sbin/criu "$DEST"
	echo "criu: $("$DEST" --version | head -1) (Debian package)"; exit 0
fi

apt-get install -y --no-install-recommends $RUNTIME_LIBS >/dev/null
stamp=$(cat /dev/null $PATCHES | sha256sum | cut -c1-16)
if [ ! -x "$CACHE/criu" ] || [ "$(cat "$CACHE/PATCHES" 2>/dev/null)" != "$stamp" ]; then
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
	for p in $PATCHES; do patch -s -d "$work/src" -p1 <"$p"; done
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
	echo "$stamp" >"$CACHE/PATCHES"
	echo "criu: built from $(basename "$orig") in $(( $(date +%s) - t0 )) s"
fi
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$CACHE/criu" "$DEST"
echo "criu: $("$DEST" --version | head -1) at $DEST"

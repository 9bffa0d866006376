#!/bin/bash
# Snapshot and backup/restore timings against GNU tar | zstd of the same
# tree (issue #16), on a Debian container, on a scratch btrfs (btrfs
# layout) and a scratch ext4 (dir layout), each in a sparse file on a loop
# device that is unmounted and removed at the end, also on failure.
# Usage (root, from the repository): tests/bench/backup.sh [RUNS]
# GOVZ_DEBIAN_TEMPLATE names the Debian template tarball.
set -euo pipefail
RUNS=${1:-3}
T=${GOVZ_DEBIAN_TEMPLATE:-/var/cache/govz-dev/template/cache/debian-12-x86_64.tar.gz}
W=$(mktemp -d /tmp/govz-bkbench-XXXX)
cleanup() {
	cd /
	for m in $(grep -o "$W[^ ]*" /proc/mounts | sort -r); do umount "$m" || umount -l "$m"; done
	rm -rf "$W"
	for d in $(find /sys/fs/cgroup -maxdepth 2 -type d -name "govz-bkbench-$$"); do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}
trap cleanup EXIT
go build -o "$W/bin/" ./cmd/vzctl
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for fs in btrfs ext4; do
	truncate -s 8G "$W/$fs.img"
	if [ $fs = btrfs ]; then mkfs.btrfs -q -f "$W/$fs.img" >/dev/null; lay=btrfs; else mkfs.ext4 -q -F "$W/$fs.img"; lay=dir; fi
	mkdir -p "$W/$fs"; mount -o loop "$W/$fs.img" "$W/$fs"
	R=$W/$fs/vz; mkdir -p "$R/template/cache" "$R/conf"; cp "$T" "$R/template/cache/"
	printf 'cgroup_parent = "govz-bkbench-%s"\nstop_timeout = 10\nve_layout = "%s"\nlocal_uid = 0\n' $$ $lay >"$R/conf/vz.toml"
	V() { VZ_ROOT=$R "$W/bin/vzctl" --quiet "$@"; }
	V create 101 --ostemplate "$(basename "$T" .tar.gz)"
	echo "$lay on $fs: tree $(du -s --apparent-size -m "$R/private/101" | cut -f1) MiB"
	for i in $(seq "$RUNS"); do
		echo "  snapshot (stopped)        $(secs V snapshot 101 --id 00000000-0000-4000-8000-00000000000$i) s"
		rm -f "$W/b.zst"; sync
		echo "  vzctl backup              $(secs V backup 101 "$W/b.zst") s, $(($(stat -c %s "$W/b.zst") >> 20)) MiB"
		sync
		echo "  vzctl restore-backup      $(secs V restore-backup "$W/b.zst" 20$i) s"
		rm -f "$W/t.zst"; sync
		echo "  tar | zstd -3             $(secs sh -c "tar --numeric-owner --xattrs --xattrs-include='*' -C $R/private/101 -cf - . | zstd -q -3 >$W/t.zst") s, $(($(stat -c %s "$W/t.zst") >> 20)) MiB"
		mkdir "$R/private/x$i"; sync
		echo "  zstd -d | tar -x          $(secs sh -c "zstd -dc $W/t.zst | tar --numeric-owner --xattrs --xattrs-include='*' -C $R/private/x$i -xpf -") s"
		V destroy 20$i
	done
	V start 101
	echo "  snapshot (running)        $(secs V snapshot 101 --id 00000000-0000-4000-8000-0000000000ff) s"
	rm -f "$W/b.zst"
	echo "  vzctl backup (running)    $(secs V backup 101 "$W/b.zst") s"
	V stop --fast 101
	V destroy 101
	rm -rf "$R"/private/x*
	umount "$W/$fs"
done

#!/bin/sh
# make deb-check: what CI does with the package on its own machine (root).
# Installs it with apt-get (dependencies from the archive), reads the man
# pages, runs the README's demo through /usr/sbin in a throwaway VZ_ROOT,
# removes the package and checks that containers and configs stayed. The
# container and the VZ_ROOT are deleted at the end; /vz (made by postinst)
# and the conffiles stay, as they would for an admin, until `apt-get purge`.
set -eu
[ "$(id -u)" = 0 ] || { echo "deb-check: run as root"; exit 1; }
[ $# = 1 ] && [ -f "$1" ] || { echo "deb-check: give one govz_*.deb (run make deb)"; exit 1; }
deb=$(readlink -f "$1")
export DEBIAN_FRONTEND=noninteractive
R=$(mktemp -d /tmp/govz-deb-check.XXXXXX)
CG=govz-deb-check-$$
cleanup() {
	VZ_ROOT=$R /usr/sbin/vzctl stop 101 --fast >/dev/null 2>&1 || true
	rm -rf "$R"
	for c in /sys/fs/cgroup/$CG /sys/fs/cgroup/*/$CG; do [ -d "$c" ] && rmdir "$c" 2>/dev/null; done
	true
}
trap cleanup EXIT
step() { echo "== deb-check: $*"; }

step "install $deb"
apt-get install -y "$deb"

step "man pages"
for p in vzctl vzlist vztmpl vzmigrate vzifup-post; do
	MANPAGER=cat MANWIDTH=80 man "$p" | grep -q "^NAME" || { echo "man $p does not render"; exit 1; }
done
MANPAGER=cat man 5 vz.toml | grep -q "CONTAINER KEYS"
man -l /usr/share/man/man8/vzctl.8.gz >/dev/null
test -f /usr/share/bash-completion/completions/vzctl
test -f /vz/conf/vz.toml

step "demo from /usr/sbin, VZ_ROOT=$R"
export VZ_ROOT="$R"
mkdir -p "$R/conf"
printf 'cgroup_parent = "%s"\nve_layout = "dir"\n' "$CG" >"$R/conf/vz.toml"
/usr/sbin/vztmpl build busybox
/usr/sbin/vzctl create 101 --ostemplate "busybox-$(uname -m)" --hostname ct101
/usr/sbin/vzctl create 102 --ostemplate "busybox-$(uname -m)" --name kept
/usr/sbin/vzctl start 101 --wait
/usr/sbin/vzctl status 101 | grep -q ' running'
/usr/sbin/vzlist -a
/usr/sbin/vzctl exec2 101 'echo "inside: $(hostname), PID 1 is $(cat /proc/1/comm)"'
/usr/sbin/vzctl stop 101

step "remove keeps containers and configs"
apt-get remove -y govz
test ! -e /usr/sbin/vzctl
for f in "$R/conf/101.toml" "$R/conf/102.toml" "$R/private/102" /vz/conf/vz.toml /etc/logrotate.d/govz; do
	test -e "$f" || { echo "deb-check: $f is gone after apt-get remove"; exit 1; }
done
step "ok (apt-get purge govz removes the conffiles; /vz stays)"

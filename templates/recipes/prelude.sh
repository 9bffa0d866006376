# prelude.sh: sourced at the top of every recipe (Build concatenates it with
# the recipe into one script and runs that with bash).
#
# Progress protocol: a line "phase: TEXT" on stdout starts a new phase and is
# always shown to the user; "error: TEXT" on stderr becomes the message of the
# error Build returns when the recipe fails. Everything else is detail, shown
# only in verbose mode (and the tail of it when the recipe fails).
set -euo pipefail
umask 022
export LC_ALL=C
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

phase() { printf 'phase: %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

: "${ROOTFS:?ROOTFS is not set}"
[ -d "$ROOTFS" ] || die "ROOTFS $ROOTFS is not a directory"

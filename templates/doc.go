// Package templates manages the OS template cache ($VZ_ROOT/template/cache)
// and builds templates from recipes.
//
// # Cache
//
// A template is one tarball named NAME.tar, NAME.tar.gz, NAME.tar.xz,
// NAME.tar.zst or NAME.tar.bz2, where NAME follows vzctl's
// distro-version-arch[-flavour] pattern (debian-12-x86_64, busybox-x86_64).
// The suffix gives the compression shown in listings; whoever extracts a
// template detects the compression from its magic bytes instead. Files whose
// name starts with "." are work files of a build in progress and never count
// as templates.
//
// # Recipes
//
// A recipe is a bash script embedded in the binary (recipes/*.sh), so vztmpl
// works without the source tree. Build concatenates recipes/prelude.sh and the
// recipe into one script and runs it with bash in a fresh PID and mount
// namespace: whatever the recipe starts or mounts dies with it, so a failed
// or interrupted build cannot leave processes or mounts behind. The recipe
// sees this environment:
//
//	ROOTFS    empty directory the recipe fills (the future guest root)
//	ARCH      OpenVZ architecture name: x86_64, x86, aarch64, ...
//	DEB_ARCH  Debian architecture name: amd64, i386, arm64, ...
//	TEMPLATE  the template name being built
//	BUSYBOX   busybox recipe: the static busybox binary to install
//	DISTRO    debian recipe: debian or ubuntu
//	SUITE     debian recipe: release code name (bookworm, noble, ...)
//	MIRROR    debian recipe: archive URL
//	BASE      debian recipe, optional: the cached template to start from
//	          instead of debootstrap (BuildOptions.Base)
//
// It reports progress by printing "phase: TEXT" lines and explains a failure
// with an "error: TEXT" line before exiting non-zero. Build then packs ROOTFS
// with GNU tar (numeric owners, xattrs, sparse files, names "./..."),
// compresses it, fsyncs it and renames it into the cache. All work files live
// in one directory ".govz-build-PID-*" inside the cache directory, removed on
// success, failure and cancellation; a build killed outright (SIGKILL) leaves
// it behind, and the next Build removes it once PID no longer runs.
//
// # Guest readiness hook
//
// Both recipes make templates whose boot ends with a hook the host runtime
// may plant to learn that the guest is up ("vzctl start --wait"):
//
//   - busybox: /etc/init.d/rcS runs /etc/init.d/ready, if it exists and is
//     executable, as its very last step.
//   - debian: systemd; the runtime adds a unit ordered after
//     multi-user.target instead.
package templates

// Package untar unpacks OS template tarballs into a container's private
// area, the way `tar --numeric-owner --xattrs -xpf` would, but without ever
// letting a member land outside the destination directory.
//
// Every member's parent directory is resolved with openat2(2) and
// RESOLVE_IN_ROOT relative to a directory fd for the destination, so a
// symlink the archive planted earlier ("etc -> /etc", "x -> ../../..") is
// resolved as if the destination were the root of the file system, exactly
// as it will be inside the container. The final component is then created
// relative to that parent fd with *at calls that never follow a symlink
// (openat with O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, linkat without
// AT_SYMLINK_FOLLOW, mknodat). Names with ".." components are refused
// outright, as GNU tar refuses them.
//
// The compression is found from the stream's magic bytes: gzip and bzip2
// are decoded in-process (or by pigz when it is installed), xz and zstd by
// the xz and zstd programs.
package untar

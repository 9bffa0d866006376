package rootfs

import "strconv"

// TmpfsSizes sizes the guest's /dev/shm and /run from its memory limit in
// bytes (ram <= 0: no limit, the kernel's and nspawn's defaults, which are
// fractions of the host's RAM).
//
// Why: tmpfs pages are charged to the container's memory cgroup but belong
// to no process. A guest that fills an unbounded /dev/shm up to its limit
// leaves memory the OOM killer cannot free by killing the writer, and the
// next allocation's victim can be PID 1, which takes the whole container
// down (issue 13, item 6). Bounded as the kernel bounds tmpfs on a real
// machine (half of RAM for /dev/shm; nspawn's 20% for /run), a full
// /dev/shm is "No space left on device" for the writer and the rest of the
// limit stays for processes: together with /dev (DefaultDevSize) the
// tmpfs mounts can take at most about 70% of it.
//
// init's oom_score_adj is left alone: it is inherited by every process the
// guest starts, so lowering it would shield the whole container, not init,
// and -1000 would leave a memory cgroup full of tmpfs with nothing to kill.
// (Root inside cannot lower its processes' score below what they inherit:
// that needs CAP_SYS_RESOURCE in the host's user namespace.)
func TmpfsSizes(ram int64) (shm, run string) {
	if ram <= 0 {
		return "", ""
	}
	kib := func(b int64) string {
		if b < 1<<20 {
			b = 1 << 20 // a tmpfs too small to hold a lock file breaks boot
		}
		return strconv.FormatInt(b>>10, 10) + "k"
	}
	return kib(ram / 2), kib(ram / 5)
}

func shmData(size string) string {
	if size == "" {
		return "mode=1777"
	}
	return "mode=1777,size=" + size
}

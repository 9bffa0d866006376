//go:build linux

package untar

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// BenchmarkExtract compares this extractor with GNU tar
// (--numeric-owner --xattrs --xattrs-include='*' -xpf) on the same
// archives, extracting into the same file system:
//
//	go test -run '^$' -bench Extract -benchtime 1x ./templates/untar/
//
// The machines this runs on are shared and their disks noisy, so rather
// than Go's back-to-back sub-benchmarks it runs UNTAR_BENCH_ROUNDS (5)
// rounds, each extracting with every contender in turn (rotating who goes
// first), syncs the file system before each timed run so that no one
// pays for another's writeback, and reports medians of wall time and of
// CPU time (user+sys, this process and its children: pigz, zstd, tar's
// gzip).
//
// The tree is synthetic (benchTree) unless UNTAR_BENCH_TREE names a
// directory to archive instead (a Debian rootfs, say), or
// UNTAR_BENCH_ARCHIVE names template tarballs (colon-separated) to use as
// they are.
// UNTAR_BENCH_DIR picks the file system to extract into (default: the
// test's temp dir). UNTAR_BENCH_FRESH_EXT4=1 instead gives every timed run
// a new ext4 file system on a loop device (unmounted and detached right
// after): on a long-lived ext4 the inode allocator's scan past recently
// deleted inodes (recently_deleted() in the kernel profile) made the same
// extraction take anywhere from 1.5 s to 10 s of system time here, which
// drowns any difference between extractors.
func BenchmarkExtract(b *testing.B) {
	roottest.Require(b, "chown, mknod, security.capability")
	work := b.TempDir()
	if d := os.Getenv("UNTAR_BENCH_DIR"); d != "" {
		var err error
		if work, err = os.MkdirTemp(d, "untar-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(work) })
	}
	rounds := 5
	fresh := os.Getenv("UNTAR_BENCH_FRESH_EXT4") == "1"
	if n, err := strconv.Atoi(os.Getenv("UNTAR_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	var archives []string
	if a := os.Getenv("UNTAR_BENCH_ARCHIVE"); a != "" {
		archives = filepath.SplitList(a)
	} else {
		tree := os.Getenv("UNTAR_BENCH_TREE")
		if tree == "" {
			tree = filepath.Join(work, "tree")
			benchTree(b, tree)
		}
		plain := filepath.Join(work, "tree.tar")
		runcmd(b, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-cf", plain, "-C", tree, ".")
		runcmd(b, "sh", "-c", "gzip -6 -c "+plain+" > "+plain+".gz")
		runcmd(b, "sh", "-c", "zstd -q -3 -c "+plain+" > "+plain+".zst")
		archives = []string{plain + ".gz", plain + ".zst"}
		st, _ := os.Stat(plain)
		b.Logf("tree %s: %d MB uncompressed", tree, st.Size()>>20)
	}
	wfd, err := unix.Open(work, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(wfd)

	for _, a := range archives {
		head := make([]byte, headLen)
		f, err := os.Open(a)
		if err != nil {
			b.Fatal(err)
		}
		f.Read(head)
		f.Close()
		c := Detect(head)
		st, _ := os.Stat(a)
		b.Logf("%s: %s, %d MB", filepath.Base(a), c, st.Size()>>20)

		type contender struct {
			name string
			fn   func(dest string) error
		}
		govz := func(m gzipMode) func(string) error {
			return func(dest string) error { return ExtractFile(a, dest, Options{gzip: m}) }
		}
		contenders := []contender{
			{"govz", govz(gzipAuto)},
			{"gnutar", func(dest string) error {
				out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
					"-xpf", a, "-C", dest).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%w: %s", err, out)
				}
				return nil
			}},
		}
		if c == Gzip {
			contenders = append(contenders,
				contender{"govz-gzip-inline", govz(gzipGo)},
				contender{"govz-gzip-goroutine", govz(gzipGoPipe)},
				contender{"govz-pigz", govz(gzipPigz)})
		}
		wall := make([][]time.Duration, len(contenders))
		cpu := make([][]time.Duration, len(contenders))
		for r := range rounds {
			for k := range contenders {
				i := (k + r) % len(contenders)
				dest := filepath.Join(work, fmt.Sprintf("dest-%d-%d", r, i))
				if err := os.Mkdir(dest, 0o755); err != nil {
					b.Fatal(err)
				}
				var umount func()
				if fresh {
					umount = mountFreshExt4(b, filepath.Join(work, "ext4.img"), dest)
				}
				unix.Syncfs(wfd)
				c0, t0 := cpuTime(), time.Now()
				if err := contenders[i].fn(dest); err != nil {
					b.Fatalf("%s: %v", contenders[i].name, err)
				}
				wall[i] = append(wall[i], time.Since(t0))
				cpu[i] = append(cpu[i], cpuTime()-c0)
				if umount != nil {
					umount()
				}
				if err := os.RemoveAll(dest); err != nil {
					b.Fatal(err)
				}
			}
		}
		for i, x := range contenders {
			w, u := median(wall[i]), median(cpu[i])
			b.Logf("%-5s %-20s wall median %5d ms (min %5d, max %5d)  cpu median %5d ms",
				c, x.name, w.Milliseconds(), slices.Min(wall[i]).Milliseconds(),
				slices.Max(wall[i]).Milliseconds(), u.Milliseconds())
			b.ReportMetric(float64(w.Milliseconds()), c.String()+"/"+x.name+"-wall-ms")
			b.ReportMetric(float64(u.Milliseconds()), c.String()+"/"+x.name+"-cpu-ms")
		}
	}
}

// cpuTime is the user+sys time of this process and its waited-for
// children so far.
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if err := unix.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// mountFreshExt4 makes a new ext4 file system in img (inode tables and
// journal written out now, so no lazy-init thread runs during the timed
// extraction) and mounts it on dir. The returned function unmounts it and
// removes img; it also runs at cleanup if the benchmark fails first.
func mountFreshExt4(b *testing.B, img, dir string) func() {
	b.Helper()
	runcmd(b, "truncate", "-s", "3G", img)
	runcmd(b, "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img)
	// -o loop: util-linux sets up the loop device with autoclear, so the
	// unmount also detaches it.
	runcmd(b, "mount", "-o", "loop", img, dir)
	done := false
	umount := func() {
		if done {
			return
		}
		done = true
		if err := unix.Unmount(dir, 0); err != nil {
			b.Errorf("unmounting %s: %v", dir, err)
		}
		os.Remove(img)
	}
	b.Cleanup(umount)
	return umount
}

func runcmd(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// benchTree writes a deterministic tree shaped like a small distribution
// root: ~4000 files, mostly small (median a few KiB, a long tail up to
// 512 KiB, ~70 MB in all), three quarters text-like (compresses ~4:1) and
// the rest binary-like, in ~300 directories up to five deep, plus
// symlinks and hard links.
func benchTree(b *testing.B, root string) {
	b.Helper()
	r := rand.New(rand.NewPCG(42, 7))
	words := strings.Fields("the of and to in is for on that by this with you it not or be are from at as " +
		"your all have new more an was we will home can us about if page my has search free but our one " +
		"lib usr bin etc share doc locale man config systemd debian package install version license")
	dirs := []string{root}
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 300 {
		parent := dirs[r.IntN(len(dirs))]
		if strings.Count(parent[len(root):], "/") >= 5 {
			parent = root
		}
		d := filepath.Join(parent, fmt.Sprintf("d%03d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	var files []string
	buf := make([]byte, 0, 512<<10)
	for i := range 4000 {
		var size int
		switch p := r.IntN(100); {
		case p < 55:
			size = 100 + r.IntN(4<<10)
		case p < 88:
			size = 4<<10 + r.IntN(20<<10)
		case p < 98:
			size = 24<<10 + r.IntN(72<<10)
		default:
			size = 96<<10 + r.IntN(416<<10)
		}
		buf = buf[:0]
		if r.IntN(4) > 0 {
			for len(buf) < size {
				buf = append(buf, words[r.IntN(len(words))]...)
				buf = append(buf, " \n"[min(r.IntN(12), 1)])
			}
		} else {
			for len(buf) < size {
				// Random bytes with repeats: binaries compress ~1.5:1.
				if len(buf) > 64 && r.IntN(3) == 0 {
					off := r.IntN(len(buf) - 32)
					buf = append(buf, buf[off:off+32]...)
				} else {
					buf = append(buf, byte(r.Uint32()))
				}
			}
		}
		p := filepath.Join(dirs[r.IntN(len(dirs))], fmt.Sprintf("f%04d", i))
		mode := os.FileMode(0o644)
		if r.IntN(5) == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(p, buf[:size], mode); err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
	}
	for i := range 600 {
		rel, _ := filepath.Rel(root, files[r.IntN(len(files))])
		if err := os.Symlink("/"+rel, filepath.Join(dirs[r.IntN(len(dirs))], fmt.Sprintf("l%03d", i))); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		if err := os.Link(files[r.IntN(len(files))], filepath.Join(dirs[r.IntN(len(dirs))], fmt.Sprintf("h%03d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

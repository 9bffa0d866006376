package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Geometry every image uses: 4 KiB blocks, 256-byte inodes and the default
// 32768 blocks (128 MiB) per block group. Keeping it fixed is what lets a
// copy of a template image be grown to any size with the inode density
// the container asked for: resize2fs and the kernel give every new group
// the same number of inodes as the old ones.
const (
	BlockSize      = 4096
	BlocksPerGroup = 32768
	GroupBytes     = BlockSize * BlocksPerGroup
	inodeSize      = 256
	inodesPerBlock = BlockSize / inodeSize
	// maxInodesPerGroup is ext4's limit: one bitmap block's worth.
	maxInodesPerGroup = 8 * BlockSize
	// defaultBytesPerInode is mke2fs's default inode_ratio for ext4.
	defaultBytesPerInode = 16384
	// reservedInodes are the first inodes ext4 keeps for itself
	// (EXT4_GOOD_OLD_FIRST_INO - 1).
	reservedInodes = 10
)

// Groups is the number of block groups in a file system of size bytes.
func Groups(size int64) int64 {
	return max(1, (size+GroupBytes-1)/GroupBytes)
}

// InodesPerGroup is the inode density for an image of size bytes that
// should hold about inodes files in total; inodes <= 0 asks for mke2fs's
// default density.
func InodesPerGroup(size, inodes int64) int64 {
	if inodes <= 0 {
		return GroupBytes / defaultBytesPerInode
	}
	g := Groups(size)
	ipg := (inodes + reservedInodes + g - 1) / g
	ipg = (ipg + inodesPerBlock - 1) / inodesPerBlock * inodesPerBlock
	return min(max(ipg, inodesPerBlock), maxInodesPerGroup)
}

// JournalBlocks is the journal mke2fs would give a file system of size
// bytes (ext2fs_default_journal_size). A template image is small, so its
// journal is sized for the container's image instead: a 16 MiB journal in
// a 64 MiB container would eat a quarter of its limit, a 4 MiB one in a
// 100 GiB container would throttle it.
func JournalBlocks(size int64) int64 {
	b := Blocks(size)
	switch {
	case b < 32768:
		return 1024
	case b < 256*1024:
		return 4096
	case b < 512*1024:
		return 8192
	case b < 4096*1024:
		return 16384
	case b < 8192*1024:
		return 32768
	case b < 16384*1024:
		return 65536
	case b < 32768*1024:
		return 131072
	}
	return 262144
}

// Blocks rounds size down to whole file system blocks.
func Blocks(size int64) int64 { return size / BlockSize }

// run runs an e2fsprogs tool and folds its output into the error.
func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if len(msg) > 400 {
			msg = msg[len(msg)-400:]
		}
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s not found (install e2fsprogs): %w", name, err)
		}
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return nil
}

// ErrTooSmall is what Mkfs and Resize return when the file system does not
// fit in the size asked for.
var ErrTooSmall = errors.New("file system does not fit")

// Mkfs makes an ext4 file system of size bytes, groups*ipg inodes and a
// journal of journal blocks in a new sparse file, filled with the tree at
// fromDir when fromDir is set (mke2fs -d keeps owners, modes, hard links,
// xattrs, ACLs and times).
func Mkfs(file string, size, ipg, journal int64, fromDir string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating image %s: %w", file, err)
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return fmt.Errorf("sizing image %s: %w", file, err)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-b", strconv.Itoa(BlockSize), "-I", strconv.Itoa(inodeSize),
		"-g", strconv.Itoa(BlocksPerGroup), "-N", strconv.FormatInt(Groups(size)*ipg, 10),
		"-J", "size=" + strconv.FormatInt(journal*BlockSize>>20, 10),
		// No blocks reserved for root: in a container root is the user,
		// and the image size must be the limit it meets.
		"-m", "0",
		// Zero inode tables and journal now, which on a sparse file only
		// punches holes, so the kernel's lazy-init thread never writes
		// through the image behind the container's back.
		"-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard"}
	if fromDir != "" {
		args = append(args, "-d", fromDir)
	}
	args = append(args, file, strconv.FormatInt(Blocks(size), 10))
	if err := run("mkfs.ext4", args...); err != nil {
		if strings.Contains(err.Error(), "Could not allocate") || strings.Contains(err.Error(), "No space left") {
			return fmt.Errorf("%w: %w", ErrTooSmall, err)
		}
		return err
	}
	if fromDir == "" {
		return nil
	}
	// mke2fs copies every time but the root's, which making lost+found
	// after the copy bumps: put the tree's back.
	var st unix.Stat_t
	if err := unix.Stat(fromDir, &st); err != nil {
		return fmt.Errorf("stat %s: %w", fromDir, err)
	}
	for _, f := range []string{"mtime", "atime"} {
		sec := st.Mtim.Sec
		if f == "atime" {
			sec = st.Atim.Sec
		}
		if err := run("debugfs", "-w", "-R", fmt.Sprintf("set_inode_field / %s @%d", f, sec), file); err != nil {
			return err
		}
	}
	return nil
}

// Check runs a forced e2fsck that repairs what it safely can; offline
// resizing demands one after the file system was last mounted.
func Check(file string) error { return CheckWith(file, nil) }

// CheckWith is Check telling progress (when set) how far e2fsck is, in
// thousandths: e2fsck -C FD writes "PASS CURRENT MAX DEVICE" lines to FD,
// and its passes weigh what e2fsck's own bar gives them (e2fsck/unix.c,
// e2fsck_tbl: 70, 20, 2, 3, 5 percent).
func CheckWith(file string, progress func(done, total int64)) error {
	cmd := exec.Command("e2fsck", "-f", "-y", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var pr *os.File
	if progress != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("e2fsck %s: %w", file, err)
		}
		cmd.ExtraFiles = []*os.File{w} // fd 3
		cmd.Args = []string{"e2fsck", "-f", "-y", "-C", "3", file}
		defer r.Close()
		defer w.Close()
		pr = r
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("e2fsck %s: %w", file, err)
	}
	if pr != nil {
		cmd.ExtraFiles[0].Close()
		readFsckProgress(pr, progress)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	// Exit 1 means errors were corrected, which is fine here.
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("e2fsck %s: %w: %s", file, err, strings.Join(strings.Fields(out.String()), " "))
	}
	return nil
}

// fsckPassEnd is where e2fsck's bar stands, in thousandths, at the end
// of pass (0..5; -1 for no such pass).
func fsckPassEnd(pass int) int64 {
	switch pass {
	case 0:
		return 0
	case 1:
		return 700
	case 2:
		return 900
	case 3:
		return 920
	case 4:
		return 950
	case 5:
		return 1000
	}
	return -1
}

// readFsckProgress turns e2fsck -C's lines from r into progress calls
// until r ends.
func readFsckProgress(r io.Reader, progress func(done, total int64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		pass, err1 := strconv.Atoi(f[0])
		cur, err2 := strconv.ParseInt(f[1], 10, 64)
		max, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || pass < 1 || fsckPassEnd(pass) < 0 || max <= 0 {
			continue
		}
		lo, hi := fsckPassEnd(pass-1), fsckPassEnd(pass)
		progress(lo+(hi-lo)*min(cur, max)/max, 1000)
	}
	progress(1000, 1000)
}

// Resize changes the size of the unmounted file system in file to size
// bytes, growing the file first or shrinking it last. A shrink below what
// the files use fails with ErrTooSmall and leaves the image as it was.
func Resize(file string, size int64) error { return ResizeWith(file, size, nil) }

// ResizeWith is Resize telling progress (when set) how far resize2fs is
// in its current pass: resize2fs -p prints "Begin pass N (max = M)", a
// label and then up to 40 X's as the pass goes (resize/main.c,
// resize_progress_func), so the bar starts again with each pass.
func ResizeWith(file string, size int64, progress func(done, total int64)) error {
	st, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("image %s: %w", file, err)
	}
	size = Blocks(size) * BlockSize
	if size > st.Size() {
		if err := os.Truncate(file, size); err != nil {
			return fmt.Errorf("growing image %s: %w", file, err)
		}
	}
	args := []string{file, strconv.FormatInt(Blocks(size), 10)}
	if progress != nil {
		args = append([]string{"-p"}, args...)
	}
	if err := runProgress("resize2fs", progress, args...); err != nil {
		if strings.Contains(err.Error(), "No space left") || strings.Contains(err.Error(), "smaller than minimum") {
			return fmt.Errorf("%w: %w", ErrTooSmall, err)
		}
		return err
	}
	if size < st.Size() {
		if err := os.Truncate(file, size); err != nil {
			return fmt.Errorf("shrinking image %s: %w", file, err)
		}
	}
	return nil
}

// resizeMarks is how many X's resize2fs -p prints for a whole pass.
const resizeMarks = 40

// runProgress is run, feeding what the command prints through a reader
// of resize2fs -p's pass bars when progress is set.
func runProgress(name string, progress func(done, total int64), args ...string) error {
	if progress == nil {
		return run(name, args...)
	}
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		w.Close()
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s not found (install e2fsprogs): %w", name, err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	w.Close()
	readResizeProgress(io.TeeReader(r, &out), progress)
	if err := cmd.Wait(); err != nil {
		msg := strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "X", "")), " ")
		if len(msg) > 400 {
			msg = msg[len(msg)-400:]
		}
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return nil
}

// readResizeProgress counts the X's of each "Begin pass" until r ends.
func readResizeProgress(r io.Reader, progress func(done, total int64)) {
	br := bufio.NewReader(r)
	var line []byte
	marks, inPass := int64(0), false
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		switch {
		case c == '\n':
			if bytes.HasPrefix(line, []byte("Begin pass ")) {
				marks, inPass = 0, true
				progress(0, resizeMarks)
			}
			line = line[:0]
		case c == 'X' && inPass:
			marks++
			progress(min(marks, resizeMarks), resizeMarks)
		default:
			if len(line) < 64 {
				line = append(line, c)
			}
		}
	}
}

// ErrNoSysResource is GrowOnline's answer when this process lacks
// CAP_SYS_RESOURCE (dropped from the bounding set by a sandbox, say).
var ErrNoSysResource = errors.New("growing a mounted ext4 image needs CAP_SYS_RESOURCE, which this process lacks")

// HaveSysResource reports whether CAP_SYS_RESOURCE is effective.
func HaveSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}

// ext4ResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64).
const ext4ResizeFS = 1<<30 | 8<<16 | 'f'<<8 | 16

// GrowOnline grows the mounted file system at dir, backed by file through
// a loop device, to size bytes: file, then device, then file system. Each
// step is idempotent, so a grow that was interrupted is finished by
// running it again.
func GrowOnline(file, dir string, size int64) error {
	dev, back, ok, err := Backing(dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not a loop-backed mount", dir)
	}
	if !sameFile(back, file) {
		return fmt.Errorf("%s is backed by %s, not %s", dir, back, file)
	}
	// ext4 refuses an online resize without CAP_SYS_RESOURCE (in
	// ext4_resize_begin); find out before touching anything.
	if !HaveSysResource() {
		return ErrNoSysResource
	}
	size = Blocks(size) * BlockSize
	if st, err := os.Stat(file); err != nil {
		return err
	} else if st.Size() < size {
		if err := os.Truncate(file, size); err != nil {
			return fmt.Errorf("growing image %s: %w", file, err)
		}
	}
	lf, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dev, err)
	}
	err = unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_CAPACITY, 0)
	lf.Close()
	if err != nil {
		return fmt.Errorf("updating the size of %s: %w", dev, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	blocks := uint64(Blocks(size))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, d.Fd(), ext4ResizeFS, uintptr(unsafe.Pointer(&blocks))); e != 0 {
		return fmt.Errorf("resizing the file system at %s to %d blocks: %w", dir, blocks, e)
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// Stat is a mounted image's size and use, from statfs.
type Stat struct {
	TotalBytes, UsedBytes   int64
	TotalInodes, UsedInodes int64
}

// StatMounted reads the use of the file system mounted at dir.
func StatMounted(dir string) (Stat, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Stat{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := st.Bsize
	return Stat{
		TotalBytes: int64(st.Blocks) * bs, UsedBytes: int64(st.Blocks-st.Bfree) * bs,
		TotalInodes: int64(st.Files), UsedInodes: int64(st.Files - st.Ffree),
	}, nil
}

// FSSize reads the size in bytes of the unmounted ext4 file system in file
// from its superblock.
func FSSize(file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var sb [1024]byte
	if _, err := f.ReadAt(sb[:], 1024); err != nil {
		return 0, fmt.Errorf("reading the superblock of %s: %w", file, err)
	}
	le := func(off int) uint64 {
		return uint64(sb[off]) | uint64(sb[off+1])<<8 | uint64(sb[off+2])<<16 | uint64(sb[off+3])<<24
	}
	if le(0x38)&0xffff != 0xef53 {
		return 0, fmt.Errorf("%s holds no ext4 file system", file)
	}
	blocks := le(0x4)
	const incompat64bit = 0x80
	if le(0x60)&incompat64bit != 0 {
		blocks |= le(0x150) << 32
	}
	return int64(blocks) << (10 + le(0x18)), nil
}

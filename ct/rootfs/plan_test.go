package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

func render(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func indexOf(t *testing.T, text, line string) int {
	t.Helper()
	i := strings.Index(text, line+"\n")
	if i < 0 {
		t.Fatalf("plan lacks %q:\n%s", line, text)
	}
	return i
}

func TestPlan(t *testing.T) {
	steps, err := Plan(Config{
		ConsoleFD: 7, NotifyFD: 8, ReadyFD: 9,
		DevNodes: []DevNode{{Path: "net/tun", Type: 'c', Major: 10, Minor: 200, Mode: 0o666, Access: "rw"}},
		Cgroup: []Mount{
			{Source: "tmpfs", Target: "/sys/fs/cgroup", FSType: "tmpfs", Data: "mode=755"},
			{Source: "cgroup", Target: "/sys/fs/cgroup/memory", FSType: "cgroup", Data: "memory"},
			{Target: "/sys/fs/cgroup/cpuacct", Symlink: "cpu,cpuacct"},
		},
		OSRelease: []byte("ID=debian\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	text := render(steps)
	proc := indexOf(t, text, "mount -t proc -o nosuid,nodev,noexec proc /proc")
	indexOf(t, text, "mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys")
	dev := indexOf(t, text, "mount -t tmpfs -o nosuid,strictatime,mode=755,size=4m tmpfs /dev")
	null := indexOf(t, text, "mknod -m 666 /dev/null c 1 3")
	indexOf(t, text, "mkdir -p -m 755 /dev/net")
	indexOf(t, text, "mknod -m 666 /dev/net/tun c 10 200")
	indexOf(t, text, "ln -s pts/ptmx /dev/ptmx")
	indexOf(t, text, "mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts")
	indexOf(t, text, "mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue")
	indexOf(t, text, "move_mount fd:7 /dev/console")
	mask := indexOf(t, text, "mask /proc/kcore")
	ro := indexOf(t, text, "bind -o ro /proc/sys")
	rw := indexOf(t, text, "bind -o rw /proc/sys/net")
	indexOf(t, text, "mask /sys/firmware")
	indexOf(t, text, "mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory")
	indexOf(t, text, "ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct")
	run := indexOf(t, text, "mount -t tmpfs -o nosuid,nodev,strictatime,mode=755,size=20% tmpfs /run")
	indexOf(t, text, "write /run/host/container-manager (5 bytes, mode 444)")
	indexOf(t, text, "write /run/host/os-release (10 bytes, mode 444)")
	notify := indexOf(t, text, "move_mount fd:8 /run/host/notify")
	indexOf(t, text, "move_mount fd:9 /run/host/ready")
	// Order matters: /dev/null exists before it masks /proc files; /proc/sys
	// is read-only before /proc/sys/net is bound writable inside it; /run
	// is mounted before its files are made.
	if !(proc < dev && dev < null && null < mask && mask < ro && ro < rw && run < notify) {
		t.Errorf("steps out of order:\n%s", text)
	}

	none, err := Plan(Config{ConsoleFD: -1, NotifyFD: -1, ReadyFD: -1, WritableSys: true})
	if err != nil {
		t.Fatal(err)
	}
	text = render(none)
	for _, absent := range []string{"/dev/console", "/run/host/notify", "/run/host/ready", "os-release", "mask /sys/firmware", "ro,nosuid,nodev,noexec sysfs"} {
		if strings.Contains(text, absent) {
			t.Errorf("plan without console/notify/ready/os-release, writable sys has %q", absent)
		}
	}
	if _, err := Plan(Config{Cgroup: []Mount{{Source: "x", Target: "/etc", FSType: "tmpfs"}}}); err == nil {
		t.Error("a cgroup mount outside /sys/fs/cgroup was accepted")
	}
	if _, err := Plan(Config{DevNodes: []DevNode{{Path: "../etc/x", Type: 'c'}}}); !errors.Is(err, vzerror.ErrInvalidValue) {
		t.Errorf("device path escaping /dev: %v", err)
	}
}

func TestDevNodeValidate(t *testing.T) {
	good := []DevNode{{Path: "fuse", Type: 'c', Major: 10, Minor: 229, Mode: 0o666}, {Path: "net/tun", Type: 'c', Access: "rw"}, {Path: "sdb", Type: 'b', Access: "r"}}
	for _, d := range good {
		if err := d.Validate(); err != nil {
			t.Errorf("%+v: %v", d, err)
		}
	}
	bad := []DevNode{{Path: "", Type: 'c'}, {Path: "/null", Type: 'c'}, {Path: "a/../../x", Type: 'c'}, {Path: "pts/0", Type: 'c'},
		{Path: "console", Type: 'c'}, {Path: "x", Type: 'p'}, {Path: "x", Type: 'c', Access: "rwx"}, {Path: "x", Type: 'c', Mode: 0o4755}}
	for _, d := range bad {
		if err := d.Validate(); !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("%+v accepted: %v", d, err)
		}
	}
	r := AllowRules([]DevNode{{Path: "sdb", Type: 'b', Major: 8, Minor: 16, Access: "r"}})
	text := fmt.Sprint(r)
	for _, want := range []string{"c 1:3 rwm", "c 5:2 rwm", "c 136:* rwm", "c 143:* rwm", "b 8:16 r"} {
		if !strings.Contains(text, want) {
			t.Errorf("allow rules lack %q: %s", want, text)
		}
	}
}

// fakeKernel records Apply's calls over an in-memory tree.
type fakeKernel struct {
	files map[string]bool // path -> is a directory
	calls []string
}

func (k *fakeKernel) Stat(p string) (bool, bool, error) {
	d, ok := k.files[p]
	return ok, d, nil
}
func (k *fakeKernel) Mkdir(p string, mode uint32) error {
	if _, ok := k.files[filepath.Dir(p)]; !ok {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrNotExist}
	}
	k.files[p] = true
	k.calls = append(k.calls, fmt.Sprintf("mkdir %s %o", p, mode))
	return nil
}
func (k *fakeKernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	k.calls = append(k.calls, Step{Op: OpMount, Source: source, Path: target, FSType: fstype, Flags: flags, Data: data}.String())
	return nil
}
func (k *fakeKernel) Mknod(p string, mode uint32, char bool, dev uint64) error {
	k.files[p] = false
	k.calls = append(k.calls, Step{Op: OpMknod, Path: p, Mode: mode, Char: char, Dev: dev}.String())
	return nil
}
func (k *fakeKernel) Symlink(target, p string) error {
	k.files[p] = false
	k.calls = append(k.calls, "ln -s "+target+" "+p)
	return nil
}
func (k *fakeKernel) WriteFile(p string, data []byte, mode uint32) error {
	k.files[p] = false
	k.calls = append(k.calls, fmt.Sprintf("write %s %q", p, data))
	return nil
}
func (k *fakeKernel) MoveMount(fd int, target string) error {
	k.calls = append(k.calls, fmt.Sprintf("move_mount %d %s", fd, target))
	return nil
}

func TestApply(t *testing.T) {
	k := &fakeKernel{files: map[string]bool{"/": true, "/proc": true, "/proc/kcore": false, "/proc/acpi": true, "/proc/sys": true}}
	err := Apply(k, []Step{
		{Op: OpMkdir, Path: "/a/b/c", Mode: 0o700},
		{Op: OpMask, Path: "/proc/kcore"},
		{Op: OpMask, Path: "/proc/acpi"},
		{Op: OpMask, Path: "/proc/timer_stats"},
		{Op: OpReadOnly, Path: "/proc/sys", Flags: roProcFlags},
		{Op: OpWritable, Path: "/proc/sys/absent", Flags: procFlags},
		{Op: OpSymlink, Path: "/x/y", Target: "z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `mkdir /a 755
mkdir /a/b 755
mkdir /a/b/c 700
mount -t  -o bind /dev/null /proc/kcore
mount -t tmpfs -o ro,nosuid,nodev,noexec,mode=555 tmpfs /proc/acpi
mount -t  -o bind /proc/sys /proc/sys
mount -t  -o ro,nosuid,nodev,noexec,bind /proc/sys /proc/sys
mkdir /x 755
ln -s z /x/y`
	if got := strings.Join(k.calls, "\n"); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	// A failing step names itself and counts as a mount failure.
	k.files["/f"] = false
	err = Apply(k, []Step{{Op: OpMkdir, Path: "/f/g", Mode: 0o755}})
	var se *StepError
	if !errors.As(err, &se) || !errors.Is(err, vzerror.ErrMount) || !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("mkdir below a file: %v", err)
	}
}

func TestPlantReadyHooks(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/init.d"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc/local.d"), 0o755)
	// The guest's own hook is left alone.
	os.WriteFile(filepath.Join(root, "etc/local.d/govz-ready.start"), []byte("#!/bin/sh\necho mine\n"), 0o755)
	got, err := PlantReadyHooks(root)
	if err != nil || len(got) != 1 || got[0] != "/etc/init.d/ready" {
		t.Fatalf("planted %v, %v", got, err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "etc/init.d/ready"))
	if !strings.Contains(string(b), "echo READY=1 >/run/host/ready") {
		t.Errorf("hook:\n%s", b)
	}
	if st, _ := os.Stat(filepath.Join(root, "etc/init.d/ready")); st.Mode().Perm() != 0o755 {
		t.Errorf("hook mode %v", st.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/local.d/govz-ready.start")); string(b) != "#!/bin/sh\necho mine\n" {
		t.Errorf("the guest's own file was overwritten: %q", b)
	}
	// Ours is rewritten on the next start.
	if got, err := PlantReadyHooks(root); err != nil || len(got) != 1 {
		t.Errorf("second plant: %v %v", got, err)
	}
	// A symlinked /etc/init.d pointing out of the tree stays inside it.
	evil := t.TempDir()
	root2 := t.TempDir()
	os.MkdirAll(filepath.Join(root2, "etc"), 0o755)
	os.Symlink(evil, filepath.Join(root2, "etc/init.d"))
	if got, _ := PlantReadyHooks(root2); len(got) != 0 {
		t.Errorf("planted through a symlink leaving the root: %v", got)
	}
	if es, _ := os.ReadDir(evil); len(es) != 0 {
		t.Errorf("wrote outside the root: %v", es)
	}
}

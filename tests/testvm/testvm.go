// Package testvm runs a shell script as PID 1 of a throw-away VM booted
// from Debian's stock kernel under qemu, for tests of code paths the
// development machines cannot offer (a cgroup v2-only host, ext4/XFS
// project quota, CAP_SYS_RESOURCE): see shared/reference/testvm.md.
//
// The VM's root file system is the host's own, shared read-only over 9p,
// so the script can run any host binary (the test binary itself, from
// os.Executable) without copying it. Only emulation is available (TCG,
// -enable-kvm is refused on these machines), so keep the work small.
package testvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Options describe one VM run.
type Options struct {
	// Script is the shell (/bin/sh) body run as PID 1's child, after the
	// VM's /proc, /sys and /dev are mounted and a tmpfs at /mnt is the
	// working directory and TMPDIR (the root itself is read-only). Its
	// output goes to the serial console, which Run returns; its exit
	// status decides whether Run fails the test.
	Script string
	// Timeout bounds the whole run, boot included (default 8 minutes).
	Timeout time.Duration
	// MemoryMB and CPUs size the VM (default 1024 MiB, 2 CPUs).
	MemoryMB, CPUs int
	// Append adds kernel command-line parameters.
	Append string
}

const qemuBinary = "qemu-system-x86_64"

// exitMarker is printed on the console with the script's exit status.
const exitMarker = "GOVZ-VM-EXIT="

// Available returns why no VM can be booted here ("" when one can): qemu or
// a Debian kernel with its modules is missing. Tests skip with the reason.
func Available() string {
	if _, err := exec.LookPath(qemuBinary); err != nil {
		return qemuBinary + " missing (apt-get install qemu-system-x86)"
	}
	if v, _ := debianKernel(); v == "" {
		return "no Debian kernel with modules in /boot (apt-get install linux-image-amd64)"
	}
	return ""
}

// Run boots the VM, runs o.Script in it and returns everything printed on
// the serial console (kernel messages included). The test fails, with the
// console's tail, when the script exits non-zero, the VM does not finish
// within the timeout, or no VM can be booted (check Available first).
func Run(t testing.TB, o Options) string {
	t.Helper()
	if reason := Available(); reason != "" {
		t.Fatalf("no test VM: %s", reason)
	}
	qemu, _ := exec.LookPath(qemuBinary)
	kver, kernel := debianKernel()
	initrd, err := initrd9p(kver)
	if err != nil {
		t.Fatalf("no test VM: cannot make a 9p initramfs: %v", err)
	}
	if o.Timeout == 0 {
		o.Timeout = 8 * time.Minute
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	// The script must be on the host's root to be seen in the VM.
	dir := t.TempDir()
	script := filepath.Join(dir, "init.sh")
	if err := os.WriteFile(script, []byte(initScript(o.Script)), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	// panic=-1 with -no-reboot: a kernel panic (an init that cannot run)
	// ends qemu at once instead of waiting out the timeout. cache=loose
	// keeps what the VM read from the host in its page cache; with 9p's
	// default (none) every exec pages a Go binary in over virtio again,
	// about 5 s per vzctl run instead of 0.5 s. The host must not change
	// files the VM reads while it runs, which callers have no need to.
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg,thread=multi", "-cpu", "max",
		"-m", fmt.Sprint(o.MemoryMB), "-smp", fmt.Sprint(o.CPUs),
		"-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
		"-virtfs", "local,path=/,mount_tag=rootfs,security_model=passthrough,id=rootfs,readonly=on,multidevs=remap",
		"-append", strings.TrimSpace("root=rootfs rootfstype=9p rootflags=trans=virtio,version=9p2000.L,cache=loose ro init="+script+
			" console=ttyS0 quiet panic=-1 "+o.Append))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("VM ran %v", time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", o.Timeout)
	}
	m := regexp.MustCompile(exitMarker + `(\d+)`).FindStringSubmatch(out.String())
	if err != nil || m == nil || m[1] != "0" {
		t.Fatalf("script in the VM failed (qemu: %v):\n%s", err, tail(out.String(), 6000))
	}
	return out.String()
}

// initScript wraps body as the VM's init. There is no init system: sysrq
// 'o' powers the VM off, and qemu exits.
func initScript(body string) string {
	return `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /mnt
export TMPDIR=/mnt
cd /mnt
(
` + body + `
) >/dev/ttyS0 2>&1 </dev/null
echo "` + exitMarker + `$?" >/dev/ttyS0
echo 1 > /proc/sys/kernel/sysrq
echo o > /proc/sysrq-trigger
sleep 10
`
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// debianKernel finds the newest /boot/vmlinuz-VERSION with its modules.
func debianKernel() (version, path string) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(ks)
	for i := len(ks) - 1; i >= 0; i-- {
		v := strings.TrimPrefix(filepath.Base(ks[i]), "vmlinuz-")
		if _, err := os.Stat(filepath.Join("/lib/modules", v, "modules.dep")); err == nil {
			return v, ks[i]
		}
	}
	return "", ""
}

// initrd9p returns an initramfs for kernel version that can mount a 9p
// root, made once (about 15 s on a loaded machine) and kept in the development cache
// ($GOVZ_DEV_CACHE, default /var/cache/govz-dev). Concurrent test binaries
// may both make it; the rename makes either result whole.
func initrd9p(version string) (string, error) {
	cache := os.Getenv("GOVZ_DEV_CACHE")
	if cache == "" {
		cache = "/var/cache/govz-dev"
	}
	// "-list": the earlier images (MODULES=most) stay valid but are not it.
	out := filepath.Join(cache, "vm", "initrd-9p-list-"+version+".img")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := exec.LookPath("mkinitramfs"); err != nil {
		return "", errors.New("mkinitramfs missing (apt-get install initramfs-tools)")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	conf, err := os.MkdirTemp("", "govz-initramfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(conf)
	if b, err := exec.Command("cp", "-a", "/etc/initramfs-tools/.", conf).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying /etc/initramfs-tools: %w: %s", err, b)
	}
	f, err := os.OpenFile(filepath.Join(conf, "modules"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintln(f, "9p\n9pnet\n9pnet_virtio\nvirtio_pci")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("listing the 9p modules: %w", err)
	}
	// Only those (and what they depend on): the initramfs just mounts the
	// 9p root, whose /lib/modules serves every later modprobe (the kernel
	// is the host's). Debian's default, MODULES=most, copies most of the
	// tree: minutes on a fresh CI machine instead of seconds.
	if b, err := exec.Command("sed", "-i", "s/^MODULES=.*/MODULES=list/", filepath.Join(conf, "initramfs.conf")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("setting MODULES=list: %w: %s", err, b)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	if b, err := exec.Command("mkinitramfs", "-d", conf, "-o", tmp, version).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mkinitramfs: %w: %s", err, b)
	}
	return out, os.Rename(tmp, out)
}

package templates

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// TestBusyboxTemplateBoots boots the built template the way a runtime does:
// busybox init as PID 1 of new PID, mount, UTS, IPC and network namespaces,
// chrooted into the extracted tree. It checks that rcS mounts what is
// missing, sets the hostname, brings lo up, runs rc.local and then the
// readiness hook, and that a poweroff request ends init cleanly.
func TestBusyboxTemplateBoots(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	tarball, err := Build(context.Background(), "busybox", BuildOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	err = os.Mkdir(root, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd("tar", "-xzf", tarball, "-C", root, "--numeric-owner")
	if err != nil {
		t.Fatalf("extracting: %v\n%s", err, out)
	}
	// The runtime's part: a /dev with at least null in it.
	err = unix.Mknod(filepath.Join(root, "dev", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/hostname":     "bbtest\n",
		"etc/rc.local":     "#!/bin/sh\necho rc-local >/rc-local-marker\n",
		"etc/init.d/ready": "#!/bin/sh\n{ hostname; ip -o link show lo; cat /proc/mounts; } >/ready.tmp\nmv /ready.tmp /ready-marker\n",
	}
	for name, text := range files {
		err = os.WriteFile(filepath.Join(root, name), []byte(text), 0o755)
		if err != nil {
			t.Fatal(err)
		}
	}

	var console bytes.Buffer
	cmd := exec.Command("/sbin/init")
	cmd.Env = []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "container=govz-test"}
	cmd.Stdout = &console
	cmd.Stderr = &console
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:       root,
		Cloneflags:   syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		Unshareflags: syscall.CLONE_NEWNS,
		Pdeathsig:    syscall.SIGKILL,
	}
	err = cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			// PID 1 of its namespace: SIGKILL takes every process in it.
			cmd.Process.Kill()
			<-exited
		}
	})

	marker := filepath.Join(root, "ready-marker")
	deadline := time.Now().Add(10 * time.Second)
	var ready []byte
	for {
		ready, err = os.ReadFile(marker)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness hook did not run within 10s; console:\n%s", console.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.SplitN(string(ready), "\n", 2)
	if lines[0] != "bbtest" {
		t.Errorf("hostname %q, want bbtest from /etc/hostname", lines[0])
	}
	for _, want := range []string{"LOOPBACK,UP", " /proc proc ", " /sys sysfs ", " /dev/pts devpts ", " /run tmpfs "} {
		if !strings.Contains(string(ready), want) {
			t.Errorf("guest state lacks %q:\n%s", want, ready)
		}
	}
	_, err = os.Stat(filepath.Join(root, "rc-local-marker"))
	if err != nil {
		t.Errorf("rc.local did not run: %v", err)
	}

	// busybox init: SIGUSR2 = poweroff. reboot(2) from PID 1 of a PID
	// namespace ends it as if killed by SIGINT (halt/poweroff).
	start := time.Now()
	err = cmd.Process.Signal(syscall.SIGUSR2)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
		exited <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("init did not power off within 10s; console:\n%s", console.String())
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("init ended with %v, want killed by SIGINT (poweroff); console:\n%s", cmd.ProcessState, console.String())
	}
	t.Logf("poweroff took %v", time.Since(start).Round(time.Millisecond))
}

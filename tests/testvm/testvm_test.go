package testvm

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatal ends the calling goroutine
// like the real one but records the message instead of failing the test.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// One boot checks the failure path the callers rely on: a non-zero exit
// fails the test and shows the console, which carries the script's
// output; the extra kernel parameter reaches the VM; its root is
// read-only and /mnt is the writable scratch directory. (The callers,
// TestStorageInVM and tests.TestCgroupV2InVM, cover the passing path.)
func TestRunFailingScript(t *testing.T) {
	if reason := Available(); reason != "" {
		t.Skip(reason)
	}
	r := &fatalRecorder{TB: t}
	done := make(chan string)
	go func() {
		out := "(returned)"
		defer func() { done <- out }()
		out = Run(r, Options{
			Script: `echo "cmdline: $(cat /proc/cmdline)"
touch /etc/govz-testvm-probe && echo root-writable
echo scratch >scratch && echo "pwd $(pwd) $(cat scratch) tmpdir $TMPDIR"
exit 3`,
			Append: "govz.testvm=probe",
		})
	}()
	if out := <-done; out != "(returned)" {
		t.Fatalf("Run returned after the script exited 3:\n%s", out)
	}
	for _, want := range []string{"GOVZ-VM-EXIT=3", "govz.testvm=probe", "Read-only file system", "pwd /mnt scratch tmpdir /mnt"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("failure report lacks %q:\n%s", want, r.msg)
		}
	}
	if strings.Contains(r.msg, "root-writable") {
		t.Errorf("the VM could write to the host's root:\n%s", r.msg)
	}
}

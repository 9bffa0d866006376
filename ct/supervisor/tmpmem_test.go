package supervisor

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTmpMem(t *testing.T) {
	c := newCT(t, "mem")
	st := c.mustStart(true)
	time.Sleep(2 * time.Second)
	t.Log(c.logs())
	t.Log(procStatus(t, st.SupervisorPID, "Threads"))
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", st.SupervisorPID))
	for _, tk := range tasks {
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", st.SupervisorPID, tk.Name()))
		t.Logf("task %s syscall %s", tk.Name(), strings.Fields(string(sc))[0])
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", st.SupervisorPID))
	t.Log(topMappings(string(b), 12))
	var out string
	var hdr string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") {
			hdr = l
		}
		if len(f) == 3 && f[0] == "Rss:" && f[1] != "0" {
			out += f[1] + " " + hdr + "\n"
		}
	}
	t.Log(out)
	Stop(c.spec.RunDir, time.Second, true)
}

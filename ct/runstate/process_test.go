package runstate

import (
	"os/exec"
	"testing"
	"time"
)

func TestProcessWait(t *testing.T) {
	c := exec.Command("sleep", "0.2")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := OpenProcess(c.Process.Pid)
	if err != nil {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("pidfd_open: %v", err)
	}
	defer p.Close()
	if p.Wait(10 * time.Millisecond) {
		t.Fatal("a sleeping process counted as exited")
	}
	// Reaped or not, an exited process polls readable: its parent (here
	// the test) reaps it as a supervisor's parent would.
	c.Wait()
	if !p.Wait(5 * time.Second) {
		t.Fatal("an exited process was not seen exiting")
	}
}

package linkwatch

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/net/nettest"
)

// newNS makes a network namespace of the test's own.
func newNS(t *testing.T) string {
	t.Helper()
	ns := "gvzw-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(os.Getpid()%1000)
	nettest.NewNS(t, ns)
	return ns
}

func ip(t *testing.T, ns string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ipBatch runs many ip commands at once.
func ipBatch(t *testing.T, ns string, cmds []string) {
	t.Helper()
	c := exec.Command("ip", "-n", ns, "-batch", "-")
	c.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
}

// link adds link name, a veth whose peer (name+"p") is up and govz's,
// so that name runs once it is up and the peer is never reported.
func link(t *testing.T, ns, name string) {
	t.Helper()
	ipBatch(t, ns, []string{"link add " + name + " type veth peer name " + name + "p",
		"link set " + name + "p alias govz:peer", "link set " + name + "p up"})
}

// waitRunning waits until link name is (or is not) running: carrier
// changes reach the link's state asynchronously (the kernel's linkwatch).
func waitRunning(t *testing.T, ns, name string, running bool) {
	t.Helper()
	for range 200 {
		out, _ := exec.Command("ip", "-n", ns, "-o", "link", "show", name).CombinedOutput()
		if strings.Contains(string(out), " state UP ") == running {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: running never became %v", name, running)
}

func open(t *testing.T, ns string) *Watcher {
	t.Helper()
	var w *Watcher
	var err error
	nettest.In(t, ns, func() { w, err = Open("govz:") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// run starts w.Run; the channel gets each reported name, then Run's
// result as "exit: ERR".
func run(w *Watcher) chan string {
	ch := make(chan string, 64)
	go func() {
		err := w.Run(func(dev string) { ch <- dev })
		ch <- fmt.Sprintf("exit: %v", err)
	}()
	return ch
}

func expect(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("reported %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing reported, want %q", want)
	}
}

func TestWatch(t *testing.T) {
	ns := newNS(t)
	link(t, ns, "d0") // down before the watch
	link(t, ns, "pre0")
	ip(t, ns, "link", "set", "pre0", "up")
	waitRunning(t, ns, "pre0", true)
	w := open(t, ns)
	ch := run(w)

	ip(t, ns, "link", "set", "d0", "up")
	expect(t, ch, "d0")
	// An administrative flap, what drops proxy entries.
	ip(t, ns, "link", "set", "pre0", "down")
	ip(t, ns, "link", "set", "pre0", "up")
	expect(t, ch, "pre0")
	// Loopback and govz's own links are not reported; a link that is up
	// without carrier is not running yet.
	ip(t, ns, "link", "set", "lo", "up")
	ip(t, ns, "link", "add", "g0", "type", "veth", "peer", "name", "g1")
	ip(t, ns, "link", "set", "g0", "alias", "govz:venet 1")
	ip(t, ns, "link", "set", "g1", "up")
	ip(t, ns, "link", "set", "g0", "up")
	expect(t, ch, "g1") // carrier came with g0
	// Carrier lost and back.
	ip(t, ns, "link", "set", "g0", "down")
	waitRunning(t, ns, "g1", false)
	ip(t, ns, "link", "set", "g0", "up")
	expect(t, ch, "g1")
	// Deleted and made again with the same name: a new link.
	ip(t, ns, "link", "del", "d0")
	link(t, ns, "d0")
	ip(t, ns, "link", "set", "d0", "up")
	expect(t, ch, "d0")
	// Nothing else came in between: the next report is this one.
	link(t, ns, "m0")
	ip(t, ns, "link", "set", "m0", "up")
	expect(t, ch, "m0")
	if len(w.down) != 0 {
		t.Errorf("links tracked as down: %v", w.down)
	}

	w.Close()
	expect(t, ch, "exit: <nil>")
}

// TestWatchOverrun: when the socket overflowed, Run says "every link"
// once and goes on watching.
func TestWatchOverrun(t *testing.T) {
	ns := newNS(t)
	link(t, ns, "d0")
	w := open(t, ns)
	// The smallest receive buffer the kernel allows; then far more
	// events than it holds before Run reads.
	if err := w.rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 0); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for i := range 30 {
		cmds = append(cmds, fmt.Sprintf("link add x%d type veth peer name y%d", i, i), fmt.Sprintf("link set x%d up", i))
	}
	ipBatch(t, ns, cmds)
	ch := run(w)
	expect(t, ch, "")
	if err := w.rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}); err != nil {
		t.Fatal(err)
	}
	ip(t, ns, "link", "set", "d0", "up")
	expect(t, ch, "d0")
}

// TestWatchMemory: what an idle watcher keeps does not grow with govz's
// links (the containers' host ends).
func TestWatchMemory(t *testing.T) {
	ns := newNS(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// Ten at a time, so that the runtime's own noise averages out.
	measure := func() int64 {
		before := heap()
		var ws []*Watcher
		for range 10 {
			ws = append(ws, open(t, ns))
		}
		d := (int64(heap()) - int64(before)) / 10
		for _, w := range ws {
			w.Close()
		}
		return d
	}
	empty := measure()
	var cmds []string
	for i := range 200 {
		cmds = append(cmds, fmt.Sprintf("link add h%d type veth peer name c%d", i, i),
			fmt.Sprintf("link set h%d alias \"govz:venet %d\"", i, i), fmt.Sprintf("link set h%d up", i),
			fmt.Sprintf("link set c%d up", i))
	}
	ipBatch(t, ns, cmds)
	full := measure()
	t.Logf("heap kept by an idle watcher: %d bytes in a namespace of 1 link, %d with 400 (200 govz pairs)", empty, full)
	if empty > 16<<10 || full > 16<<10 {
		t.Errorf("a watcher keeps %d and %d bytes of heap", empty, full)
	}
}

package tests

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Provisioning at scale (issue 14): addresses are node-unique values, so
// their check and the config write that takes them happen under the
// node-wide allocation lock.

// holders lists the containers among ids whose config names addr.
func (n *node) holders(ids []string, addr string) []string {
	n.t.Helper()
	var out []string
	for _, id := range ids {
		b, err := os.ReadFile(n.path("conf/" + id + ".toml"))
		if err != nil {
			n.t.Fatal(err)
		}
		if strings.Contains(string(b), `"`+addr+`"`) {
			out = append(out, id)
		}
	}
	return out
}

// TestIPAddRace: twenty stopped containers ask for one address at the same
// moment; exactly one gets it, the others exit 78 (ip address in use),
// and exactly one config holds it.
func TestIPAddRace(t *testing.T) {
	n := newNode(t)
	const racers = 20
	var ids []string
	for i := range racers {
		id := strconv.Itoa(301 + i)
		n.ok("vzctl", "create", id)
		ids = append(ids, id)
	}
	const addr = "10.66.0.5"
	results := make([]result, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			<-start
			results[i] = n.run("vzctl", "set", id, "--ipadd", addr, "--save")
		})
	}
	close(start)
	wg.Wait()
	var won, lost int
	for i, r := range results {
		switch r.code {
		case 0:
			won++
		case 78:
			lost++
			if !strings.Contains(r.err, addr) {
				t.Errorf("container %s: refusal does not name the address: %q", ids[i], r.err)
			}
		default:
			t.Errorf("container %s: %s", ids[i], r)
		}
	}
	h := n.holders(ids, addr)
	if won != 1 || lost != racers-1 || len(h) != 1 {
		t.Fatalf("%d won, %d refused with 78, configs holding %s: %v; want 1, %d, one", won, lost, addr, h, racers-1)
	}

	// Creates race the same way, and a loser leaves nothing behind.
	const addr2, creators = "10.66.0.6", 6
	results = make([]result, creators)
	start = make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			results[i] = n.run("vzctl", "create", strconv.Itoa(501+i), "--ipadd", addr2)
		})
	}
	close(start)
	wg.Wait()
	won = 0
	for i, r := range results {
		id := strconv.Itoa(501 + i)
		switch r.code {
		case 0:
			won++
		case 78:
			for _, p := range []string{"conf/" + id + ".toml", "private/" + id} {
				if _, err := os.Stat(n.path(p)); err == nil {
					t.Errorf("container %s lost the race but left %s", id, p)
				}
			}
		default:
			t.Errorf("create %s: %s", id, r)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates got %s, want 1", won, addr2)
	}
}

// assignedRe is the line create/set print for each pool address.
var assignedRe = regexp.MustCompile(`(?m)^Assigned (\S+) to CT (\d+)$`)

// assigned is the address the command's output says auto took for id.
func assigned(t *testing.T, r result, id string) string {
	t.Helper()
	m := assignedRe.FindAllStringSubmatch(r.out, -1)
	if len(m) != 1 || m[0][2] != id {
		t.Fatalf("want one 'Assigned ADDR to CT %s' line:\n%s", id, r)
	}
	return m[0][1]
}

// poolNode is a node with address pools.
func poolNode(t *testing.T, pools string) *node {
	n := newNode(t)
	n.writeFile("conf/vz.toml", n.baseVZConf()+"ip_pool = "+pools+"\n")
	return n
}

// TestIPPoolParallel: fifty creates at once with --ipadd auto get fifty
// distinct addresses of the pool, each the one the command printed and
// the config holds.
func TestIPPoolParallel(t *testing.T) {
	n := poolNode(t, `["10.66.0.0/24"]`)
	const count = 50
	results := make([]result, count)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = n.run("vzctl", "create", strconv.Itoa(401+i), "--ipadd", "auto") })
	}
	wg.Wait()
	seen := map[string]string{}
	for i, r := range results {
		id := strconv.Itoa(401 + i)
		if r.code != 0 {
			t.Fatalf("create %s: %s", id, r)
		}
		a := assigned(t, r, id)
		if other, dup := seen[a]; dup {
			t.Fatalf("containers %s and %s both got %s", other, id, a)
		}
		seen[a] = id
		if h := n.holders([]string{id}, a); len(h) != 1 {
			t.Fatalf("container %s: config does not hold its printed address %s", id, a)
		}
	}
	// The lowest ones: .1 to .50, none skipped.
	for i := 1; i <= count; i++ {
		if _, ok := seen["10.66.0."+strconv.Itoa(i)]; !ok {
			t.Fatalf("10.66.0.%d was not handed out: %v", i, seen)
		}
	}
}

// TestIPPoolLifecycle: set --ipadd auto[:POOL] takes the lowest free
// address, vzlist shows it, --ipdel gives it back; a full pool is a
// one-line 34 that leaves nothing behind, an unknown pool a 71, auto
// without --save a 20.
func TestIPPoolLifecycle(t *testing.T) {
	n := poolNode(t, `["10.66.0.1-10.66.0.2", "v6=fd00:66::/126"]`)
	a := assigned(t, n.ok("vzctl", "create", "101", "--ipadd", "auto", "--ipadd", "10.66.0.9"), "101")
	if a != "10.66.0.1" {
		t.Fatalf("first address %s", a)
	}
	n.ok("vzctl", "create", "102")
	if a := assigned(t, n.ok("vzctl", "set", "102", "--ipadd", "auto", "--save"), "102"); a != "10.66.0.2" {
		t.Fatalf("second address %s", a)
	}
	if a := assigned(t, n.ok("vzctl", "set", "102", "--ipadd", "auto:v6", "--save"), "102"); a != "fd00:66::1" {
		t.Fatalf("v6 pool address %s", a)
	}
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,ip"); strings.Join(strings.Fields(r.out), " ") != "101 10.66.0.9 10.66.0.1 102 10.66.0.2 fd00:66::1" {
		t.Fatalf("vzlist: %q", r.out)
	}
	r := n.fails(34, "vzctl", "create", "103", "--ipadd", "auto")
	if !strings.Contains(r.err, "10.66.0.1-10.66.0.2") {
		t.Errorf("full pool error does not name the pool: %q", r.err)
	}
	if _, err := os.Stat(n.path("conf/103.toml")); err == nil {
		t.Fatal("a create refused for a full pool left a config")
	}
	if _, err := os.Stat(n.path("private/103")); err == nil {
		t.Fatal("a create refused for a full pool left a private area")
	}
	n.fails(34, "vzctl", "set", "101", "--ipadd", "auto", "--save")
	n.fails(71, "vzctl", "set", "101", "--ipadd", "auto:nosuch", "--save")
	n.fails(71, "vzctl", "set", "101", "--ipadd", "auto:../x", "--save")
	n.fails(20, "vzctl", "set", "101", "--ipadd", "auto")
	// --ipdel gives the address back: the next auto takes it.
	n.ok("vzctl", "set", "101", "--ipdel", "10.66.0.1", "--save")
	if a := assigned(t, n.ok("vzctl", "set", "101", "--ipadd", "auto", "--save"), "101"); a != "10.66.0.1" {
		t.Fatalf("freed address not reused: %s", a)
	}
}

// TestIPPoolReachable: a pool address is a routed address like any: the
// LAN peer reaches the container at it.
func TestIPPoolReachable(t *testing.T) {
	w := newNetWorld(t, false)
	old, err := os.ReadFile(w.path("conf/vz.toml"))
	if err != nil {
		t.Fatal(err)
	}
	w.writeFile("conf/vz.toml", string(old)+`ip_pool = ["10.77.0.100-10.77.0.109"]`+"\n")
	a := assigned(t, w.ok("vzctl", "create", "101", "--ipadd", "auto"), "101")
	w.ok("vzctl", "start", "101")
	if !w.lanPings(a) {
		t.Fatalf("the LAN peer cannot ping the pool address %s", a)
	}
	w.ok("vzctl", "stop", "101")
}

// TestNetIfUnique: a bridged interface's host-side name and MACs are
// node-unique too: a second container asking for them is refused (130,
// vzctl's veth error) naming the holder, and its config keeps none.
func TestNetIfUnique(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "create", "102")
	n.ok("vzctl", "set", "101", "--netif_add", "eth0,02:00:00:00:01:01,vh101,02:00:00:00:01:02", "--save")
	for _, spec := range []string{
		"eth0,,vh101,",                  // host name
		"eth0,02:00:00:00:01:01,vh102,", // the other's guest MAC
		"eth0,,vh102,02:00:00:00:01:02", // the other's host MAC
		"eth0,,vh102,02:00:00:00:01:01", // a guest MAC as a host MAC
	} {
		r := n.fails(130, "vzctl", "set", "102", "--netif_add", spec, "--save")
		if !strings.Contains(r.err, "container 101") {
			t.Errorf("%s: refusal does not name the holder: %q", spec, r.err)
		}
	}
	if b, _ := os.ReadFile(n.path("conf/102.toml")); strings.Contains(string(b), "netif") {
		t.Fatalf("a refused interface was saved:\n%s", b)
	}
	n.ok("vzctl", "set", "102", "--netif_add", "eth0,,vh102,", "--save")
}

// TestIPAddRaceRunning: running containers take an address live before
// saving it; racing for one, exactly one has it, live and in its config.
func TestIPAddRaceRunning(t *testing.T) {
	w := newNetWorld(t, false)
	ids := []string{"101", "102", "103", "104"}
	for _, id := range ids {
		w.ok("vzctl", "create", id)
		w.ok("vzctl", "start", id)
	}
	const addr = "10.77.0.50"
	results := make([]result, len(ids))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			<-start
			results[i] = w.run("vzctl", "set", id, "--ipadd", addr, "--save")
		})
	}
	close(start)
	wg.Wait()
	won := 0
	var live []string
	for i, r := range results {
		switch r.code {
		case 0:
			won++
		case 78:
		default:
			t.Errorf("container %s: %s", ids[i], r)
		}
		if out := w.ok("vzctl", "exec2", ids[i], "ip", "-4", "addr"); strings.Contains(out.out, addr+"/") {
			live = append(live, ids[i])
		}
	}
	if h := w.holders(ids, addr); won != 1 || len(h) != 1 || len(live) != 1 || live[0] != h[0] {
		t.Fatalf("%d won; configs holding %s: %v; containers having it live: %v", won, addr, h, live)
	}
	if !w.lanPings(addr) {
		t.Fatalf("the LAN cannot reach the winner at %s", addr)
	}
	for _, id := range ids {
		w.ok("vzctl", "stop", id)
	}
}

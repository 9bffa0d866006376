package tests

import (
	"os"
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
}

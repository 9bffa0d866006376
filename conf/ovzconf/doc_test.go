package ovzconf

import (
	"fmt"
	"govz/conf"
	"os"
	"regexp"
	"strings"
	"testing"
)

const docPath = "../../docs/OPENVZ-IMPORT.md"

const (
	tableBegin = "<!-- mapping table: conf/ovzconf/mapping.go -->"
	tableEnd   = "<!-- end of mapping table -->"
)

// tableMarkdown renders Rules as the doc's table.
func tableMarkdown() string {
	var b strings.Builder
	b.WriteString("| vzctl key | govz key | how | note |\n|---|---|---|---|\n")
	for _, r := range Rules {
		g := "—"
		if r.Govz != "" {
			g = "`" + r.Govz + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.VZ, g, r.How, r.Note)
	}
	return b.String()
}

var rowRe = regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| (—|`[a-z0-9_]+`) \\| ([a-z ]+) \\| (.*) \\|$")

// TestDocTable: every key of the code's table is in the doc's table with
// the same govz key and treatment, and the doc names no other key.
// UPDATE_DOCS=1 rewrites the doc's table from the code.
func TestDocTable(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no table between %q and %q", docPath, tableBegin, tableEnd)
	}
	if os.Getenv("UPDATE_DOCS") == "1" {
		doc = doc[:i+len(tableBegin)] + "\n" + tableMarkdown() + doc[j:]
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	rows := map[string][3]string{}
	for _, l := range strings.Split(doc[i+len(tableBegin):j], "\n") {
		m := rowRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("doc: %s twice", m[1])
		}
		rows[m[1]] = [3]string{strings.Trim(m[2], "`"), m[3], m[4]}
	}
	for _, r := range Rules {
		row, ok := rows[r.VZ]
		if !ok {
			t.Errorf("doc: no row for %s", r.VZ)
			continue
		}
		g := r.Govz
		if g == "" {
			g = "—"
		}
		if row != [3]string{g, string(r.How), r.Note} {
			t.Errorf("doc row %s = %q, code says %q", r.VZ, row, [3]string{g, string(r.How), r.Note})
		}
		delete(rows, r.VZ)
	}
	for k := range rows {
		t.Errorf("doc names %s, which the code's table has not", k)
	}
}

// TestRulesComplete: every key vzctl 4.x reads (vzctl.md §2.2, §2.3) has a
// rule, and every govz key a rule names exists.
func TestRulesComplete(t *testing.T) {
	vzctl := strings.Fields(`VEID NAME DESCRIPTION ONBOOT BOOTORDER DISABLED OSTEMPLATE ORIGIN_SAMPLE
		CONFIGFILE STOP_TIMEOUT LOCAL_UID LOCAL_GID VE_ROOT VE_PRIVATE TEMPLATE MOUNT_OPTS VE_LAYOUT
		IP_ADDRESS HOSTNAME NAMESERVER SEARCHDOMAIN NETDEV NETIF VETH IPV6 KMEMSIZE LOCKEDPAGES
		PRIVVMPAGES SHMPAGES NUMPROC PHYSPAGES VMGUARPAGES OOMGUARPAGES NUMTCPSOCK NUMFLOCK NUMPTY
		NUMSIGINFO TCPSNDBUF TCPRCVBUF OTHERSOCKBUF DGRAMRCVBUF NUMOTHERSOCK NUMFILE DCACHESIZE DCACHE
		NUMIPTENT IPTENTRIES AVNUMPROC SWAPPAGES VM_OVERCOMMIT MEMINFO CPUUNITS CPUWEIGHT CPULIMIT CPUS
		CPUMASK NODEMASK IOPRIO IOLIMIT IOPSLIMIT DISK_QUOTA DISKSPACE DISKINODES QUOTATIME
		QUOTAUGIDLIMIT CAPABILITY NETFILTER IPTABLES DEVICES DEVNODES PCI FEATURES LOCKDIR DUMPDIR
		LOGGING LOG_LEVEL LOGFILE VERBOSE VIRTUOZZO VE0CPUUNITS VE_STOP_MODE VE_PARALLEL
		MODULES_DISABLED IPTABLES_MODULES VZFASTBOOT DEF_OSTEMPLATE NEIGHBOUR_DEVS ERROR_ON_ARPFAIL
		SKIP_ARPDETECT FORCE_ROUTE VE_ROUTE_SRC_DEV VZWDOG SKIP_SYSCTL_SETUP`)
	for _, k := range vzctl {
		if _, ok := RuleFor(k); !ok {
			t.Errorf("no rule for vzctl key %s", k)
		}
	}
	if len(Rules) != len(vzctl) {
		t.Errorf("%d rules for %d vzctl keys", len(Rules), len(vzctl))
	}
	for _, r := range Rules {
		if r.Govz == "" {
			if r.How != Dropped && r.How != Node && r.How != Importer {
				t.Errorf("%s: %s without a govz key", r.VZ, r.How)
			}
			continue
		}
		if _, ok := confKey(r.Govz); !ok {
			t.Errorf("%s: govz key %s does not exist", r.VZ, r.Govz)
		}
	}
}

func confKey(k string) (string, bool) {
	key, ok := conf.KeyByName(k)
	return key.Name, ok
}

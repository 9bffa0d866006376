package fw

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// iptables is one family's binaries: `iptables -S` reads a whole table
// in one exec and `iptables-restore --noflush` applies a batch of
// commands as one transaction (one commit of the table for the legacy
// backend, one netlink batch for nf_tables), so a container's rules cost
// two execs per family whatever their number. Both wait up to 10 s for
// the xtables lock another iptables user holds (legacy backend; nf_tables
// accepts and ignores the option).
type iptables struct {
	list, restore string // paths
}

func newIPTables(list, restore string) (*iptables, error) {
	l, err := lookBin(list)
	if err != nil {
		return nil, err
	}
	r, err := lookBin(restore)
	if err != nil {
		return nil, err
	}
	return &iptables{list: l, restore: r}, nil
}

// lookBin finds name in PATH and, for a caller started with a bare
// environment, in the sbin directories.
func lookBin(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if st, serr := os.Stat(dir + "/" + name); serr == nil && !st.IsDir() {
			return dir + "/" + name, nil
		}
	}
	return "", fmt.Errorf("finding %s (package iptables): %w", name, err)
}

func (t *iptables) List(table string, counters bool) (string, error) {
	args := []string{"--wait", "10", "-t", table, "-S"}
	if counters {
		args = append(args, "-v")
	}
	cmd := exec.Command(t.list, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", t.list, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// failedLine is how iptables-restore (both backends) names the command
// that failed: "iptables-restore: line 3 failed".
var failedLine = regexp.MustCompile(`line (\d+) failed`)

func (t *iptables) Restore(script string) error {
	cmd := exec.Command(t.restore, "--noflush", "--wait", "10")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		// The message has only the line number; the line says what failed.
		if m := failedLine.FindStringSubmatch(msg); m != nil {
			lines := strings.Split(script, "\n")
			if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(lines) {
				msg += " (" + lines[n-1] + ")"
			}
		}
		return fmt.Errorf("%s --noflush: %w: %s", t.restore, err, msg)
	}
	return nil
}

// script renders commands (argument lists such as "-A", "CHAIN", ...) as
// iptables-restore input for table.
func script(table string, cmds [][]string) (string, error) {
	var b strings.Builder
	b.WriteString("*" + table + "\n")
	for _, c := range cmds {
		for i, a := range c {
			q, err := quote(a)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(q)
		}
		b.WriteByte('\n')
	}
	b.WriteString("COMMIT\n")
	return b.String(), nil
}

// quote writes one argument for iptables-restore, which splits a line at
// blanks except inside double quotes (xshared.c add_param_to_argv). Our
// arguments are chain, interface and comment words and addresses; one
// with a quote, a backslash or a control character (an interface name
// may hold quotes) is refused rather than escaped, so no value can end a
// line early or smuggle a command into the batch.
func quote(a string) (string, error) {
	if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' || r == '\\' || r == '\'' }) {
		return "", fmt.Errorf("argument %q cannot be written to iptables-restore", a)
	}
	if strings.Contains(a, " ") {
		return `"` + a + `"`, nil
	}
	return a, nil
}

// fields splits a line of `iptables -S` output (or of iptables-restore
// input) into arguments: blanks separate them, double quotes group, and
// inside quotes a backslash escapes the next character (xtables'
// save_string escapes ", \ and ' so).
func fields(line string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inArg   bool
		quoted  bool
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
			inArg = true
		case !quoted && (r == ' ' || r == '\t'):
			if inArg {
				out = append(out, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quoted || escaped {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inArg {
		out = append(out, cur.String())
	}
	return out, nil
}

// listing is one table as `iptables -S` lists it.
type listing struct {
	chains map[string]bool // chains created with -N
	rules  [][]string      // each "-A" line's arguments after the -A: chain, spec...
	lines  []string        // each rule's line as listed, for counters
}

func parseListing(out string) (listing, error) {
	l := listing{chains: map[string]bool{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f, err := fields(line)
		if err != nil {
			return listing{}, fmt.Errorf("parsing the iptables listing: %w", err)
		}
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "-N":
			l.chains[f[1]] = true
		case "-A":
			l.rules = append(l.rules, f[1:])
			l.lines = append(l.lines, line)
		}
	}
	return l, nil
}

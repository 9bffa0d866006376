package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The generated bash completion, sourced in a real bash and driven the way
// readline drives it (COMP_WORDS, COMP_CWORD, the function), completes a
// command, an option, the CTIDs and names of the containers of a relocated
// VZ_ROOT, its templates and samples.
func TestBashCompletion(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--name", "web")
	n.writeFile("conf/samples/mine.toml", "numproc = \"100\"\n")
	script := filepath.Join(t.TempDir(), "vzctl.bash")
	if err := os.WriteFile(script, []byte(n.ok("vzctl", "__doc", "bash").out), 0o644); err != nil {
		t.Fatal(err)
	}
	vzctl := filepath.Join(binDir, "vzctl")
	complete := func(words ...string) []string {
		t.Helper()
		// COMP_WORDS[0] is the binary the completion asks for CTIDs.
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _vzctl; printf '%s\n' "${COMPREPLY[@]}"`
		c := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", prog, "bash", script, vzctl}, words...)...)
		c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"cre"}, "create"},
		{[]string{"--quiet", "sto"}, "stop"},
		{[]string{"set", "101", "--hostn"}, "--hostname"},
		{[]string{"start", ""}, "101 web"},
		{[]string{"exec2", "w"}, "web"},
		{[]string{"create", "102", "--ostemplate", "busy"}, "busybox-" + arch()},
		{[]string{"create", "102", "--config", "m"}, "mine"},
		{[]string{"set", "101", "--applyconfig", "vswap-2"}, "vswap-256m vswap-2g"},
	} {
		if got := strings.Join(complete(tc.words...), " "); got != tc.want {
			t.Errorf("vzctl %s<Tab>: got %q, want %q", strings.Join(tc.words, " "), got, tc.want)
		}
	}
	// A CTID is only the first argument: after it come options.
	if got := complete("start", "101", ""); len(got) == 0 || !strings.HasPrefix(got[0], "--") {
		t.Errorf("vzctl start 101 <Tab>: got %q, want options", got)
	}
}

// The generated zsh completion, run by zsh with the completion system's
// builtins stubbed to print what they are given (compsys itself filters
// by prefix), offers the commands, a command's options, the containers of
// a relocated VZ_ROOT and its templates.
func TestZshCompletion(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--name", "web")
	script := filepath.Join(t.TempDir(), "_vzctl")
	if err := os.WriteFile(script, []byte(n.ok("vzctl", "__doc", "zsh").out), 0o644); err != nil {
		t.Fatal(err)
	}
	vzctl := filepath.Join(binDir, "vzctl")
	complete := func(words ...string) map[string]bool {
		t.Helper()
		prog := `compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
_describe() { local -a a; a=("${(@P)2}"); print -l -- "${a[@]%%:*}"; }
_default() { :; }
script=$1; shift; words=("$@"); CURRENT=$#words
source "$script"`
		c := exec.Command("zsh", append([]string{"-f", "-c", prog, "zsh", script, vzctl}, words...)...)
		c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		got := map[string]bool{}
		for _, w := range strings.Fields(string(out)) {
			got[w] = true
		}
		return got
	}
	for _, tc := range []struct {
		words []string
		want  []string
		not   string
	}{
		{[]string{""}, []string{"create", "set", "exec2"}, "--hostname"},
		{[]string{"set", "101", "--"}, []string{"--hostname", "--save", "--ram"}, "create"},
		{[]string{"start", ""}, []string{"101", "web"}, "--wait"},
		{[]string{"create", "102", "--ostemplate", ""}, []string{"busybox-" + arch()}, "101"},
	} {
		got := complete(tc.words...)
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("vzctl %s<Tab>: %s not offered (got %v)", strings.Join(tc.words, " "), w, got)
			}
		}
		if got[tc.not] {
			t.Errorf("vzctl %s<Tab>: %s offered", strings.Join(tc.words, " "), tc.not)
		}
	}
}

// vzmigrate's generated bash completion offers its options and, for the
// positional words, the node's containers.
func TestVzmigrateCompletion(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--name", "web")
	script := filepath.Join(t.TempDir(), "vzmigrate.bash")
	if err := os.WriteFile(script, []byte(n.ok("vzmigrate", "__doc", "bash").out), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"--ke"}, "--keep-dst"},
		{[]string{"-r", "no", "--j"}, "--json"},
		{[]string{"root@node2", ""}, "101 web"},
	} {
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _vzmigrate; printf '%s\n' "${COMPREPLY[@]}"`
		c := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", prog, "bash", script, filepath.Join(binDir, "vzmigrate")}, tc.words...)...)
		c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", tc.words, err, out)
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != tc.want {
			t.Errorf("vzmigrate %s<Tab>: got %q, want %q", strings.Join(tc.words, " "), got, tc.want)
		}
	}
}

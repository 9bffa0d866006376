// Package ovzconf reads and writes OpenVZ's shell-variable configuration
// files (vzctl 4.x's /etc/vz/vz.conf and /etc/vz/conf/CTID.conf) and maps
// their keys onto govz's TOML keys (mapping.go), for the importer and the
// exporter (ct/ovzimport).
//
// The syntax is vzctl's own reader (parse_line in src/lib/util.c), not a
// shell's: one KEY=VALUE per line; blank lines and lines whose first
// non-blank character is # are skipped; a word starting with # outside
// quotes starts a comment; a backslash drops itself and keeps the next
// character; trailing blanks go, then one closing quote (" or '), and one
// opening quote right after the =. Nothing else of the shell is done: no
// variable expansion ($VEID in VE_ROOT and VE_PRIVATE is vzctl's own
// substitution, see Expand), no line continuation (a line read by fgets
// ends at the newline: a trailing backslash only disappears), no command
// substitution. A line without = is skipped by vzctl; here it is kept as a
// warning, as is a repeated key (the last one wins, as in vzctl).
package ovzconf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Var is one assignment of a file.
type Var struct {
	Key, Value string
	Line       int
}

// File is a parsed config file: its assignments in order and what was
// wrong with the lines it skipped.
type File struct {
	Name     string
	Vars     []Var
	Warnings []string
}

// maxLine bounds a line: vzctl reads with fgets into a fixed buffer,
// which splits a longer line and makes its rest a line of its own. Such
// a file is broken for vzctl too, so the line is skipped with a warning
// rather than guessed at.
const maxLine = 16384

// Parse reads config text; name is used in warnings. It never fails: like
// vzctl, it skips what it cannot read, and says so in File.Warnings.
func Parse(name string, data []byte) *File {
	f := &File{Name: name}
	seen := map[string]int{}
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		if len(raw)+1 > maxLine {
			f.warnf(line, "line longer than %d bytes skipped (vzctl splits it)", maxLine-1)
			continue
		}
		if strings.HasSuffix(strings.TrimRight(raw, " \t\r"), `\`) && !strings.HasSuffix(strings.TrimRight(raw, " \t\r"), `\\`) {
			f.warnf(line, "line continuation is not vzctl syntax: the backslash is dropped and the next line read on its own")
		}
		s := uncomment(unescape(raw))
		s = strings.TrimLeftFunc(s, isSpace)
		if s == "" || s[0] == '#' {
			continue
		}
		s = strings.TrimRightFunc(s, isSpace)
		if strings.HasSuffix(s, `"`) || strings.HasSuffix(s, `'`) {
			s = s[:len(s)-1]
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			f.warnf(line, "no '=' in %q: line skipped", s)
			continue
		}
		key, val := s[:eq], s[eq+1:]
		if strings.HasPrefix(val, `"`) || strings.HasPrefix(val, `'`) {
			val = val[1:]
		}
		if !validKey(key) {
			f.warnf(line, "bad variable name %q: line skipped", key)
			continue
		}
		if prev, ok := seen[key]; ok {
			f.warnf(line, "%s set again (first on line %d): the last one wins", key, prev)
		}
		seen[key] = line
		f.Vars = append(f.Vars, Var{Key: key, Value: val, Line: line})
	}
	return f
}

func (f *File) warnf(line int, format string, a ...any) {
	f.Warnings = append(f.Warnings, fmt.Sprintf("%s:%d: ", f.Name, line)+fmt.Sprintf(format, a...))
}

func isSpace(r rune) bool { return r < 0x80 && unicode.IsSpace(r) }

// validKey accepts a shell variable name: the file is also sourced by
// shell scripts (action scripts, vznetaddbr), where anything else is a
// command, not an assignment.
func validKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range []byte(k) {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// unescape is vzctl's unescapestr: a backslash is dropped and the
// character after it kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	esc := false
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && !esc {
			esc = true
			continue
		}
		b.WriteByte(s[i])
		esc = false
	}
	return b.String()
}

// uncomment is vzctl's uncommentstr (after bash(1): "a word beginning with
// # causes that word and all remaining characters on that line to be
// ignored"), quotes of either kind protecting a #.
func uncomment(s string) string {
	inSingle, inDouble, atWord := false, false, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inSingle && c != '\'' || inDouble && c != '"' {
			continue
		}
		switch c {
		case '\'':
			inSingle = !inSingle
			atWord = false
		case '"':
			inDouble = !inDouble
			atWord = false
		case '#':
			if atWord {
				return s[:i]
			}
		default:
			atWord = c < 0x80 && unicode.IsSpace(rune(c))
		}
	}
	return s
}

// Get returns the value of key, the last assignment winning.
func (f *File) Get(key string) (string, bool) {
	for i := len(f.Vars) - 1; i >= 0; i-- {
		if f.Vars[i].Key == key {
			return f.Vars[i].Value, true
		}
	}
	return "", false
}

// Line returns the line of key's last assignment, 0 when unset.
func (f *File) Line(key string) int {
	for i := len(f.Vars) - 1; i >= 0; i-- {
		if f.Vars[i].Key == key {
			return f.Vars[i].Line
		}
	}
	return 0
}

// Keys lists the keys set, each once, in the order of first assignment.
func (f *File) Keys() []string {
	var out []string
	for _, v := range f.Vars {
		if !slices.Contains(out, v.Key) {
			out = append(out, v.Key)
		}
	}
	return out
}

// Expand is vzctl's subst_VEID: $VEID and ${VEID} in a path become the
// CTID. Other variables are left as they are.
func Expand(s string, id int) string {
	s = strings.ReplaceAll(s, "${VEID}", strconv.Itoa(id))
	return strings.ReplaceAll(s, "$VEID", strconv.Itoa(id))
}

// Format renders assignments the way vzctl writes them (KEY="VALUE", one
// a line), quoting what its reader and a shell would otherwise take
// apart: a backslash, a double quote, and a $ that is not $VEID (which
// both vzctl and the action scripts expand on purpose). Parse reads the
// result back to the same values.
func Format(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(v.Key)
		b.WriteString(`="`)
		b.WriteString(quote(v.Value))
		b.WriteString("\"\n")
	}
	return b.String()
}

func quote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"' || c == '`':
			b.WriteByte('\\')
		case c == '$' && !strings.HasPrefix(s[i:], "$VEID") && !strings.HasPrefix(s[i:], "${VEID}"):
			b.WriteByte('\\')
		case c == '\n':
			// A value never holds a line break in vzctl's files; one
			// would end the assignment.
			b.WriteString(" ")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

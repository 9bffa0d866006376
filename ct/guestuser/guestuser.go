// Package guestuser edits a guest's user database (/etc/passwd,
// /etc/shadow, /etc/group) as text, for `vzctl set --userpasswd`: the
// host hashes the password and rewrites the files itself instead of
// running the guest's chpasswd or useradd, which as host root would be a
// guest-chosen binary run with the host's privileges. It only computes;
// ct reads and writes the files through internal/inroot.
package guestuser

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadUser: a user name this package will not write into the files.
var ErrBadUser = errors.New("bad user name")

// ErrBadFile: a guest file that cannot be edited safely.
var ErrBadFile = errors.New("unusable user database")

// Files are the guest's user database; Group may be nil.
type Files struct {
	Passwd, Shadow, Group []byte
}

// First and last IDs a new user may get: the range useradd's login.defs
// defaults give regular users.
const (
	firstID = 1000
	lastID  = 60000
)

// ValidName accepts the portable user names shadow-utils accepts
// ([a-z_][a-z0-9_.-]*, 32 characters at most, also upper case): nothing
// that is a field or line separator in the files, or a path.
func ValidName(name string) error {
	if name == "" || len(name) > 32 {
		return fmt.Errorf("user name %q: want 1..32 characters: %w", name, ErrBadUser)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
			i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-')
		if !ok {
			return fmt.Errorf("user name %q: want letters, digits, '_', '.', '-', not starting with a digit, '.' or '-': %w", name, ErrBadUser)
		}
	}
	return nil
}

// SetHash gives user the password hash: its shadow entry's password and
// last-change fields are replaced (today is days since the epoch). A user
// missing from passwd is created (vzctl 4.x did `useradd -m`): the lowest
// ID free in passwd and group from 1000 for both, a group of its own,
// home /home/USER, the shell given. created says so.
func SetHash(f Files, user, hash string, today int, shell string) (out Files, created bool, err error) {
	if err := ValidName(user); err != nil {
		return Files{}, false, err
	}
	if strings.ContainsAny(hash, ":\n\x00") {
		return Files{}, false, fmt.Errorf("password hash holds a separator: %w", ErrBadFile)
	}
	for name, b := range map[string][]byte{"passwd": f.Passwd, "shadow": f.Shadow, "group": f.Group} {
		if bytes.IndexByte(b, 0) >= 0 {
			return Files{}, false, fmt.Errorf("/etc/%s holds a NUL byte: %w", name, ErrBadFile)
		}
	}
	out = f
	if !hasEntry(f.Passwd, user) {
		uid, err := freeID(f.Passwd, f.Group)
		if err != nil {
			return Files{}, false, err
		}
		id := strconv.Itoa(uid)
		out.Passwd = appendLine(f.Passwd, user+":x:"+id+":"+id+"::/home/"+user+":"+shell)
		if !hasEntry(f.Group, user) {
			out.Group = appendLine(f.Group, user+":x:"+id+":")
		}
		created = true
	}
	days := strconv.Itoa(today)
	lines := splitLines(f.Shadow)
	found := false
	for i, l := range lines {
		fields := strings.Split(l, ":")
		if fields[0] != user {
			continue
		}
		if len(fields) < 3 {
			fields = append(fields, make([]string, 3-len(fields))...)
		}
		fields[1], fields[2] = hash, days
		lines[i] = strings.Join(fields, ":")
		found = true
	}
	if found {
		out.Shadow = joinLines(lines)
	} else {
		out.Shadow = appendLine(f.Shadow, user+":"+hash+":"+days+":0:99999:7:::")
	}
	return out, created, nil
}

// hasEntry reports whether a colon-separated file has a line for name.
func hasEntry(b []byte, name string) bool {
	for _, l := range splitLines(b) {
		if n, _, _ := strings.Cut(l, ":"); n == name {
			return true
		}
	}
	return false
}

// freeID is the lowest ID from firstID that is neither a UID in passwd
// nor a GID in passwd or group.
func freeID(passwd, group []byte) (int, error) {
	used := map[int]bool{}
	mark := func(b []byte, cols ...int) {
		for _, l := range splitLines(b) {
			fields := strings.Split(l, ":")
			for _, c := range cols {
				if c < len(fields) {
					if v, err := strconv.Atoi(fields[c]); err == nil {
						used[v] = true
					}
				}
			}
		}
	}
	mark(passwd, 2, 3)
	mark(group, 2)
	for id := firstID; id <= lastID; id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free user ID in %d..%d: %w", firstID, lastID, ErrBadFile)
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func joinLines(lines []string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

func appendLine(b []byte, line string) []byte {
	return joinLines(append(splitLines(b), line))
}

package ct

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"govz/conf"
	"govz/ct/guestuser"
	"govz/ct/vzerror"
	"govz/internal/inroot"
	"govz/internal/shacrypt"
)

// UserPasswd is one --userpasswd USER:PASSWORD. The password is never
// logged, saved, nor put in an error message.
type UserPasswd struct {
	User     string
	Password string
}

// ParseUserPasswd splits USER:PASSWORD at the first colon (the password
// may hold colons: only its hash reaches the files).
func ParseUserPasswd(s string) (UserPasswd, error) {
	user, pw, ok := strings.Cut(s, ":")
	if !ok {
		return UserPasswd{}, fmt.Errorf("--userpasswd wants USER:PASSWORD (no colon given): %w", vzerror.ErrSyntax)
	}
	if err := guestuser.ValidName(user); err != nil {
		return UserPasswd{}, fmt.Errorf("--userpasswd: %w: %w", err, vzerror.ErrInvalidValue)
	}
	if pw == "" {
		return UserPasswd{}, fmt.Errorf("--userpasswd %s: empty password: %w", user, vzerror.ErrInvalidValue)
	}
	if strings.ContainsAny(pw, "\n\r\x00") {
		// Not a password anyone can type at a login prompt.
		return UserPasswd{}, fmt.Errorf("--userpasswd %s: the password holds a line break or NUL: %w", user, vzerror.ErrInvalidValue)
	}
	return UserPasswd{User: user, Password: pw}, nil
}

// maxUserDB caps what is read of a guest's passwd, shadow, group and
// login.defs (the guest chooses their size).
const maxUserDB = 8 << 20

// setPasswords applies --userpasswd to container id, running or not: the
// guest's files are edited from the host through internal/inroot (no
// symlink out of the root, no FIFO or device opened, atomic replace that
// keeps mode and owner), never by running the guest's chpasswd as host
// root. A stopped container is mounted for the edit.
func (n *Node) setPasswords(id int, eff *conf.Config, list []UserPasswd) error {
	if len(list) == 0 {
		return nil
	}
	return n.withGuestRoot(id, eff, "--userpasswd", func(r *inroot.Root) error {
		return n.setPasswordsIn(r, id, list)
	})
}

func (n *Node) setPasswordsIn(r *inroot.Root, id int, list []UserPasswd) error {
	if m := encryptMethod(r); m != "" && m != "SHA512" {
		// yescrypt (Debian 12's default) and the others are newer or
		// weaker schemes; every crypt(3) a guest has verifies "$6$".
		n.Log.Debugf(1, "container %d: ENCRYPT_METHOD %s; writing SHA-512 crypt", id, m)
	}
	for _, up := range list {
		if err := setPassword(r, up, int(time.Now().Unix()/86400)); err != nil {
			return fmt.Errorf("container %d: --userpasswd %s: %w", id, up.User, err)
		}
		n.Log.Infof("Changed password for user %s in CT %d", up.User, id)
	}
	return nil
}

func setPassword(r *inroot.Root, up UserPasswd, today int) error {
	var f guestuser.Files
	for _, x := range []struct {
		p   string
		dst *[]byte
	}{{"/etc/passwd", &f.Passwd}, {"/etc/shadow", &f.Shadow}, {"/etc/group", &f.Group}} {
		b, err := r.ReadFile(x.p, maxUserDB)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
		}
		*x.dst = b
	}
	if f.Passwd == nil {
		return fmt.Errorf("the guest has no /etc/passwd: %w", vzerror.ErrPermission)
	}
	hash, err := shacrypt.Hash([]byte(up.Password))
	if err != nil {
		return fmt.Errorf("hashing: %w: %w", err, vzerror.ErrSystem)
	}
	shell := "/bin/sh"
	if r.Exists("/bin/bash") {
		shell = "/bin/bash"
	}
	out, _, err := guestuser.SetHash(f, up.User, hash, today, shell)
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
	}
	// New entries first, the password last: an interrupted call leaves
	// a user without a password, never a password without a user.
	for _, x := range []struct {
		p        string
		old, new []byte
		perm     os.FileMode
	}{
		{"/etc/group", f.Group, out.Group, 0o644},
		{"/etc/passwd", f.Passwd, out.Passwd, 0o644},
		{"/etc/shadow", f.Shadow, out.Shadow, 0o600},
	} {
		if x.new == nil || bytes.Equal(x.old, x.new) {
			continue
		}
		if err := r.WriteFile(x.p, x.new, x.perm); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
		}
	}
	return nil
}

// encryptMethod is ENCRYPT_METHOD of the guest's /etc/login.defs, "" when
// it has none.
func encryptMethod(r *inroot.Root) string {
	b, err := r.ReadFile("/etc/login.defs", maxUserDB)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "ENCRYPT_METHOD" {
			return strings.ToUpper(f[1])
		}
	}
	return ""
}

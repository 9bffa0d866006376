// Package authkeys checks OpenSSH public keys and adds them to the text of
// an authorized_keys file (sshd(8), AUTHORIZED_KEYS FILE FORMAT), for
// `vzctl set --ssh-key`. It only computes; ct reads and writes the guest's
// file through internal/inroot.
//
// Only plain "TYPE BASE64 [COMMENT]" lines are taken: options such as
// command="..." or from="..." change what a key may do, and a line break
// in the input would smuggle in a second line of the admin's choosing
// (with options), so both are refused rather than passed to the guest.
package authkeys

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadKey is wrapped by every refusal of a key.
var ErrBadKey = errors.New("bad SSH public key")

// types are the public key algorithms OpenSSH accepts in authorized_keys
// (ssh-keygen -t; sk- are FIDO keys). Certificates are not user keys.
var types = []string{
	"ssh-ed25519", "ssh-rsa", "ssh-dss",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// maxBlob bounds a key's base64 (an RSA-16384 key is about 2.8K).
const maxBlob = 16 << 10

// Key is one public key: its type, its base64 blob and a comment.
type Key struct {
	Type, Blob, Comment string
}

// String is the key's authorized_keys line, without the line break.
func (k Key) String() string {
	if k.Comment == "" {
		return k.Type + " " + k.Blob
	}
	return k.Type + " " + k.Blob + " " + k.Comment
}

// Parse checks one public key line, "TYPE BASE64 [COMMENT]": a known
// type, a blob that decodes and names that same type inside (RFC 4253
// 6.6: string type first), a comment of printable characters.
func Parse(line string) (Key, error) {
	if i := strings.IndexAny(line, "\n\r\x00"); i >= 0 {
		return Key{}, fmt.Errorf("%q holds a line break or NUL: %w", short(line), ErrBadKey)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return Key{}, fmt.Errorf("%q: want TYPE BASE64 [COMMENT]: %w", short(line), ErrBadKey)
	}
	if !slices.Contains(types, f[0]) {
		return Key{}, fmt.Errorf("%q: unknown key type %q (key options are not accepted): %w", short(line), short(f[0]), ErrBadKey)
	}
	if len(f[1]) > maxBlob {
		return Key{}, fmt.Errorf("%s key of %d characters: too long: %w", f[0], len(f[1]), ErrBadKey)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return Key{}, fmt.Errorf("%s key %q: not base64: %w", f[0], short(f[1]), ErrBadKey)
	}
	if len(blob) < 4 || uint64(binary.BigEndian.Uint32(blob)) > uint64(len(blob)-4) ||
		string(blob[4:4+binary.BigEndian.Uint32(blob)]) != f[0] {
		return Key{}, fmt.Errorf("%s key %q: its data is not a %s key: %w", f[0], short(f[1]), f[0], ErrBadKey)
	}
	comment := strings.Join(f[2:], " ")
	for _, c := range comment {
		if c < 0x20 || c == 0x7f {
			return Key{}, fmt.Errorf("%s key comment %q holds a control character: %w", f[0], short(comment), ErrBadKey)
		}
	}
	return Key{Type: f[0], Blob: f[1], Comment: comment}, nil
}

// ParseList checks a file of public keys (an id_*.pub, an
// authorized_keys without options): every line not blank and not a #
// comment must be a key; there must be one at least. source names the
// file in errors.
func ParseList(data []byte, source string) ([]Key, error) {
	var keys []Key
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, err := Parse(l)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", source, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no public key: %w", source, ErrBadKey)
	}
	return keys, nil
}

// Add returns file with the keys it lacks appended, one line each, and
// how many were added. A key is there already when some line holds its
// type and blob, whatever that line's options or comment say.
func Add(file []byte, keys []Key) ([]byte, int) {
	have := map[string]bool{}
	for _, l := range strings.Split(string(file), "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			have[f[i]+" "+f[i+1]] = true
		}
	}
	out := bytes.Clone(file)
	added := 0
	for _, k := range keys {
		if have[k.Type+" "+k.Blob] {
			continue
		}
		have[k.Type+" "+k.Blob] = true
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, k.String()+"\n"...)
		added++
	}
	return out, added
}

// short keeps error messages to one readable line.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

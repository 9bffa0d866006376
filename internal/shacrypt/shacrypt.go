// Package shacrypt is SHA-512 crypt ("$6$"), the password hash glibc,
// libxcrypt, musl and busybox all verify, written per Ulrich Drepper's
// specification "Unix crypt using SHA-256 and SHA-512"
// (https://www.akkadia.org/drepper/SHA-crypt.txt). golang.org/x/crypto has
// no crypt(3) schemes; govz hashes on the host so that no guest binary
// runs as host root to set a password.
package shacrypt

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"strconv"
	"strings"
)

const (
	// DefaultRounds is the spec's default, written without a rounds= field.
	DefaultRounds = 5000
	minRounds     = 1000
	maxRounds     = 999999999
	maxSalt       = 16
	itoa64        = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrSalt: a salt spec that is not "$6$[rounds=N$]SALT".
var ErrSalt = errors.New("bad sha512-crypt salt")

// NewSalt is a random 16-character salt.
func NewSalt() (string, error) {
	b := make([]byte, maxSalt)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = itoa64[int(b[i])%len(itoa64)]
	}
	return string(b), nil
}

// Hash hashes key with a fresh salt and the default rounds.
func Hash(key []byte) (string, error) {
	salt, err := NewSalt()
	if err != nil {
		return "", err
	}
	return Crypt(key, "$6$"+salt)
}

// Crypt is crypt(3) for a "$6$[rounds=N$]SALT[$...]" setting: salts
// longer than 16 characters are cut, rounds clamped to the spec's bounds.
func Crypt(key []byte, setting string) (string, error) {
	rest, ok := strings.CutPrefix(setting, "$6$")
	if !ok {
		return "", ErrSalt
	}
	rounds, custom := DefaultRounds, false
	if r, after, ok := strings.Cut(rest, "$"); ok && strings.HasPrefix(r, "rounds=") {
		n, err := strconv.ParseUint(strings.TrimPrefix(r, "rounds="), 10, 64)
		if err != nil {
			return "", ErrSalt
		}
		rounds, custom, rest = int(min(max(n, minRounds), maxRounds)), true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > maxSalt {
		salt = salt[:maxSalt]
	}
	if strings.ContainsAny(salt, ":\n\x00") {
		return "", ErrSalt
	}
	sum := digest(key, []byte(salt), rounds)
	var out strings.Builder
	out.WriteString("$6$")
	if custom {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt + "$")
	encode(&out, sum)
	return out.String(), nil
}

func digest(key, salt []byte, rounds int) []byte {
	// Digest B: key, salt, key.
	h := sha512.New()
	h.Write(key)
	h.Write(salt)
	h.Write(key)
	b := h.Sum(nil)

	// Digest A.
	h.Reset()
	h.Write(key)
	h.Write(salt)
	n := len(key)
	for ; n > 64; n -= 64 {
		h.Write(b)
	}
	h.Write(b[:n])
	for n = len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(key)
		}
	}
	a := h.Sum(nil)

	// Byte sequence P: from the key repeated len(key) times.
	h.Reset()
	for range len(key) {
		h.Write(key)
	}
	p := repeatTo(h.Sum(nil), len(key))

	// Byte sequence S: from the salt repeated 16+A[0] times.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

// order is the spec's byte permutation for the final encoding.
var order = [...][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48},
	{28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13},
	{56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41},
}

func encode(out *strings.Builder, c []byte) {
	put := func(w uint32, n int) {
		for range n {
			out.WriteByte(itoa64[w&0x3f])
			w >>= 6
		}
	}
	for _, o := range order {
		put(uint32(c[o[0]])<<16|uint32(c[o[1]])<<8|uint32(c[o[2]]), 4)
	}
	put(uint32(c[63]), 2)
}

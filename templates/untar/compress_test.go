package untar

import (
	"testing"
)

func TestDetect(t *testing.T) {
	ustar := make([]byte, 512)
	copy(ustar[257:], "ustar\x0000")
	for _, tc := range []struct {
		name string
		head []byte
		want Compression
	}{
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0, 0}, Gzip},
		{"bzip2", []byte("BZh91AY"), Bzip2},
		{"bzip2 bad level", []byte("BZh01AY"), None},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00}, Xz},
		{"xz short", []byte{0xfd, '7', 'z', 'X', 'Z'}, None},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58}, Zstd},
		{"zstd skippable", []byte{0x5a, 0x2a, 0x4d, 0x18, 0, 0}, Zstd},
		{"ustar", ustar, None},
		{"name looks like gzip", []byte("./etc.tar.gz"), None},
		{"empty", nil, None},
		{"one byte of gzip", []byte{0x1f}, None},
	} {
		if got := Detect(tc.head); got != tc.want {
			t.Errorf("%s: Detect = %s, want %s", tc.name, got, tc.want)
		}
	}
}

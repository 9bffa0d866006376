package nsenter

import (
	"bytes"
	"io"
	"testing"
)

func TestSealedFile(t *testing.T) {
	f, err := SealedFile("test", []byte("echo hi\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("write to sealed memfd succeeded")
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "echo hi\n" {
		t.Errorf("content %q, %v", b, err)
	}
}

func TestEnvFile(t *testing.T) {
	f, err := EnvFile([]string{"A=1", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if !bytes.Equal(b, []byte("A=1\x00PATH=/bin\x00")) {
		t.Errorf("env blob %q", b)
	}
}

func TestSeccompFile(t *testing.T) {
	f, err := SeccompFile()
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		t.Skip("no seccomp filter for this architecture")
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	// struct sock_filter is 8 bytes; the program is far from empty.
	if len(b) == 0 || len(b)%8 != 0 || len(b) < 8*10 {
		t.Errorf("filter of %d bytes", len(b))
	}
}

package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestTailReader: the last keep bytes of a stream are held back whatever
// the read sizes, and everything before is passed on and hashed.
func TestTailReader(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 20000))
	for _, keep := range []int{0, 1, trailerLen, 70000} {
		h := sha256.New()
		tr := &tailReader{r: iotest.HalfReader(bytes.NewReader(data)), keep: keep, h: h}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[:len(data)-keep]) || !bytes.Equal(tr.held(), data[len(data)-keep:]) {
			t.Errorf("keep %d: passed %d bytes, held %d", keep, len(got), len(tr.held()))
		}
		if want := sha256.Sum256(got); !bytes.Equal(h.Sum(nil), want[:]) || tr.n != int64(len(got)) {
			t.Errorf("keep %d: hash or count of the passed bytes wrong", keep)
		}
	}
}

// TestFilterTarDevices: only the device nodes every container gets pass.
func TestFilterTarDevices(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []*tar.Header{
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0},
		{Name: "dev/mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1},
		{Name: "dev/ptmx", Typeflag: tar.TypeChar, Devmajor: 5, Devminor: 2},
		{Name: "fifo", Typeflag: tar.TypeFifo},
		{Name: "f", Typeflag: tar.TypeReg, Size: 3, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}},
	} {
		tw.WriteHeader(h)
		if h.Size > 0 {
			tw.Write([]byte("abc"))
		}
	}
	tw.Close()
	var out bytes.Buffer
	var warned []string
	skipped, err := filterTar(&in, &out, func(f string, a ...any) { warned = append(warned, f) })
	if err != nil || skipped != 2 || len(warned) != 2 {
		t.Fatalf("skipped %d, warned %d, err %v", skipped, len(warned), err)
	}
	tr := tar.NewReader(&out)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "f" {
			b, _ := io.ReadAll(tr)
			if string(b) != "abc" || h.PAXRecords["SCHILY.xattr.user.x"] != "y" {
				t.Errorf("f: %q %v", b, h.PAXRecords)
			}
		}
	}
	if got := strings.Join(names, " "); got != "dev/null dev/ptmx fifo f" {
		t.Errorf("passed: %s", got)
	}
}

package ovzimport

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"govz/ct/vzerror"
)

const descOne = `<?xml version="1.0"?>
<Parallels_disk_image Version="1.0">
  <Disk_Parameters><Disk_size>4194304</Disk_size><Heads>16</Heads></Disk_Parameters>
  <StorageData><Storage><Start>0</Start><End>4194304</End><Blocksize>2048</Blocksize>
    <Image><GUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</GUID><Type>Compressed</Type><File>root.hdd</File></Image>
  </Storage></StorageData>
  <Snapshots><TopGUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</TopGUID>
    <Shot><GUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</GUID><ParentGUID>{00000000-0000-0000-0000-000000000000}</ParentGUID></Shot>
  </Snapshots>
</Parallels_disk_image>`

func writeDisk(t *testing.T, desc, magic string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "DiskDescriptor.xml"), []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.hdd"), []byte(magic+strings.Repeat("\x00", 48)), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "DiskDescriptor.xml")
}

func TestReadDescriptor(t *testing.T) {
	d, err := ReadDescriptor(writeDisk(t, descOne, "WithoutFreeSpace"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != "parallels" || d.SizeBytes != 4194304*512 || filepath.Base(d.Image) != "root.hdd" {
		t.Errorf("%+v", d)
	}
	snap := strings.Replace(descOne, "</Snapshots>", `<Shot><GUID>{x}</GUID><ParentGUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</ParentGUID></Shot></Snapshots>`, 1)
	snap = strings.Replace(snap, "</Storage>", `</Storage><Storage><Image><GUID>{x}</GUID><Type>Compressed</Type><File>root.hdd.x</File></Image></Storage>`, 1)
	for name, c := range map[string]struct{ desc, magic, want string }{
		"snapshots": {snap, "WithoutFreeSpace", "snapshot-delete"},
		"version":   {strings.Replace(descOne, `Version="1.0"`, `Version="2.0"`, 1), "WithoutFreeSpace", "unknown DiskDescriptor.xml version"},
		"magic":     {descOne, "SomethingElse!!!", "unknown delta format"},
		"type":      {strings.Replace(descOne, "Compressed", "Sparse", 1), "WithoutFreeSpace", "unknown image type"},
	} {
		_, err := ReadDescriptor(writeDisk(t, c.desc, c.magic))
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, vzerror.ErrInvalidConfig) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", name, err, c.want)
		}
	}
	// The file name cannot lead out of the descriptor's directory.
	d, err = ReadDescriptor(writeDisk(t, strings.Replace(descOne, "<File>root.hdd</File>", "<File>../../etc/root.hdd</File>", 1), "WithoutFreeSpace"))
	if err == nil && !strings.HasPrefix(d.Image, filepath.Dir(d.Descriptor)+"/") {
		t.Errorf("image %s outside %s", d.Image, filepath.Dir(d.Descriptor))
	}
}

func TestFindFS(t *testing.T) {
	head := make([]byte, 34*512)
	// A GPT: header at LBA 1, entries at LBA 2, one partition 2048..10239.
	copy(head[512:], "EFI PART")
	binary.LittleEndian.PutUint64(head[512+72:], 2)
	binary.LittleEndian.PutUint32(head[512+80:], 128)
	binary.LittleEndian.PutUint32(head[512+84:], 128)
	e := head[2*512:]
	copy(e, "0123456789abcdef") // type GUID
	binary.LittleEndian.PutUint64(e[32:], 2048)
	binary.LittleEndian.PutUint64(e[40:], 10239)
	off, size, err := FindFS(head, 1<<30)
	if err != nil || off != 2048*512 || size != 8192*512 {
		t.Errorf("gpt: %d %d %v", off, size, err)
	}
	plain := make([]byte, 34*512)
	binary.LittleEndian.PutUint16(plain[1024+56:], 0xEF53)
	if off, size, err := FindFS(plain, 1<<30); err != nil || off != 0 || size != 1<<30 {
		t.Errorf("ext4: %d %d %v", off, size, err)
	}
	if _, _, err := FindFS(make([]byte, 34*512), 1<<30); err == nil {
		t.Errorf("zeroes: no error")
	}
}

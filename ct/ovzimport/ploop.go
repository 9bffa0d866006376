package ovzimport

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"govz/ct/vzerror"
	"govz/quota/image"
)

// A ploop private area (vzctl 4.x with VE_LAYOUT=ploop) is
// PRIVATE/root.hdd/DiskDescriptor.xml naming the image files (deltas)
// and the snapshot tree; the ext4 file system is in the top delta,
// which QEMU's parallels driver reads (docs/interop/parallels.txt), so
// qemu-img converts it rather than a parser of ours.

// Disk is a ploop image that can be taken: one delta, known format.
type Disk struct {
	Descriptor string
	Image      string // the delta file
	Format     string // qemu-img's: parallels (expanded) or raw (plain)
	SizeBytes  int64  // the virtual disk's size
}

type descriptor struct {
	XMLName  xml.Name `xml:"Parallels_disk_image"`
	Version  string   `xml:"Version,attr"`
	DiskSize int64    `xml:"Disk_Parameters>Disk_size"` // 512-byte sectors
	Storage  []struct {
		Images []struct {
			GUID string `xml:"GUID"`
			Type string `xml:"Type"`
			File string `xml:"File"`
		} `xml:"Image"`
	} `xml:"StorageData>Storage"`
	TopGUID string `xml:"Snapshots>TopGUID"`
	Shots   []struct {
		GUID string `xml:"GUID"`
	} `xml:"Snapshots>Shot"`
}

// Delta headers (ploop's ploop1_image.h, QEMU's parallels.c): version 1
// and version 2 (the larger-disk format); a plain image has none.
var deltaMagics = []string{"WithoutFreeSpace", "WithouFreSpacExt"}

// ReadDescriptor reads a DiskDescriptor.xml and refuses what cannot be
// taken whole, saying what to run on the old node first.
func ReadDescriptor(path string) (*Disk, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w: %w", path, err, vzerror.ErrNoPrivate)
	}
	var d descriptor
	if err := xml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: not a ploop disk descriptor: %w: %w", path, err, vzerror.ErrInvalidConfig)
	}
	if d.Version != "1.0" {
		return nil, fmt.Errorf("%s: unknown DiskDescriptor.xml version %q (known: 1.0); on the old node convert the container to simfs (vzctl convert is one-way; copy its files with the container mounted) and import that: %w", path, d.Version, vzerror.ErrInvalidConfig)
	}
	var imgs []struct{ GUID, Type, File string }
	for _, s := range d.Storage {
		for _, i := range s.Images {
			imgs = append(imgs, struct{ GUID, Type, File string }{i.GUID, i.Type, i.File})
		}
	}
	if len(imgs) != 1 || len(d.Shots) > 1 {
		return nil, fmt.Errorf("%s: %d deltas, %d snapshots: snapshots are not merged; on the old node run vzctl snapshot-list CTID and vzctl snapshot-delete CTID --id UUID for each (or ploop merge %s), then import again: %w",
			path, len(imgs), len(d.Shots), path, vzerror.ErrInvalidConfig)
	}
	img := imgs[0]
	if d.TopGUID != "" && img.GUID != "" && d.TopGUID != img.GUID {
		return nil, fmt.Errorf("%s: the top delta %s is not the image %s: %w", path, d.TopGUID, img.GUID, vzerror.ErrInvalidConfig)
	}
	if img.File == "" {
		return nil, fmt.Errorf("%s: no image file named: %w", path, vzerror.ErrInvalidConfig)
	}
	// The file is relative to the descriptor; cleaned from "/" so that
	// it cannot name anything outside the descriptor's directory.
	disk := &Disk{Descriptor: path, Image: filepath.Join(filepath.Dir(path), filepath.Clean("/" + img.File)[1:]), SizeBytes: d.DiskSize * 512}
	switch img.Type {
	case "Compressed":
		disk.Format = "parallels"
		if err := checkMagic(disk.Image); err != nil {
			return nil, err
		}
	case "Plain":
		disk.Format = "raw"
	default:
		return nil, fmt.Errorf("%s: unknown image type %q (Compressed or Plain): %w", path, img.Type, vzerror.ErrInvalidConfig)
	}
	return disk, nil
}

func checkMagic(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("ploop image %s: %w: %w", file, err, vzerror.ErrNoPrivate)
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("ploop image %s: %w: %w", file, err, vzerror.ErrNoPrivate)
	}
	for _, m := range deltaMagics {
		if string(head) == m {
			return nil
		}
	}
	return fmt.Errorf("ploop image %s: unknown delta format %q (known: %s); on the old node check it with ploop check: %w", file, head, strings.Join(deltaMagics, ", "), vzerror.ErrInvalidConfig)
}

// Convert writes the disk's file system as a raw ext4 image at out: the
// first GPT partition when the disk has a partition table (ploop init
// makes one), else the whole disk. It returns the image's size.
func (d *Disk) Convert(out string) (int64, error) {
	head := out + ".head"
	defer os.Remove(head)
	// 34 sectors: the protective MBR, the GPT header and 128 entries.
	if err := qemuImg("dd", "-f", d.Format, "-O", "raw", "bs=512", "count=34", "if="+d.Image, "of="+head); err != nil {
		return 0, err
	}
	hd, err := os.ReadFile(head)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w: %w", head, err, vzerror.ErrCreatePrivate)
	}
	off, size, err := FindFS(hd, d.SizeBytes)
	if err != nil {
		return 0, fmt.Errorf("ploop image %s: %w", d.Image, err)
	}
	args := []string{"convert", "-f", d.Format, "-O", "raw", d.Image, out}
	if off != 0 {
		// The raw driver over the image's own slices the partition out
		// in one sparse pass. Commas in option values are doubled.
		opts := "driver=raw,offset=" + strconv.FormatInt(off, 10) + ",size=" + strconv.FormatInt(size, 10) +
			",file.driver=" + d.Format + ",file.file.driver=file,file.file.filename=" + strings.ReplaceAll(d.Image, ",", ",,")
		args = []string{"convert", "--image-opts", opts, "-O", "raw", out}
	}
	if err := qemuImg(args...); err != nil {
		return 0, err
	}
	if err := image.Check(out); err != nil {
		return 0, fmt.Errorf("the converted file system: %w: %w", err, vzerror.ErrCreatePrivate)
	}
	return size, nil
}

func qemuImg(args ...string) error {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return fmt.Errorf("qemu-img is needed to convert ploop images (Debian: apt-get install qemu-utils): %w", vzerror.ErrCreatePrivate)
	}
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-img %s: %w: %s: %w", args[0], err, strings.Join(strings.Fields(string(out)), " "), vzerror.ErrCreatePrivate)
	}
	return nil
}

// FindFS finds the file system on a disk from its first 34 sectors: the
// first partition of a GPT, or an ext2/3/4 superblock at the start. It
// returns the byte offset and size.
func FindFS(head []byte, diskSize int64) (off, size int64, err error) {
	const sector = 512
	if len(head) >= 2*sector && string(head[sector:sector+8]) == "EFI PART" {
		h := head[sector:]
		entLBA := int64(binary.LittleEndian.Uint64(h[72:]))
		n := int64(binary.LittleEndian.Uint32(h[80:]))
		esz := int64(binary.LittleEndian.Uint32(h[84:]))
		if esz < 128 || n > 1024 {
			return 0, 0, fmt.Errorf("bad GPT header (%d entries of %d bytes): %w", n, esz, vzerror.ErrInvalidConfig)
		}
		for i := int64(0); i < n; i++ {
			o := entLBA*sector + i*esz
			if o+esz > int64(len(head)) {
				break
			}
			e := head[o : o+esz]
			if bytes.Equal(e[:16], make([]byte, 16)) {
				continue
			}
			first := int64(binary.LittleEndian.Uint64(e[32:]))
			last := int64(binary.LittleEndian.Uint64(e[40:]))
			if first <= 0 || last < first {
				break
			}
			return first * sector, (last - first + 1) * sector, nil
		}
		return 0, 0, fmt.Errorf("GPT without a partition: %w", vzerror.ErrInvalidConfig)
	}
	// ext2/3/4: the superblock at 1024, s_magic 0xEF53 at its offset 56.
	if len(head) >= 1024+58 && binary.LittleEndian.Uint16(head[1024+56:]) == 0xEF53 {
		return 0, diskSize, nil
	}
	return 0, 0, fmt.Errorf("no GPT partition and no ext4 file system at its start: %w", vzerror.ErrInvalidConfig)
}

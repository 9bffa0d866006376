package caps

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestTableX8664Numbers(t *testing.T) {
	pinTable(t, TableX8664, hostNumbers(map[string]uint32{
		"iopl": unix.SYS_IOPL, "ioperm": unix.SYS_IOPERM, "uselib": unix.SYS_USELIB,
	}))
}

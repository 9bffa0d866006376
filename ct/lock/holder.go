package lock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Holder returns the PID recorded in container id's lock file, 0 when
// there is none. The record is advisory (see the package doc): a caller
// that acts on it must check the process itself.
func Holder(dir string, id int) int {
	b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(id)+".lck"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.Fields(string(b) + " 0")[0])
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

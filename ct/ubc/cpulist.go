package ubc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"govz/ct/vzerror"
)

// maxListEntry bounds CPU and node numbers (the kernel's NR_CPUS tops out
// at 8192).
const maxListEntry = 8191

// ParseList parses the kernel's list format ("0-2,7", Documentation/
// admin-guide/cgroup-v2.rst "cpuset.cpus") into sorted unique numbers. An
// empty string is the empty set.
func ParseList(s string) ([]int, error) {
	var out []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b > maxListEntry {
			return nil, fmt.Errorf("bad list %q (want e.g. 0-2,7): %w", s, vzerror.ErrInvalidValue)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatList renders sorted unique numbers in the kernel's list format,
// ranges collapsed.
func FormatList(set []int) string {
	var b strings.Builder
	for i := 0; i < len(set); {
		j := i
		for j+1 < len(set) && set[j+1] == set[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(set[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(set[j]))
		}
		i = j + 1
	}
	return b.String()
}

// union merges two lists.
func union(a, b string) (string, error) {
	x, err := ParseList(a)
	if err != nil {
		return "", err
	}
	y, err := ParseList(b)
	if err != nil {
		return "", err
	}
	all := append(x, y...)
	slices.Sort(all)
	return FormatList(slices.Compact(all)), nil
}

// CpusetStep is one write of a v1 cpuset change over a subtree.
type CpusetStep struct {
	Dir, Value string
}

// CpusetSequence orders the writes that move a v1 cpuset subtree to value.
// cgroup v1 keeps every child's set inside its parent's at all times
// (kernel/cgroup/cpuset-v1.c validate_change returns EBUSY otherwise), so
// neither top-down nor bottom-up alone works for an arbitrary change:
// first each group widens to its current set plus value, top-down, then
// each narrows to value, bottom-up. dirs is the subtree, parents before
// children; current maps each dir to its set now.
func CpusetSequence(dirs []string, current map[string]string, value string) ([]CpusetStep, error) {
	var out []CpusetStep
	for _, d := range dirs {
		u, err := union(current[d], value)
		if err != nil {
			return nil, fmt.Errorf("cpuset of %s: %w", d, err)
		}
		if u != normList(current[d]) {
			out = append(out, CpusetStep{d, u})
		}
	}
	want := normList(value)
	for i := len(dirs) - 1; i >= 0; i-- {
		// After the first pass the group holds current ∪ value.
		if u, _ := union(current[dirs[i]], value); u != want {
			out = append(out, CpusetStep{dirs[i], want})
		}
	}
	return out, nil
}

func normList(s string) string {
	set, err := ParseList(s)
	if err != nil {
		return strings.TrimSpace(s)
	}
	return FormatList(set)
}

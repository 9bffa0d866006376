package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseCPULimit reads --cpulimit as vzctl 4.x does (parse_cpulimit in
// src/lib/config.c): N is per cent of one CPU, while N% is per cent of
// the whole node, at most 100%, so "50%" on a 4-CPU node is CPULIMIT 200.
// ncpu is the number of CPUs on the node.
func ParseCPULimit(v string, ncpu int) (int, error) {
	v = strings.TrimSpace(v)
	num, pct := strings.CutSuffix(v, "%")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || pct && n > 100 {
		return 0, fmt.Errorf("bad --cpulimit %q (N per cent of one CPU, or N%% of the node up to 100%%): %w", v, ErrBadValue)
	}
	if pct {
		n *= ncpu
	}
	return n, nil
}

package conf

import (
	"fmt"
	"strings"
)

// vzctl 4.x splits the value of a list option into items at blanks
// (strtok(" \t") in src/lib/config.c and list.c): one
// --ipadd "10.0.0.1 10.0.0.2" adds two addresses, as two --ipadd do, and
// tools that drive vzctl (libvirt's OpenVZ driver, hosting panels, config
// management modules) build such values. govz also splits at commas where
// vzctl's items never hold one.

// SplitBlanks splits a list option's value at spaces and tabs.
func SplitBlanks(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' })
}

// unspecifiedIPs are the spellings vzctl's parse_ip skips: clients pass
// them to mean "no address".
var unspecifiedIPs = map[string]bool{"0.0.0.0": true, "::": true, "::0": true}

// SplitIPs splits --ipadd or --ipdel values into addresses ("all" stays an
// item) and drops the unspecified addresses vzctl skips, which it returns
// in skipped so that the caller can say so.
func SplitIPs(vals []string) (ips, skipped []string) {
	for _, v := range vals {
		for _, ip := range SplitBlanks(v) {
			if unspecifiedIPs[ip] {
				skipped = append(skipped, ip)
				continue
			}
			ips = append(ips, ip)
		}
	}
	return ips, skipped
}

// FeatureNames are the features vzctl 4.x knows, in its order
// (src/lib/vzfeatures.c), then govz's own tun and fuse (device nodes an
// OpenVZ admin granted with --devnodes; ct/grants says what each means);
// vzlist prints them in this order.
var FeatureNames = []string{"sysfs", "nfs", "sit", "ipip", "ppp", "ipgre", "bridge", "nfsd", "tun", "fuse"}

// SplitItems splits the values of a list option whose items hold no
// comma (--capability and --features, which vzctl splits at blanks and
// commas; --nameserver, --searchdomain, --devnodes, --devices, split at
// blanks by vzctl) into items.
func SplitItems(list []string) []string {
	var out []string
	for _, l := range list {
		out = append(out, strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
	}
	return out
}

// ParseSwitch parses one NAME:on|off item; the name is lower-cased.
func ParseSwitch(item string) (name string, on bool, err error) {
	i := strings.LastIndexByte(item, ':')
	if i <= 0 {
		return "", false, fmt.Errorf("bad item %q (want NAME:on or NAME:off): %w", item, ErrBadValue)
	}
	switch item[i+1:] {
	case "on":
		on = true
	case "off":
	default:
		return "", false, fmt.Errorf("bad item %q (want NAME:on or NAME:off): %w", item, ErrBadValue)
	}
	return strings.ToLower(item[:i]), on, nil
}

// ValidateFeatures accepts a --features list: known names, on or off.
// vzctl refuses an unknown feature on the command line ("Bad parameter
// for --features", exit 21) and only skips it when reading a file.
func ValidateFeatures(list []string) error {
	for _, item := range SplitItems(list) {
		name, _, err := ParseSwitch(item)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		known := false
		for _, f := range FeatureNames {
			known = known || f == name
		}
		if !known {
			return fmt.Errorf("unknown feature %q (known: %s): %w", name, strings.Join(FeatureNames, ", "), ErrBadValue)
		}
	}
	return nil
}

// MergeSwitches is how vzctl saves --capability and --features: the
// items given now override the saved items of the same name, and the
// other saved items stay (store_cap, store_env in src/lib/config.c). The
// result keeps the saved order, then the new names in the order given.
// Items that are not NAME:on|off are kept as they are.
func MergeSwitches(saved, given []string) []string {
	var out []string
	index := map[string]int{}
	put := func(item string) {
		name, _, err := ParseSwitch(item)
		if err != nil {
			out = append(out, item)
			return
		}
		if i, ok := index[name]; ok {
			out[i] = item
			return
		}
		index[name] = len(out)
		out = append(out, item)
	}
	for _, item := range SplitItems(saved) {
		put(item)
	}
	for _, item := range SplitItems(given) {
		put(item)
	}
	return out
}

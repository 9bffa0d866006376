package listing

import "strconv"

// configFields are vzlist fields from vzctl's field table (vzctl.md §3)
// that show a config value as it is set: vm_overcommit, netfilter,
// capability, iolimit (bytes/s) and iopslimit. vzctl's JSON does not print
// them without -o (they are absent from ct/listing/testdata's schema);
// govz prints them after vzctl's keys, as documented extras.
func configFields() []Field {
	return []Field{
		{Name: "vm_overcommit", Header: "VM_OVERCOMMIT", Width: 13,
			text: func(i *Info) string {
				if i.VMOvercommit == nil {
					return "-"
				}
				return strconv.FormatFloat(*i.VMOvercommit, 'g', -1, 64)
			},
			json: func(i *Info) any {
				if i.VMOvercommit == nil {
					return nil
				}
				return *i.VMOvercommit
			},
			less: func(a, b *Info) bool { return floatOr(a.VMOvercommit) < floatOr(b.VMOvercommit) }},
		field("netfilter", "NETFILTER", -9, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Netfilter })
		}),
		field("capability", "CAPABILITY", -15, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return list(func(i *Info) []string { return i.Capability })
		}),
		field("iolimit", "IOLIMIT", 10, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return zeroNum(func(i *Info) *int64 { return i.IOLimit })
		}),
		field("iopslimit", "IOPSLIMIT", 10, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return zeroNum(func(i *Info) *int64 { return i.IOPSLimit })
		}),
		// govz's own: host paths bound in at start.
		field("bindmount", "BINDMOUNT", -24, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return list(func(i *Info) []string { return i.BindMount })
		}),
	}
}

func floatOr(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

package listing

import "strings"

// Traffic is a running container's network traffic since it started, as
// the node counted it: In was delivered to the container, Out is what it
// sent (on routed addresses, what anti-spoofing let through).
type Traffic struct {
	InBytes, InPackets, OutBytes, OutPackets int64
}

// trafficFields are traffic_in and traffic_out (bytes) with .p variants
// (packets); JSON gives both as {"bytes": .., "packets": ..}.
func trafficFields() []Field {
	var out []Field
	for _, dir := range []struct{ name, hdr string }{{"traffic_in", "TRAFFIC_IN"}, {"traffic_out", "TRAFFIC_OUT"}} {
		in := dir.name == "traffic_in"
		part := func(packets bool) func(*Info) *int64 {
			return func(i *Info) *int64 {
				if i.Traffic == nil {
					return nil
				}
				v := i.Traffic.OutBytes
				switch {
				case in && packets:
					v = i.Traffic.InPackets
				case in:
					v = i.Traffic.InBytes
				case packets:
					v = i.Traffic.OutPackets
				}
				return &v
			}
		}
		js := func(i *Info) any {
			b, p := part(false)(i), part(true)(i)
			if b == nil {
				return nil
			}
			return object{{"bytes", *b}, {"packets", *p}}
		}
		for _, sfx := range []string{"", ".p"} {
			t, _, l := num(part(sfx != ""))
			out = append(out, Field{Name: dir.name + sfx, Header: dir.hdr + strings.ToUpper(sfx),
				Width: 12, Suffix: sfx != "", text: t, json: js, less: l})
		}
	}
	return out
}

package listing

import (
	"encoding/json"
	"fmt"
	"strings"
)

// vzlist -j is printf'd by vzctl 4.x (src/vzlist.c), not made by a JSON
// library: objects keep its key order, one member a line, and lists are
// written ["a", "b"]. Clients parse it, but people diff it and some
// scripts grep it, so these types reproduce the layout; encoding/json
// would sort map keys and compact every value.

// member is one key of an object.
type member struct {
	Key   string
	Value any
}

// object is a JSON object written in vzctl's layout, keys in order.
type object []member

// strList is a JSON list of strings written as vzctl's print_json_list
// does.
type strList []string

// rawNumber is a number already formatted the way vzctl's printf
// formats it ("%.3f" for uptime, "%1.2f" for load averages).
type rawNumber string

// renderJSON writes v as vzlist -j writes a field's value.
func renderJSON(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case object:
		b.WriteString("{")
		for i, m := range v {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(b, "\n      %q: ", m.Key)
			if err := renderJSON(b, m.Value); err != nil {
				return err
			}
		}
		b.WriteString("\n    }")
	case strList:
		b.WriteString("[")
		for i, s := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			q, err := json.Marshal(s)
			if err != nil {
				return err
			}
			b.Write(q)
		}
		b.WriteString("]")
	case rawNumber:
		b.WriteString(string(v))
	default:
		q, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(q)
	}
	return nil
}

package listing

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"govz/ct/vzerror"
)

// ubcFields are one beancounter's columns. vzctl 4.x's vzlist gives every
// container it lists a full set of beancounters (merge_conf allocates them
// for each config it reads), so -j prints every one as an object, never
// null: a key the config leaves unset is not limited here, which the
// kernel reports as LONG_MAX.
func ubcFields(name, hdr string) []Field {
	get := func(i *Info) UBC {
		if u, ok := i.UBC[name]; ok {
			return u
		}
		return UBC{Barrier: maxLong, Limit: maxLong}
	}
	part := func(idx int) func(*Info) *int64 {
		return func(i *Info) *int64 {
			u := get(i)
			switch idx {
			case 0:
				return u.Held
			case 1:
				return u.MaxHeld
			case 2:
				return &u.Barrier
			case 3:
				return &u.Limit
			}
			return u.FailCnt
		}
	}
	js := func(i *Info) any {
		u := get(i)
		return object{{"held", derefOr(u.Held, 0)}, {"maxheld", derefOr(u.MaxHeld, 0)},
			{"barrier", u.Barrier}, {"limit", u.Limit}, {"failcnt", derefOr(u.FailCnt, 0)}}
	}
	var out []Field
	for idx, sfx := range []string{"", ".m", ".b", ".l", ".f"} {
		t, _, l := num(part(idx))
		out = append(out, Field{Name: name + sfx, Header: hdr + strings.ToUpper(sfx), Width: 10,
			Suffix: sfx != "", text: t, json: js, less: l})
	}
	return out
}

// quotaFields are one disk quota's columns. vzctl keeps both quotas in one
// block that exists once either is set: the other then shows no limit.
func quotaFields(name, hdr string) []Field {
	get := func(i *Info) (Quota, bool) {
		if q, ok := i.Quota[name]; ok {
			return q, true
		}
		return Quota{Soft: maxLong, Hard: maxLong}, len(i.Quota) > 0
	}
	part := func(idx int) func(*Info) *int64 {
		return func(i *Info) *int64 {
			q, ok := get(i)
			if !ok {
				return nil
			}
			switch idx {
			case 0:
				return q.Usage
			case 1:
				return &q.Soft
			}
			return &q.Hard
		}
	}
	js := func(i *Info) any {
		q, ok := get(i)
		if !ok {
			return nil
		}
		return object{{"usage", derefOr(q.Usage, 0)}, {"softlimit", q.Soft}, {"hardlimit", q.Hard}}
	}
	var out []Field
	for idx, sfx := range []string{"", ".s", ".h"} {
		t, _, l := num(part(idx))
		out = append(out, Field{Name: name + sfx, Header: hdr + strings.ToUpper(sfx), Width: 10,
			Suffix: sfx != "", text: t, json: js, less: l})
	}
	return out
}

// DefaultFields are vzlist's columns without -o.
const DefaultFields = "ctid,numproc,status,ip,hostname"

// DefaultNameFields are vzlist -n's columns.
const DefaultNameFields = "smart_name,numproc,status,ip,hostname"

// Options select and shape the output.
type Options struct {
	Fields   string // comma-separated; "" = default (all for JSON)
	NoHeader bool
	NoTrim   bool
	JSON     bool
	Sort     string // field, "-field" reverses
	Stopped  bool   // only containers not running (-S)
	Hostname string // glob filters
	Name     string
	Desc     string
}

// FieldNames are the fields o shows and sorts by, for Filter.Fields; nil
// when it shows every field (JSON without -o). Names are not checked
// here: Format refuses unknown ones.
func (o Options) FieldNames() []string {
	if o.Fields == "" && o.JSON {
		return nil
	}
	spec := o.Fields
	if spec == "" {
		spec = DefaultFields
	}
	var names []string
	for _, name := range strings.Split(spec, ",") {
		names = append(names, strings.TrimSpace(name))
	}
	if o.Sort != "" {
		names = append(names, strings.TrimPrefix(o.Sort, "-"))
	}
	return names
}

func lookup(fs []Field, name string) (Field, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Names lists every field name (vzlist -L).
func Names() []Field { return Fields() }

// Format renders infos.
func Format(infos []Info, o Options) (string, error) {
	all := Fields()
	var sel []Field
	if o.Fields != "" || !o.JSON {
		spec := o.Fields
		if spec == "" {
			spec = DefaultFields
		}
		for _, name := range strings.Split(spec, ",") {
			f, ok := lookup(all, strings.TrimSpace(name))
			if !ok {
				return "", fmt.Errorf("unknown field: %s (vzlist -L lists them): %w", name, vzerror.ErrSyntax)
			}
			if o.JSON && f.Suffix {
				return "", fmt.Errorf("field `%s' is not available in JSON output: %w", name, vzerror.ErrSyntax)
			}
			sel = append(sel, f)
		}
	} else {
		for _, f := range all {
			if !f.Suffix {
				sel = append(sel, f)
			}
		}
	}
	rows := filter(infos, o)
	if o.Sort != "" {
		key, rev := strings.CutPrefix(o.Sort, "-")
		f, ok := lookup(all, key)
		if !ok {
			return "", fmt.Errorf("invalid sort field name: %s: %w", o.Sort, vzerror.ErrSyntax)
		}
		sort.SliceStable(rows, func(a, b int) bool { return f.less(&rows[a], &rows[b]) })
		// vzlist prints a reverse sort from the end of the sorted list,
		// so ties (and fields it cannot sort by) come out reversed too.
		if rev {
			slices.Reverse(rows)
		}
	}
	if o.JSON {
		return formatJSON(rows, sel)
	}
	var b strings.Builder
	if !o.NoHeader {
		cells := make([]string, len(sel))
		for i, f := range sel {
			cells[i] = fmt.Sprintf("%*s", f.Width, f.Header)
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, " "), " ") + "\n")
	}
	for i := range rows {
		cells := make([]string, len(sel))
		for j, f := range sel {
			v := f.text(&rows[i])
			last := j == len(sel)-1
			if !last && !o.NoTrim {
				// vzlist shows only the first list item and cuts text to
				// the column width unless the column is the last one.
				if f.Width == -15 {
					v, _, _ = strings.Cut(v, " ")
				}
				if w := abs(f.Width); len(v) > w {
					v = v[:w]
				}
			}
			cells[j] = fmt.Sprintf("%*s", f.Width, v)
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, " "), " ") + "\n")
	}
	return b.String(), nil
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func filter(infos []Info, o Options) []Info {
	var out []Info
	for _, i := range infos {
		if o.Stopped && i.Status == "running" {
			continue
		}
		if !match(o.Hostname, i.Hostname) || !match(o.Name, i.Name) || !match(o.Desc, i.Description) {
			continue
		}
		out = append(out, i)
	}
	return out
}

func match(pat, s string) bool {
	if pat == "" {
		return true
	}
	if s == "" {
		return false
	}
	ok, _ := path.Match(pat, s)
	return ok
}

// formatJSON writes an array of objects with keys in field order.
func formatJSON(rows []Info, sel []Field) (string, error) {
	var b strings.Builder
	b.WriteString("[")
	for i := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, f := range sel {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n    %q: ", f.Name)
			if err := renderJSON(&b, f.json(&rows[i])); err != nil {
				return "", fmt.Errorf("encoding field %s of container %d: %w: %w", f.Name, rows[i].ID, err, vzerror.ErrSystem)
			}
		}
		b.WriteString("\n  }")
	}
	b.WriteString("\n]\n")
	return b.String(), nil
}

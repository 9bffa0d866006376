package conf

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/BurntSushi/toml"
)

// Unknown is what a config file holds beyond the key table: keys of a
// newer govz, of a tool that shares the file, or typos. vzctl ignores
// unknown lines of CTID.conf and keeps them when it rewrites the file
// (vzctl.md §4), so a container's file written by something else survives
// `vzctl set --save`; govz does the same and warns, since a typo would
// otherwise pass unnoticed. Unknown keys belong to the file they came from:
// Merge does not carry them into another layer.
type Unknown struct {
	file   string
	values map[string]any // top-level key → decoded value
	lines  map[string]int
}

// extraField is the Config field that carries Unknown; every other field
// is a key of the table.
const extraField = "Extra"

// collectUnknown decodes the top-level keys of data that the key table
// does not name.
func collectUnknown(name string, data []byte, undecoded []toml.Key) (*Unknown, error) {
	var all map[string]any
	if _, err := toml.Decode(string(data), &all); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	u := &Unknown{file: name, values: map[string]any{}, lines: map[string]int{}}
	for _, k := range undecoded {
		top := k[0]
		if _, done := u.values[top]; done {
			continue
		}
		u.values[top] = all[top]
		u.lines[top] = lineOf(data, top)
	}
	return u, nil
}

// UnknownKeys describes each unknown key of this layer, one warning line
// each ("FILE:LINE: unknown key "K" ignored (kept in the file)"), sorted.
func (c *Config) UnknownKeys() []string {
	if c == nil || c.Extra == nil {
		return nil
	}
	var out []string
	for _, k := range c.Extra.names() {
		loc := c.Extra.file
		if l := c.Extra.lines[k]; l > 0 {
			loc = fmt.Sprintf("%s:%d", loc, l)
		}
		out = append(out, fmt.Sprintf("%s: unknown key %q ignored (kept in the file)", loc, k))
	}
	return out
}

func (u *Unknown) names() []string {
	var ks []string
	for k := range u.values {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// encode renders the unknown keys after the known ones: one map, so the
// encoder puts plain values before tables, as TOML requires.
func (u *Unknown) encode(b *bytes.Buffer) error {
	if u == nil || len(u.values) == 0 {
		return nil
	}
	if err := toml.NewEncoder(b).Encode(u.values); err != nil {
		return fmt.Errorf("encoding unknown keys of %s: %w", u.file, err)
	}
	return nil
}

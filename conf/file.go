package conf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"govz/conf/atomicfile"
)

// FileError is a problem in a config file, located by line.
type FileError struct {
	File string
	Line int // 0 when unknown
	Key  string
	Err  error
}

func (e *FileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: key %q: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// LoadFile reads and validates one config file. scope is the kind of file:
// Global for vz.toml, CT for a container file or sample. A missing file
// returns an error wrapping os.ErrNotExist.
func LoadFile(path string, scope Scope) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, scope)
}

// Parse decodes and validates config text; name is used in messages.
func Parse(name string, data []byte, scope Scope) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &FileError{File: name, Line: pe.Position.Line, Key: pe.LastKey,
				Err: fmt.Errorf("%s: %w", pe.Message, ErrBadFile)}
		}
		// Type mismatches come as plain errors with the position in text.
		if m := decodeErrRe().FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &FileError{File: name, Line: line, Key: m[2],
				Err: fmt.Errorf("%s: %w", m[3], ErrBadFile)}
		}
		return nil, &FileError{File: name, Err: fmt.Errorf("%w: %w", err, ErrBadFile)}
	}
	if u := md.Undecoded(); len(u) > 0 {
		extra, err := collectUnknown(name, data, u)
		if err != nil {
			return nil, &FileError{File: name, Err: fmt.Errorf("%w: %w", err, ErrBadFile)}
		}
		c.Extra = extra
	}
	if scope == CT {
		for _, k := range md.Keys() {
			if key, ok := KeyByName(k.String()); ok && key.Scope == Global {
				return nil, &FileError{File: name, Line: lineOf(data, key.Name), Key: key.Name,
					Err: fmt.Errorf("only valid in the global config: %w", ErrBadFile)}
			}
		}
	}
	if scope == Global {
		// In vz.toml these say what create gives new containers: one fixed
		// range there would be every new container's, which the overlap
		// check refuses from the second create on.
		for _, k := range []struct {
			name string
			v    *IDBase
		}{{"local_uid", c.LocalUID}, {"local_gid", c.LocalGID}} {
			if k.v != nil && *k.v != 0 && !k.v.IsAuto() {
				return nil, &FileError{File: name, Line: lineOf(data, k.name), Key: k.name,
					Err: fmt.Errorf("%d: in the global config only auto or 0 (the mode of new containers): %w", *k.v, ErrBadFile)}
			}
		}
	}
	if err := c.Validate(); err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			return nil, &FileError{File: name, Line: lineOf(data, ke.Key), Key: ke.Key,
				Err: fmt.Errorf("%w: %w", ke.Err, ErrBadFile)}
		}
		return nil, &FileError{File: name, Err: err}
	}
	return &c, nil
}

// Compiled on first use, not at package init: every process of the
// binary (vzctl, the supervisor, nsinit) would pay for it at start.
var decodeErrRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
})

// lineOf finds the line where key is assigned. The TOML decoder reports
// positions for syntax errors only, so unknown keys and bad values are
// located by looking for the assignment.
func lineOf(data []byte, key string) int {
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for i, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

// field returns the struct field of c that carries TOML key name.
func (c *Config) field(name string) reflect.Value {
	i, ok := fieldIndex()[name]
	if !ok {
		panic("conf: no field for key " + name)
	}
	return reflect.ValueOf(c).Elem().Field(i)
}

// fieldIndex maps each TOML key to its Config field, built once: Validate
// and Merge look up every key, and a scan of the struct's tags per lookup
// made loading a config quadratic in the number of keys (most of vzlist's
// time on a node with many containers).
var fieldIndex = sync.OnceValue(func() map[string]int {
	t := reflect.TypeFor[Config]()
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if name := t.Field(i).Tag.Get("toml"); name != "" {
			if _, dup := m[name]; !dup {
				m[name] = i
			}
		}
	}
	return m
})

// IsSet reports whether the layer sets key name.
func (c *Config) IsSet(name string) bool {
	return !c.field(name).IsNil()
}

// Unset clears key name in this layer.
func (c *Config) Unset(name string) {
	f := c.field(name)
	f.Set(reflect.Zero(f.Type()))
}

// Merge returns base overlaid with every key over sets: the later layer
// wins, key by key (global < sample < container < command line).
func Merge(layers ...*Config) *Config {
	out := &Config{}
	ov := reflect.ValueOf(out).Elem()
	for _, l := range layers {
		if l == nil {
			continue
		}
		lv := reflect.ValueOf(l).Elem()
		for i := 0; i < lv.NumField(); i++ {
			if lv.Type().Field(i).Name == extraField {
				continue
			}
			if !lv.Field(i).IsNil() {
				ov.Field(i).Set(lv.Field(i))
			}
		}
	}
	return out
}

// Encode renders the keys set in c as TOML, in table order.
func (c *Config) Encode() ([]byte, error) {
	var b bytes.Buffer
	for _, k := range Keys {
		f := c.field(k.Name)
		if f.IsNil() {
			continue
		}
		v := f.Interface()
		if f.Kind() == reflect.Pointer {
			v = f.Elem().Interface()
		}
		if err := toml.NewEncoder(&b).Encode(map[string]any{k.Name: v}); err != nil {
			return nil, fmt.Errorf("encoding key %s: %w", k.Name, err)
		}
	}
	if err := c.Extra.encode(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Save writes c to path atomically (temp file, fsync, rename), so a crash
// leaves the old file or the new one.
func (c *Config) Save(path string, header string) error {
	body, err := c.Encode()
	if err != nil {
		return err
	}
	data := append([]byte(header), body...)
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("%w: %w", err, ErrSave)
	}
	return nil
}

// Resource returns a stored resource key ("barrier:limit") parsed in its
// unit; ok is false when the key is unset or not a resource.
func (c *Config) Resource(name string) (bl BarrierLimit, ok bool) {
	k, found := KeyByName(name)
	unit, isRes := unitOfKind(k.Kind)
	if !found || !isRes || !c.IsSet(name) {
		return BarrierLimit{}, false
	}
	bl, err := ParseBarrierLimit(c.field(name).Elem().String(), unit)
	return bl, err == nil
}

// SetString sets key name from its command-line spelling: yes/no for
// booleans, decimal for numbers; list keys append. The value is checked
// by Validate, not here.
func (c *Config) SetString(name, value string) error {
	k, ok := KeyByName(name)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKey, name)
	}
	f := c.field(name)
	bad := func() error {
		return &KeyError{Key: name, Err: fmt.Errorf("bad value %q for %s: %w", value, k.Kind, ErrBadValue)}
	}
	if p, ok := f.Addr().Interface().(**IDBase); ok {
		v, err := ParseIDBase(value)
		if err != nil {
			return &KeyError{Key: name, Err: err}
		}
		*p = &v
		return nil
	}
	switch f.Type().Elem().Kind() {
	case reflect.String:
		if f.Kind() == reflect.Slice {
			f.Set(reflect.Append(f, reflect.ValueOf(value)))
			return nil
		}
		f.Set(reflect.ValueOf(&value))
	case reflect.Bool:
		var b bool
		switch strings.ToLower(value) {
		case "yes", "on", "true", "1":
			b = true
		case "no", "off", "false", "0":
		default:
			return bad()
		}
		f.Set(reflect.ValueOf(&b))
	case reflect.Int:
		i, err := strconv.Atoi(value)
		if err != nil {
			return bad()
		}
		f.Set(reflect.ValueOf(&i))
	case reflect.Float64:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return bad()
		}
		f.Set(reflect.ValueOf(&v))
	}
	return nil
}

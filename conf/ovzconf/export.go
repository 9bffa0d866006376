package ovzconf

import (
	"math"
	"reflect"
	"strconv"
	"strings"

	"govz/conf"
)

// exportSkip are rules Export does not write: older spellings of a key
// another rule writes, and what Export sets itself.
var exportSkip = map[string]bool{"DCACHE": true, "IPTENTRIES": true, "CPUWEIGHT": true, "CONFIGFILE": true,
	"LOCAL_UID": true, "LOCAL_GID": true, "VE_ROOT": true, "VE_PRIVATE": true, "VE_LAYOUT": true}

// FromConfig renders a govz container layer as vzctl 4.x's CTID.conf
// assignments for a simfs private area at /vz/private/$VEID: every key
// the mapping takes back, in the table's order. Convert reads the result
// back to the same layer (the keys govz has and vzctl has too).
func FromConfig(c *conf.Config) []Var {
	vars := []Var{
		{Key: "VE_LAYOUT", Value: "simfs"},
		{Key: "VE_ROOT", Value: "/vz/root/$VEID"},
		{Key: "VE_PRIVATE", Value: "/vz/private/$VEID"},
	}
	enc := encodedValues(c)
	for _, r := range Rules {
		if r.Govz == "" || exportSkip[r.VZ] || r.How == Node || r.How == Importer || r.How == Dropped {
			continue
		}
		if !c.IsSet(r.Govz) {
			continue
		}
		v := enc[r.Govz]
		switch r.VZ {
		case "IOLIMIT":
			v = ioBytes(v)
		}
		vars = append(vars, Var{Key: r.VZ, Value: v})
	}
	return vars
}

// encodedValues renders each set key in vzctl's spelling: booleans
// yes/no, lists blank-separated (NETIF ';'-separated), numbers decimal.
func encodedValues(c *conf.Config) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("toml")
		f := v.Field(i)
		if name == "" || name == "-" || f.IsNil() {
			continue
		}
		switch f.Kind() {
		case reflect.Slice:
			sep := " "
			if name == "netif" {
				sep = ";"
			}
			out[name] = strings.Join(f.Interface().([]string), sep)
		case reflect.Pointer:
			switch e := f.Elem().Interface().(type) {
			case bool:
				out[name] = conf.YesNo(e)
			case int:
				out[name] = strconv.Itoa(e)
			case float64:
				out[name] = strconv.FormatFloat(e, 'f', -1, 64)
			case string:
				out[name] = e
			case conf.IDBase:
				out[name] = e.String()
			}
		}
	}
	return out
}

// ioBytes turns govz's iolimit (a bare number is MB, or a suffix) into
// vzctl's bytes per second.
func ioBytes(v string) string {
	n, err := conf.ParseValue(v, conf.UnitBytes)
	if err != nil {
		return v
	}
	if !strings.ContainsAny(v[len(v)-1:], "bBkKmMgGtTpP") {
		n *= 1 << 20
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32 // vzctl's iolimit is an int
	}
	return strconv.FormatInt(n, 10)
}

package conf

import (
	"fmt"
	"strings"
)

// KeysMarkdown renders the key table as conf/KEYS.md; a test keeps the
// committed file equal to it (UPDATE_DOCS=1 go test ./conf rewrites it).
func KeysMarkdown() string {
	var b strings.Builder
	b.WriteString("# Configuration keys\n\n")
	b.WriteString("Generated from `conf/keys.go`; do not edit. Files are TOML: the global file\n")
	b.WriteString("`$VZ_ROOT/conf/vz.toml` (optional; `VZ_ROOT` defaults to `/vz`), one file per container\n")
	b.WriteString("`$VZ_ROOT/conf/CTID.toml`, and samples in `$VZ_ROOT/conf/samples/NAME.toml` (built-in:\n")
	b.WriteString("`" + strings.Join(SampleNames(), "`, `") + "`).\n\n")
	b.WriteString("Precedence: built-in defaults < vz.toml < sample (copied into the container's file at\n")
	b.WriteString("create) < container file < command line. A wrong type, a bad value, or a global key in\n")
	b.WriteString("a container file is an error naming the file, line and key. An unknown key is, as in vzctl,\n")
	b.WriteString("ignored, with a warning naming the file and line, and `vzctl set --save` keeps it.\n\n")
	b.WriteString("Sizes take vzctl's forms: a number with K, M, G, T (powers of 1024 bytes), P (pages) or\n")
	b.WriteString("B, fractions with a suffix (`2.2G`), `unlimited`, and `barrier:limit` pairs (one value\n")
	b.WriteString("sets both). They are stored normalised to the key's unit.\n\n")
	b.WriteString("| key | vzctl | type | default | where | live | meaning |\n|---|---|---|---|---|---|---|\n")
	for _, k := range Keys {
		where := "container (or vz.toml default)"
		if k.Scope == Global {
			where = "vz.toml only"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", k.Name, k.VZName, k.Kind, k.Default, where, k.Live, k.Help)
	}
	return b.String()
}

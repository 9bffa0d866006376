package clidoc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"govz/conf"
)

// ValuesVerb is the hidden first argument completion scripts call for the
// node's current names:
//
//	vzctl __complete ctids|templates|samples
//
// It reads only directory listings below $VZ_ROOT (and vz.toml for a moved
// template area): a Tab press must not wait on locks or containers.
const ValuesVerb = "__complete"

// Values prints one candidate a line for kind.
func Values(kind string, w io.Writer) error {
	p := conf.PathsFromEnv()
	var out []string
	switch kind {
	case "ctids":
		ents, _ := os.ReadDir(p.ConfDir())
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), ".toml")
			if ok && id != "" && strings.Trim(id, "0123456789") == "" {
				out = append(out, id)
			}
		}
		// Names are symlinks in names/, one per container.
		names, _ := os.ReadDir(p.NamesDir())
		for _, e := range names {
			out = append(out, e.Name())
		}
	case "templates":
		dir := filepath.Join(p.Root, "template")
		if g, err := conf.LoadGlobal(p); err == nil && g.Template != nil {
			dir = p.Expand(*g.Template, -1)
		}
		ents, _ := os.ReadDir(filepath.Join(dir, "cache"))
		for _, e := range ents {
			if i := strings.Index(e.Name(), ".tar"); i > 0 && !e.IsDir() {
				out = append(out, e.Name()[:i])
			}
		}
	case "samples":
		out = append(out, conf.SampleNames()...)
		ents, _ := os.ReadDir(p.SamplesDir())
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
				out = append(out, n)
			}
		}
	default:
		return fmt.Errorf("unknown completion kind %q (ctids, templates or samples)", kind)
	}
	sort.Strings(out)
	prev := ""
	for _, v := range out {
		if v != prev {
			fmt.Fprintln(w, v)
		}
		prev = v
	}
	return nil
}

package clidoc

import (
	"strconv"
	"strings"

	"govz/conf"
	"govz/internal/exitcode"
)

// ConfMan renders vz.toml(5) from conf's key table: the global file and the
// per-container CTID.toml files share one key set.
func ConfMan(version string) string {
	var b strings.Builder
	header(&b, "vz.toml", "5", version)
	b.WriteString(".SH NAME\nvz.toml, CTID.toml \\- govz global and container configuration\n")
	b.WriteString(".SH SYNOPSIS\n" + Italic("$VZ_ROOT/conf/vz.toml") + "\n.br\n" + Italic("$VZ_ROOT/conf/CTID.toml") +
		"\n.br\n" + Italic("$VZ_ROOT/conf/samples/NAME.toml") + "\n")
	b.WriteString(".SH DESCRIPTION\n")
	paragraphs(&b, "Files are TOML. The global file vz.toml is optional; VZ_ROOT defaults to "+conf.DefaultRoot+
		". Each container has CTID.toml, and samples (built-in: "+strings.Join(conf.SampleNames(), ", ")+
		") seed a new container's file at create.\n\n"+
		"Precedence: built-in defaults < vz.toml < sample (copied into the container's file at create) < "+
		"container file < command line. An unknown key, a wrong type, a bad value, or a global key in a "+
		"container file is an error naming the file, line and key.\n\n"+
		"Sizes take vzctl's forms: a number with K, M, G, T (powers of 1024 bytes), P (pages) or B, "+
		"fractions with a suffix (2.2G), unlimited, and barrier:limit pairs (one value sets both). "+
		"They are stored normalised to the key's unit.")
	keys := func(title string, scope conf.Scope) {
		b.WriteString(".SH " + title + "\n")
		for _, k := range conf.Keys {
			if k.Scope != scope {
				continue
			}
			b.WriteString(".TP\n" + Bold(k.Name) + " (" + Italic(k.Kind) + ")\n" + Escape(k.Help) + "\n")
			var facts []string
			if k.Default != "" {
				facts = append(facts, "Default: "+k.Default+".")
			}
			if k.VZName != "" {
				facts = append(facts, "vzctl: "+k.VZName+".")
			}
			if k.Live == "yes" || k.Live == "no" {
				facts = append(facts, "Changed live by vzctl set: "+k.Live+".")
			}
			if len(facts) > 0 {
				b.WriteString(".br\n" + Escape(strings.Join(facts, " ")) + "\n")
			}
		}
	}
	keys("GLOBAL KEYS", conf.Global)
	keys("CONTAINER KEYS", conf.CT)
	b.WriteString(".SH EXAMPLE\n.nf\nhostname = \"ct101\"\nip_address = [\"10.0.0.101\"]\nphyspages = \"0:262144\"\n.fi\n")
	b.WriteString(".SH SEE ALSO\n" + Bold("vzctl") + "(8), " + Bold("vzlist") + "(8)\n")
	return b.String()
}

// ExitCodes is vzctl's EXIT STATUS section, from the command layer's table.
func ExitCodes() Section {
	s := Section{Title: "Exit status", Text: "0 on success; otherwise vzctl's numbered codes (exec2 and exec3 return the command's own status):"}
	for _, c := range exitcode.Classes() {
		s.Items = append(s.Items, Item{Tag: Bold(strconv.Itoa(c.Code)), Text: capital(c.Err.Error()) + "."})
	}
	return s
}

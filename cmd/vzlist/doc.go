package main

import (
	"io"
	"os"
	"strings"

	"govz/ct/listing"
	"govz/internal/clidoc"
)

const description = `vzlist prints one line per container: by default the running ones, with -a all, with -S the stopped ones, or those named by CTID or name. Fields are chosen with -o and sorted with -s; -j prints JSON.`

// docTool is vzlist(8)'s source: the flag table and listing's field table.
func docTool() clidoc.Tool {
	var fields []string
	for _, f := range listing.Names() {
		fields = append(fields, f.Name)
	}
	return clidoc.Tool{App: newApp(io.Discard, io.Discard), Section: "8", Extra: []clidoc.Section{
		{Title: "Fields", Text: "Names for -o and -s (vzlist -L prints them with their headers): " + strings.Join(fields, ", ") + "."},
		{Title: "Exit status", Text: "0 on success, 1 on any error (as OpenVZ's vzlist)."},
		{Title: "Environment", Items: []clidoc.Item{{Tag: clidoc.Bold("VZ_ROOT"), Text: "Root of the installation (default /vz)."}}},
		{Title: "See also", Text: "vzctl(8), vz.toml(5)"},
	}}
}

func docMain(args []string) int { return clidoc.Run(docTool(), args, os.Stdout, os.Stderr) }

package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestQuickNames: the wrapped flags answer the names, help line and
// set-ness urfave/cli derives for the flags they wrap, and only
// Names() is replaced.
func TestQuickNames(t *testing.T) {
	plain := []cli.Flag{
		&cli.StringFlag{Name: "ram", Usage: "RAM"},
		&cli.StringSliceFlag{Name: "ipadd", Aliases: []string{"ip"}, Usage: "addresses"},
		&cli.GenericFlag{Name: "userpasswd", Value: &rawList{}, Usage: "USER:PASSWORD"},
		&cli.BoolFlag{Name: "save", Usage: "store"},
	}
	want := make([][]string, len(plain))
	help := make([]string, len(plain))
	for i, f := range plain {
		want[i], help[i] = f.Names(), f.String()
	}
	quick := quickNames(slices.Clone(plain))
	for i, f := range quick {
		if got := f.Names(); !slices.Equal(got, want[i]) {
			t.Errorf("flag %d: names %q, want %q", i, got, want[i])
		}
		if got := f.String(); got != help[i] {
			t.Errorf("flag %d: help %q, want %q", i, got, help[i])
		}
	}
	for i, typ := range []string{"*main.stringFlag", "*main.stringSliceFlag", "*main.genericFlag", "*cli.BoolFlag"} {
		if got := typeName(quick[i]); got != typ {
			t.Errorf("flag %d is a %s, want %s", i, got, typ)
		}
	}

	// Parsing through the wrappers: an alias and a repeated value arrive.
	var got []string
	app := &cli.App{Name: "x", Commands: []*cli.Command{{Name: "set", Flags: quick, Action: func(c *cli.Context) error {
		got = append(c.StringSlice("ipadd"), c.String("ram"))
		if !c.IsSet("ip") || c.IsSet("save") {
			t.Errorf("IsSet: ip %v, save %v; want true, false", c.IsSet("ip"), c.IsSet("save"))
		}
		return nil
	}}}}
	if err := app.Run([]string{"x", "set", "--ip", "10.0.0.1", "--ip", "10.0.0.2", "--ram", "1G"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2", "1G"}) {
		t.Errorf("parsed %q", got)
	}
}

func typeName(f cli.Flag) string {
	switch f.(type) {
	case *stringFlag:
		return "*main.stringFlag"
	case *stringSliceFlag:
		return "*main.stringSliceFlag"
	case *genericFlag:
		return "*main.genericFlag"
	case *cli.BoolFlag:
		return "*cli.BoolFlag"
	}
	return "?"
}

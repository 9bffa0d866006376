package main

import "github.com/urfave/cli/v2"

// quickNames gives the flags of a long list a Names() that runs no
// regexp. urfave/cli v2 derives a flag's names anew on every call
// (FlagNames: a regexp replace per name), and before every action
// runFlagActions asks IsSet of each flag, which looks an unset one up by
// calling Names() on the command's flags in turn: quadratic in the list.
// On set (~150 flags) that was ~10% of the CPU of a `vzctl set --ram`.
// Bool flags stay as they are: the help text tells them apart by type
// (urfave/cli help.go, flag.go), and there are few.
func quickNames(flags []cli.Flag) []cli.Flag {
	for i, f := range flags {
		switch t := f.(type) {
		case *cli.StringFlag:
			flags[i] = &stringFlag{t, t.Names()}
		case *cli.StringSliceFlag:
			flags[i] = &stringSliceFlag{t, t.Names()}
		case *cli.GenericFlag:
			flags[i] = &genericFlag{t, t.Names()}
		}
	}
	return flags
}

// The wrappers keep every method of the flag they embed (help, docs,
// completion and parsing see the same flag) but Names.
type (
	stringFlag struct {
		*cli.StringFlag
		names []string
	}
	stringSliceFlag struct {
		*cli.StringSliceFlag
		names []string
	}
	genericFlag struct {
		*cli.GenericFlag
		names []string
	}
)

func (f *stringFlag) Names() []string      { return f.names }
func (f *stringSliceFlag) Names() []string { return f.names }
func (f *genericFlag) Names() []string     { return f.names }

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"govz/conf"
	"govz/ct"
	"govz/ct/vzerror"
)

// setFlags maps vzctl set options to config keys. Options whose name is
// the key's are generated from the key table; these differ.
var setRenames = map[string]string{
	"stop-timeout": "stop_timeout",
}

// setSkip are keys set does not take as plain options.
var setSkip = map[string]bool{
	"ip_address": true, "origin_sample": true, "ve_layout": true, "netif": true,
	"stop_timeout": true, "ve_root": true, "ve_private": true,
}

func setCmd(e *env) *cli.Command {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "save", Usage: "store the changes in the container's config"},
		&cli.BoolFlag{Name: "force", Usage: "save even where this kernel cannot apply a key, or a local_uid/local_gid range another holder has"},
		&cli.StringFlag{Name: "setmode", Usage: "restart|ignore: what to do with changes a running container cannot take live"},
		&cli.StringSliceFlag{Name: "ipadd", Aliases: []string{"ip"}, Usage: "add a routed address, repeatable"},
		&cli.StringSliceFlag{Name: "ipdel", Usage: "remove an address, or all"},
		&cli.GenericFlag{Name: "userpasswd", Value: &rawList{}, Usage: "USER:PASSWORD, repeatable: set a guest user's password at once (the user is created if missing); hashed on the host, stored nowhere else; note that while vzctl runs its arguments are visible in ps; USER:- reads the password from stdin instead"},
		&cli.GenericFlag{Name: "ssh-key", Value: &rawList{}, Usage: "KEYLINE|FILE, repeatable: add public keys to the guest root's /root/.ssh/authorized_keys at once (running or stopped; a key already there is not added again); a value with a blank is one key line (TYPE BASE64 [COMMENT], no options), else a host file of them (an id_*.pub); stored nowhere else"},
		&cli.StringFlag{Name: "stop-timeout", Usage: "seconds to wait for a clean halt"},
		&cli.StringFlag{Name: "root", Usage: "mount point path"},
		&cli.StringFlag{Name: "private", Usage: "private area path"},
	}
	for _, k := range conf.Keys {
		if k.Scope != conf.CT || setSkip[k.Name] || ownsFlag(k.Name) {
			continue
		}
		if k.Kind == conf.KindList || k.Kind == conf.KindIP || k.Kind == conf.KindNameserver || k.Kind == conf.KindSearch {
			flags = append(flags, &cli.StringSliceFlag{Name: k.Name, Usage: k.Help})
		} else {
			flags = append(flags, &cli.StringFlag{Name: k.Name, Usage: k.Help})
		}
	}
	flags = append(flags, resourceFlags()...)
	flags = append(flags, netFlags()...)
	return &cli.Command{
		Name: "set", Usage: "change container parameters", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags:        quickNames(flags),
		Action: func(c *cli.Context) error {
			o := ct.SetOptions{Layer: &conf.Config{}, Save: c.Bool("save"), SetMode: c.String("setmode"), Force: c.Bool("force"),
				IPAdd: splitIPs(c, "ipadd", e.log.Warnf), IPDel: splitIPs(c, "ipdel", e.log.Warnf)}
			if o.SetMode != "" && o.SetMode != "restart" && o.SetMode != "ignore" {
				return fmt.Errorf("bad --setmode %q (restart or ignore): %w", o.SetMode, vzerror.ErrInvalidValue)
			}
			for _, name := range c.FlagNames() {
				key := name
				if r, ok := setRenames[name]; ok {
					key = r
				}
				if name == "root" {
					key = "ve_root"
				} else if name == "private" {
					key = "ve_private"
				}
				if _, ok := conf.KeyByName(key); !ok || !c.IsSet(name) || ownsFlag(name) {
					continue
				}
				vals := c.StringSlice(name)
				if vals == nil {
					vals = []string{c.String(name)}
				}
				for _, v := range vals {
					if err := setKey(o.Layer, key, v); err != nil {
						return err
					}
				}
			}
			if err := conf.ValidateFeatures(o.Layer.Features); err != nil {
				return err
			}
			if err := resourceOptions(c, &o, e.log.Warnf); err != nil {
				return err
			}
			stdinUsed := false
			for _, v := range c.Generic("userpasswd").(*rawList).vals {
				if user, ok := strings.CutSuffix(v, ":-"); ok {
					// USER:- reads the password from stdin's first line,
					// out of ps's sight.
					if stdinUsed {
						return fmt.Errorf("--userpasswd %s:-: only one password can come from stdin: %w", user, vzerror.ErrSyntax)
					}
					stdinUsed = true
					pw, err := readPassword(os.Stdin)
					if err != nil {
						return fmt.Errorf("--userpasswd %s:-: %w", user, err)
					}
					v = user + ":" + pw
				}
				up, err := ct.ParseUserPasswd(v)
				if err != nil {
					return err
				}
				o.UserPasswd = append(o.UserPasswd, up)
			}
			for _, v := range c.Generic("ssh-key").(*rawList).vals {
				keys, err := ct.ParseSSHKey(v)
				if err != nil {
					return err
				}
				o.SSHKeys = append(o.SSHKeys, keys...)
			}
			o.Net = netOptions(c)
			if o.Net.IfName != "" {
				o.IPAdd, o.IPDel = nil, nil // the interface's (netOptions)
			}
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Set(id, o) })
		},
	}
}

// setKey handles vzctl's list semantics: a list option given in one call
// replaces the list, and "inherit" stays a word.
func setKey(l *conf.Config, key, v string) error {
	for _, part := range conf.SplitItems([]string{v}) {
		if k, _ := conf.KeyByName(key); k.Kind != conf.KindList && k.Kind != conf.KindNameserver && k.Kind != conf.KindSearch {
			return l.SetString(key, v)
		}
		if err := l.SetString(key, part); err != nil {
			return err
		}
	}
	return nil
}

// splitIPs reads --ipadd or --ipdel the way vzctl does: each value is a
// blank-separated list, and the unspecified addresses clients pass for
// "none" are skipped (with a warning here; vzctl is silent).
func splitIPs(c *cli.Context, name string, warnf func(string, ...any)) []string {
	ips, skipped := conf.SplitIPs(c.StringSlice(name))
	for _, ip := range skipped {
		warnf("--%s %s skipped: not an address a container can have", name, ip)
	}
	return ips
}

// rawList is a repeatable option taken verbatim: a StringSliceFlag would
// split a password at its commas. Its String prints no value, so no help
// or error output can show a password.
type rawList struct{ vals []string }

func (l *rawList) Set(v string) error { l.vals = append(l.vals, v); return nil }
func (l *rawList) String() string     { return "" }

// readPassword reads one line (at most 4 KiB) from r without its line
// end.
func readPassword(r io.Reader) (string, error) {
	b, err := bufio.NewReaderSize(io.LimitReader(r, 4096), 4096).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from stdin: %w: %w", err, vzerror.ErrSystem)
	}
	if err == io.EOF && len(b) == 4096 {
		return "", fmt.Errorf("password on stdin longer than 4095 bytes: %w", vzerror.ErrInvalidValue)
	}
	return strings.TrimSuffix(strings.TrimSuffix(b, "\n"), "\r"), nil
}

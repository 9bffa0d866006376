package templates

import (
	"fmt"
	"slices"
	"strings"

	"govz/ct/vzerror"
)

// Inits and Networks are what the debian recipe can put in a guest: its
// init and what configures its network. The first of each is the default.
var (
	Inits    = []string{"systemd", "sysvinit", "openrc"}
	Networks = []string{"ifupdown", "networkd", "netplan", "networkmanager"}
)

// variant is one debian recipe build's init and network stack.
type variant struct {
	init, network string
}

// variantFor checks a requested init and network ("" = the default).
// netplan, networkd and NetworkManager are systemd-only in Debian (netplan
// renders for networkd, NetworkManager's Debian packaging ships only
// systemd units), so they need systemd.
func variantFor(init, network string) (variant, error) {
	v := variant{init: init, network: network}
	if v.init == "" {
		v.init = Inits[0]
	}
	if v.network == "" {
		v.network = Networks[0]
	}
	if !slices.Contains(Inits, v.init) {
		return variant{}, fmt.Errorf("unknown init %q (known: %s): %w", init, strings.Join(Inits, ", "), vzerror.ErrInvalidValue)
	}
	if !slices.Contains(Networks, v.network) {
		return variant{}, fmt.Errorf("unknown network %q (known: %s): %w", network, strings.Join(Networks, ", "), vzerror.ErrInvalidValue)
	}
	if v.init != "systemd" && v.network != "ifupdown" {
		return variant{}, fmt.Errorf("network %s needs init systemd, not %s: %w", v.network, v.init, vzerror.ErrInvalidValue)
	}
	return v, nil
}

// flavour is the template name's suffix, vzctl's -flavour: the parts that
// differ from the default (debian-12-x86_64-openrc,
// debian-12-x86_64-netplan); "" for the default build.
func (v variant) flavour() string {
	var s string
	if v.init != Inits[0] {
		s += "-" + v.init
	}
	if v.network != Networks[0] {
		s += "-" + v.network
	}
	return s
}

package checkpoint

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// A systemd guest's services may run in namespaces of their own, made by
// their unit's sandboxing settings (systemd.exec(5)). CRIU saves nested
// mount and network namespaces, but not nested UTS, IPC, user or PID
// namespaces (criu/namespaces.c refuses them: "Can't dump nested uts
// namespace"), so one such service makes the whole container
// uncheckpointable. Debian 12's systemd-logind has ProtectHostname=yes, as
// have systemd-timedated and systemd-localed (started on demand over
// D-Bus).
//
// What the guest loses with the drop-ins below is small: inside a
// container each of these namespaces is already the container's own, not
// the host's, so the service is still fenced off from the host; it only
// shares the hostname, System V IPC objects, user and PID namespace with
// the rest of the guest, as every other service there does.

// nsSetting is a unit setting that makes a namespace CRIU cannot save.
type nsSetting struct {
	key   string
	ns    string // the namespace it makes
	reset string // the assignment that turns it off
	// set reports whether a value turns the namespace on.
	set func(v string) bool
}

// sdTrue is systemd's boolean parse (parse_boolean()) for true.
func sdTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// notOff is for settings whose non-boolean values turn the namespace on
// too (ProtectHostname=private, PrivateUsers=self|identity|full).
func notOff(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "no", "n", "false", "f", "off":
		return false
	}
	return true
}

var nsSettings = []nsSetting{
	{key: "ProtectHostname", ns: "UTS", reset: "ProtectHostname=no", set: notOff},
	{key: "PrivateIPC", ns: "IPC", reset: "PrivateIPC=no", set: sdTrue},
	// Joining another unit's IPC namespace: that one is nested too.
	{key: "IPCNamespacePath", ns: "IPC", reset: "IPCNamespacePath=", set: func(v string) bool { return v != "" }},
	{key: "PrivateUsers", ns: "user", reset: "PrivateUsers=no", set: notOff},
	{key: "PrivatePIDs", ns: "PID", reset: "PrivatePIDs=no", set: sdTrue},
}

// Unit is a service unit of a guest as systemd loads it: its unit file
// and then its drop-ins, in the order systemd applies them.
type Unit struct {
	Name    string   // "systemd-logind.service"
	Sources [][]byte // the unit file first, then its drop-ins
}

// DropIn is a file to install in the guest.
type DropIn struct {
	Path    string // in the guest: /etc/systemd/system/UNIT.d/NAME
	Content []byte
}

// DropInName is the file name of govz's drop-ins.
const DropInName = "govz-checkpoint.conf"

// dropInHeader starts every drop-in govz writes; a file at the path
// without it is the admin's and is left alone.
const dropInHeader = "# Written by vzctl create for vzctl chkpnt (CRIU): "

// SystemdDropIns returns the drop-ins that turn off, in each unit, only
// the settings making namespaces CRIU cannot save; units without any get
// none.
func SystemdDropIns(units []Unit) []DropIn {
	var out []DropIn
	for _, u := range units {
		eff := map[string]string{}
		for _, src := range u.Sources {
			for k, v := range serviceSettings(src) {
				eff[k] = v
			}
		}
		var resets, names []string
		for _, s := range nsSettings {
			if v, ok := eff[s.key]; ok && s.set(v) {
				resets = append(resets, s.reset)
				names = append(names, fmt.Sprintf("%s=%s (a nested %s namespace)", s.key, v, s.ns))
			}
		}
		if len(resets) == 0 {
			continue
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%sCRIU cannot save a process\n", dropInHeader)
		fmt.Fprintf(&b, "# in a UTS, IPC, user or PID namespace of its own, which %s\n", u.Name)
		fmt.Fprintf(&b, "# makes with %s.\n", strings.Join(names, ", "))
		b.WriteString("# Inside a container these namespaces are the container's own already.\n")
		b.WriteString("# Remove this file if the container is never checkpointed or migrated.\n[Service]\n")
		for _, r := range resets {
			b.WriteString(r + "\n")
		}
		out = append(out, DropIn{Path: "/etc/systemd/system/" + u.Name + ".d/" + DropInName, Content: b.Bytes()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// IsOwnDropIn reports whether content is a drop-in govz wrote.
func IsOwnDropIn(content []byte) bool { return bytes.HasPrefix(content, []byte(dropInHeader)) }

// serviceSettings returns the last value of each namespace key in the
// [Service] section of a unit file or drop-in (systemd.syntax(7): later
// assignments win; an empty one resets to the default, here off).
func serviceSettings(src []byte) map[string]string {
	m := map[string]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cont string
	for sc.Scan() {
		line := cont + strings.TrimSpace(sc.Text())
		cont = ""
		// A backslash at the end continues the line.
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\") + " "
			continue
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Service" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		for _, s := range nsSettings {
			if s.key == k {
				m[k] = v
			}
		}
	}
	return m
}

package ct

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"govz/conf"
	"govz/ct/idmap"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// UserNSRange is how many IDs a container with LOCAL_UID/LOCAL_GID gets:
// container IDs 0..65535 map to LOCAL_UID.. on the host.
const UserNSRange = idmap.Size

// Host files listing the subordinate IDs of host users (subuid(5)): rootless
// podman, LXC and Incus run their containers there, so auto never hands
// those IDs to a container.
const (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
)

// idMappings turns a container's own LOCAL_UID and LOCAL_GID into the
// supervisor's user namespace mappings: none (identity) when both are unset
// or 0; an error (bad config, exit 85) when only one is set, when one is
// below UserNSRange (the host's own users and system IDs live there), when
// the range would pass the last ID, or when "auto" was never resolved.
//
// It reads the container's layer, not the merged config: in vz.toml the
// keys say what create gives new containers (auto or 0), and a container
// created before allocation existed, with no key in its file, keeps
// running identity-mapped whatever vz.toml says now.
func idMappings(layer *conf.Config) (uids, gids []supervisor.IDMap, err error) {
	uid, gid := conf.ID(layer.LocalUID), conf.ID(layer.LocalGID)
	if uid.IsAuto() || gid.IsAuto() {
		return nil, nil, fmt.Errorf("local_uid/local_gid = auto in a container's config is resolved by create and set only (vzctl set CTID --local_uid auto --save): %w", vzerror.ErrInvalidConfig)
	}
	if uid == 0 && gid == 0 {
		return nil, nil, nil
	}
	if uid == 0 || gid == 0 {
		return nil, nil, fmt.Errorf("local_uid and local_gid must be set together (got %d and %d): %w", uid, gid, vzerror.ErrInvalidConfig)
	}
	for _, v := range []struct {
		name string
		id   conf.IDBase
	}{{"local_uid", uid}, {"local_gid", gid}} {
		if v.id < UserNSRange || int64(v.id)+UserNSRange > math.MaxUint32 {
			return nil, nil, fmt.Errorf("%s %d: must be in %d..%d: %w", v.name, v.id, UserNSRange, int64(math.MaxUint32)-UserNSRange, vzerror.ErrInvalidConfig)
		}
	}
	return []supervisor.IDMap{{ContainerID: 0, HostID: uint32(uid), Size: UserNSRange}},
		[]supervisor.IDMap{{ContainerID: 0, HostID: uint32(gid), Size: UserNSRange}}, nil
}

// idSpec is a container's local_uid/local_gid as asked for: auto, 0
// (identity) or two host IDs.
type idSpec struct{ uid, gid conf.IDBase }

// pairIDs completes what a command line (or a default layer) gives: one
// key alone serves for both, auto and 0 only come in pairs (auto takes
// one number for both; a half-mapped container cannot start).
func pairIDs(uid, gid *conf.IDBase) (idSpec, error) {
	switch {
	case uid == nil && gid == nil:
		return idSpec{conf.AutoID, conf.AutoID}, nil
	case gid == nil:
		gid = uid
	case uid == nil:
		uid = gid
	}
	s := idSpec{*uid, *gid}
	if (s.uid.IsAuto() || s.gid.IsAuto() || s.uid == 0 || s.gid == 0) && s.uid != s.gid {
		return idSpec{}, fmt.Errorf("local_uid %s with local_gid %s: auto and 0 apply to both: %w", s.uid, s.gid, vzerror.ErrInvalidValue)
	}
	return s, nil
}

// identity reports whether the spec asks for no range of its own.
func (s idSpec) identity() bool { return s.uid == 0 }

// usedIDs lists the UID and GID ranges every container but except holds
// in its config, and those /etc/subuid and /etc/subgid give host users. A
// config that does not parse stops the scan: its range is unknown, and
// handing it out again is worse than refusing to allocate.
func (n *Node) usedIDs(except int) (uids, gids []idmap.Used, err error) {
	ids, err := n.IDs()
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if id == except {
			continue
		}
		c, err := n.LoadCT(id)
		if errors.Is(err, vzerror.ErrNoConfig) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cannot tell which IDs are free: %w", err)
		}
		owner := "container " + strconv.Itoa(id)
		if u := conf.ID(c.LocalUID); u > 0 {
			uids = append(uids, idmap.Used{Range: idmap.Of(uint64(u)), Owner: owner})
		}
		if g := conf.ID(c.LocalGID); g > 0 {
			gids = append(gids, idmap.Used{Range: idmap.Of(uint64(g)), Owner: owner})
		}
	}
	for _, f := range []struct {
		path string
		dst  *[]idmap.Used
	}{{n.subIDFile(subUIDFile), &uids}, {n.subIDFile(subGIDFile), &gids}} {
		data, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w: %w", f.path, err, vzerror.ErrSystem)
		}
		used, bad := idmap.ParseSubID(data, f.path)
		for _, l := range bad {
			n.Log.Warnf("%s: ignoring malformed line %q", f.path, l)
		}
		*f.dst = append(*f.dst, used...)
	}
	return uids, gids, nil
}

// subIDFile is the host's subordinate ID file, or the test's stand-in.
func (n *Node) subIDFile(path string) string {
	if n.SubIDFiles != nil {
		return n.SubIDFiles[path]
	}
	return path
}

// idPool is the node's pool for auto.
func (n *Node) idPool() (idmap.Range, error) {
	p := conf.Str(n.Global.LocalIDPool)
	if p == "" {
		p = idmap.DefaultPool
	}
	return idmap.ParsePool(p)
}

// assignIDs turns a spec into the numbers container id's config will hold:
// auto takes the lowest free aligned range of the pool for both keys; two
// numbers are checked against every other holder (refused, exit 21, unless
// force: an admin may share a range on purpose, at the cost of the
// isolation between the two). The caller holds the node lock from here to
// the write of the config, unless it only wants an early answer.
func (n *Node) assignIDs(id int, s idSpec, force bool) (idSpec, error) {
	if s.identity() {
		return idSpec{}, nil
	}
	uids, gids, err := n.usedIDs(id)
	if err != nil {
		return idSpec{}, err
	}
	if s.uid.IsAuto() {
		pool, err := n.idPool()
		if err != nil {
			return idSpec{}, fmt.Errorf("local_id_pool: %w", err)
		}
		base, err := idmap.Allocate(pool, append(uids, gids...))
		if err != nil {
			return idSpec{}, err
		}
		return idSpec{conf.IDBase(base), conf.IDBase(base)}, nil
	}
	for _, k := range []struct {
		name string
		v    conf.IDBase
		used []idmap.Used
	}{{"local_uid", s.uid, uids}, {"local_gid", s.gid, gids}} {
		r := idmap.Of(uint64(k.v))
		if o, clash := idmap.Conflict(r, k.used); clash {
			if !force {
				return idSpec{}, fmt.Errorf("%s %d: IDs %s overlap %s (%s); use auto, another range, or --force to share it: %w", k.name, k.v, r, o.Owner, o.Range, vzerror.ErrInvalidValue)
			}
			n.Log.Warnf("%s %d: IDs %s overlap %s (%s); shared because of --force", k.name, k.v, r, o.Owner, o.Range)
		}
	}
	return s, nil
}

// setIDs stores an assigned spec in a container's layer: always both keys,
// 0 included, so the file says how the container runs and vzlist shows it.
func (s idSpec) setIDs(layer *conf.Config) {
	u, g := s.uid, s.gid
	layer.LocalUID, layer.LocalGID = &u, &g
}

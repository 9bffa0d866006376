package ct

import (
	"fmt"
	"math"

	"govz/conf"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// UserNSRange is how many IDs a container with LOCAL_UID/LOCAL_GID gets:
// container IDs 0..65535 map to LOCAL_UID.. on the host.
const UserNSRange = 65536

// idMappings turns LOCAL_UID and LOCAL_GID into the supervisor's user
// namespace mappings: none when both are unset or 0; an error (bad config,
// exit 85) when only one is set, when one is below UserNSRange (the host's
// own users and system IDs live there) or when the range would pass the
// last ID.
func idMappings(eff *conf.Config) (uids, gids []supervisor.IDMap, err error) {
	uid, gid := conf.Int(eff.LocalUID, 0), conf.Int(eff.LocalGID, 0)
	if uid == 0 && gid == 0 {
		return nil, nil, nil
	}
	if uid == 0 || gid == 0 {
		return nil, nil, fmt.Errorf("local_uid and local_gid must be set together (got %d and %d): %w", uid, gid, vzerror.ErrInvalidConfig)
	}
	for _, v := range []struct {
		name string
		id   int
	}{{"local_uid", uid}, {"local_gid", gid}} {
		if v.id < UserNSRange || int64(v.id)+UserNSRange > math.MaxUint32 {
			return nil, nil, fmt.Errorf("%s %d: must be in %d..%d: %w", v.name, v.id, UserNSRange, int64(math.MaxUint32)-UserNSRange, vzerror.ErrInvalidConfig)
		}
	}
	return []supervisor.IDMap{{ContainerID: 0, HostID: uint32(uid), Size: UserNSRange}},
		[]supervisor.IDMap{{ContainerID: 0, HostID: uint32(gid), Size: UserNSRange}}, nil
}

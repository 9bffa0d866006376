package ct

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"govz/conf"
	"govz/ct/idmap"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
	"govz/ct/vzlog"

	"govz/internal/exitcode"
	"govz/internal/roottest"
)

func TestIDMappings(t *testing.T) {
	p := func(v int) *conf.IDBase { b := conf.IDBase(v); return &b }
	u, g, err := idMappings(&conf.Config{LocalUID: p(200000), LocalGID: p(300000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 1 || u[0] != (supervisor.IDMap{ContainerID: 0, HostID: 200000, Size: 65536}) ||
		len(g) != 1 || g[0] != (supervisor.IDMap{ContainerID: 0, HostID: 300000, Size: 65536}) {
		t.Errorf("mappings %+v %+v", u, g)
	}
	for _, c := range []*conf.Config{{}, {LocalUID: p(0), LocalGID: p(0)}} {
		if u, g, err := idMappings(c); err != nil || u != nil || g != nil {
			t.Errorf("no user namespace: %v %v %v", u, g, err)
		}
	}
	for name, c := range map[string]*conf.Config{
		"uid only":      {LocalUID: p(200000)},
		"gid only":      {LocalUID: p(0), LocalGID: p(200000)},
		"host range":    {LocalUID: p(1000), LocalGID: p(200000)},
		"past the last": {LocalUID: p(200000), LocalGID: p(0xffff0000)},
	} {
		if _, _, err := idMappings(c); !errors.Is(err, vzerror.ErrInvalidConfig) || exitcode.Of(err) != 85 {
			t.Errorf("%s: %v, want exit 85", name, err)
		}
	}
}

func TestPairIDs(t *testing.T) {
	p := func(v conf.IDBase) *conf.IDBase { return &v }
	for name, c := range map[string]struct {
		uid, gid *conf.IDBase
		want     idSpec
	}{
		"nothing: auto":       {nil, nil, idSpec{conf.AutoID, conf.AutoID}},
		"uid alone serves":    {p(200000), nil, idSpec{200000, 200000}},
		"gid alone serves":    {nil, p(0), idSpec{0, 0}},
		"two numbers":         {p(200000), p(300000), idSpec{200000, 300000}},
		"auto pair":           {p(conf.AutoID), p(conf.AutoID), idSpec{conf.AutoID, conf.AutoID}},
		"identity given once": {p(0), nil, idSpec{}},
	} {
		if got, err := pairIDs(c.uid, c.gid); err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", name, got, err, c.want)
		}
	}
	for name, c := range map[string][2]*conf.IDBase{
		"auto with a number": {p(conf.AutoID), p(200000)},
		"0 with a number":    {p(200000), p(0)},
		"auto with 0":        {p(0), p(conf.AutoID)},
	} {
		if _, err := pairIDs(c[0], c[1]); exitcode.Of(err) != 21 {
			t.Errorf("%s: %v, want exit 21", name, err)
		}
	}
}

// testNode is an installation under a temp dir holding the given container
// configs and subordinate ID files.
func testNode(t *testing.T, pool string, cts map[int]string, subuid, subgid string) *Node {
	t.Helper()
	root := t.TempDir()
	g := conf.Defaults()
	g.LocalIDPool = &pool
	n := &Node{Paths: conf.Paths{Root: root}, Global: g, Log: &vzlog.Logger{},
		SubIDFiles: map[string]string{subUIDFile: filepath.Join(root, "subuid"), subGIDFile: filepath.Join(root, "subgid")}}
	os.MkdirAll(n.Paths.ConfDir(), 0o755)
	for id, text := range cts {
		os.WriteFile(n.Paths.CTConfig(id), []byte(text), 0o644)
	}
	os.WriteFile(n.SubIDFiles[subUIDFile], []byte(subuid), 0o644)
	os.WriteFile(n.SubIDFiles[subGIDFile], []byte(subgid), 0o644)
	return n
}

func TestAssignIDs(t *testing.T) {
	auto := idSpec{conf.AutoID, conf.AutoID}
	n := testNode(t, "131072-1000000", map[int]string{
		101: "local_uid = 131072\nlocal_gid = 131072\n",
		102: "local_uid = 0\nlocal_gid = 0\n",
		103: "hostname = \"old\"\n", // created before allocation: identity
		104: "local_uid = 327680\nlocal_gid = 458752\n",
	}, "alice:196608:65536\n", "bob:262144:65536\n")
	// 131072 is container 101's, 196608 alice's UIDs, 262144 bob's GIDs,
	// 327680 104's UIDs; 393216 is free (104's GIDs are at 458752).
	got, err := n.assignIDs(105, auto, false)
	if err != nil || got != (idSpec{393216, 393216}) {
		t.Fatalf("auto: %v %v", got, err)
	}
	// A container's own range does not count against it.
	if got, err := n.assignIDs(101, idSpec{131072, 131072}, false); err != nil || got.uid != 131072 {
		t.Fatalf("own range: %v %v", got, err)
	}
	// UIDs and GIDs are separate spaces for explicit numbers.
	if _, err := n.assignIDs(105, idSpec{458752, 327680}, false); err != nil {
		t.Fatalf("uid at another's gids: %v", err)
	}
	for name, s := range map[string]idSpec{
		"another container's uids": {131072 + 100, 600000},
		"a host user's subuid":     {196608, 600000},
		"a host user's subgid":     {600000, 262144 + 65535},
	} {
		_, err := n.assignIDs(105, s, false)
		if exitcode.Of(err) != 21 || !strings.Contains(err.Error(), "overlap") {
			t.Errorf("%s: %v, want exit 21", name, err)
		}
		if _, err := n.assignIDs(105, s, true); err != nil {
			t.Errorf("%s forced: %v", name, err)
		}
	}
	if got, err := n.assignIDs(105, idSpec{}, false); err != nil || !got.identity() {
		t.Errorf("identity: %v %v", got, err)
	}
	// Full pool: exit 6; a broken config: exit 85, nothing handed out.
	full := testNode(t, "131072+65536", map[int]string{101: "local_uid = 131072\nlocal_gid = 131072\n"}, "", "")
	if _, err := full.assignIDs(102, auto, false); exitcode.Of(err) != 6 {
		t.Errorf("full pool: %v, want exit 6", err)
	}
	broken := testNode(t, idmap.DefaultPool, map[int]string{101: "local_uid = \"x\"\n"}, "", "")
	if _, err := broken.assignIDs(102, auto, false); exitcode.Of(err) != 85 {
		t.Errorf("broken config: %v, want exit 85", err)
	}
}

func TestIDMappingsUnresolvedAuto(t *testing.T) {
	auto := conf.AutoID
	if _, _, err := idMappings(&conf.Config{LocalUID: &auto, LocalGID: &auto}); exitcode.Of(err) != 85 {
		t.Errorf("unresolved auto: %v, want exit 85", err)
	}
}

func TestSetIDSpec(t *testing.T) {
	n := testNode(t, "131072-1000000", map[int]string{
		101: "local_uid = \"auto\"\nlocal_gid = \"auto\"\n", // written by hand
		102: "local_uid = 131072\nlocal_gid = 131072\n",
		103: "local_uid = 262144\nlocal_gid = 262144\n",
		104: "local_uid = 262144\nlocal_gid = 262144\n", // shares 103's, forced
	}, "", "")
	id := func(v conf.IDBase) *conf.IDBase { return &v }
	for _, c := range []struct {
		ct       int
		uid      *conf.IDBase
		want     idSpec
		change   bool
		scenario string
	}{
		{101, id(conf.AutoID), idSpec{conf.AutoID, conf.AutoID}, true, "auto in the file is resolved"},
		{102, id(conf.AutoID), idSpec{131072, 131072}, false, "auto keeps a range of its own"},
		{103, id(conf.AutoID), idSpec{conf.AutoID, conf.AutoID}, true, "auto moves a shared range"},
		{102, id(131072), idSpec{131072, 131072}, false, "the same number"},
		{102, id(0), idSpec{}, true, "to identity"},
		{102, nil, idSpec{131072, 131072}, false, "neither key given"},
	} {
		layer, err := n.LoadCT(c.ct)
		if err != nil {
			t.Fatal(err)
		}
		got, change, err := n.setIDSpec(c.ct, layer, SetOptions{Layer: &conf.Config{LocalUID: c.uid}})
		if err != nil || got != c.want || change != c.change {
			t.Errorf("%s: %v %v %v, want %v %v", c.scenario, got, change, err, c.want, c.change)
		}
	}
}

// TestCheckIDMappable: on a file system that refuses idmapped mounts
// (procfs stands in for 9p, NFS or an old tmpfs) the default falls back to
// identity; a range somebody asked for is refused with exit 5.
func TestCheckIDMappable(t *testing.T) {
	roottest.Require(t, "user namespaces, open_tree")
	n := testNode(t, idmap.DefaultPool, nil, "", "")
	auto := idSpec{conf.AutoID, conf.AutoID}
	if s, err := n.checkIDMappable(101, auto, true, "/proc", "dir"); err != nil || !s.identity() {
		t.Errorf("default on procfs: %v %v, want identity", s, err)
	}
	if _, err := n.checkIDMappable(101, auto, false, "/proc", "dir"); exitcode.Of(err) != 5 {
		t.Errorf("asked-for auto on procfs: %v, want exit 5", err)
	}
	if s, err := n.checkIDMappable(101, auto, false, t.TempDir(), "dir"); err != nil || s != auto {
		t.Errorf("on the temp dir's file system: %v %v", s, err)
	}
}

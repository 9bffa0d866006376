package ct

import (
	"errors"
	"testing"

	"govz/conf"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

func TestIDMappings(t *testing.T) {
	p := func(v int) *int { return &v }
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
		if _, _, err := idMappings(c); !errors.Is(err, vzerror.ErrInvalidConfig) || vzerror.Code(err) != 85 {
			t.Errorf("%s: %v, want exit 85", name, err)
		}
	}
}

package ct

import (
	"govz/conf"
	"govz/ct/storage"
)

// layoutOf returns the storage layout a container's config names.
func (n *Node) layoutOf(eff *conf.Config) (storage.Layout, error) {
	return storage.Open(conf.Str(eff.VELayout), n.Log)
}

// storageCT is container id as a layout sees it.
func (n *Node) storageCT(id int, eff *conf.Config) storage.CT {
	return storage.CT{ID: id, Private: n.path(eff.VEPrivate, id), Root: n.path(eff.VERoot, id)}
}

// diskLimits reads vzctl's disk limits from a config.
func diskLimits(eff *conf.Config) storage.Limits {
	lim := storage.NoLimits()
	if bl, ok := eff.Resource("diskspace"); ok {
		lim.SpaceSoftKB, lim.SpaceHardKB = bl.Barrier, bl.Limit
	}
	if bl, ok := eff.Resource("diskinodes"); ok {
		lim.InodesSoft, lim.InodesHard = bl.Barrier, bl.Limit
	}
	lim.GraceSeconds = int64(conf.Int(eff.QuotaTime, 0))
	return lim
}

// diskKeys are the keys whose change goes to the storage layout.
var diskKeys = []string{"diskspace", "diskinodes", "quotatime"}

// applyDiskLimits hands changed disk limits of a `vzctl set` to the
// container's layout: live when the private area is mounted (an image
// grows online), offline when the change is being saved. A change neither
// saved nor applicable live changes nothing, as Set then says.
func (n *Node) applyDiskLimits(id int, layer *conf.Config, o SetOptions) error {
	changed := false
	for _, k := range diskKeys {
		changed = changed || o.Layer.IsSet(k)
	}
	if !changed {
		return nil
	}
	old := diskLimits(n.Effective(layer))
	eff := n.Effective(conf.Merge(layer, o.Layer))
	c := n.storageCT(id, eff)
	mounted, err := isMountPoint(c.Root)
	if err != nil || (!mounted && !o.Save) {
		return nil
	}
	lay, err := n.layoutOf(eff)
	if err != nil {
		return err
	}
	return lay.SetLimits(c, old, diskLimits(eff), mounted)
}

// diskUsage is what vzlist shows as diskspace and diskinodes usage.
func (n *Node) diskUsage(id int, eff *conf.Config, mounted bool) storage.Usage {
	lay, err := n.layoutOf(eff)
	if err != nil {
		return storage.Usage{}
	}
	u, err := lay.Usage(n.storageCT(id, eff), mounted)
	if err != nil {
		n.Log.Debugf(1, "container %d: disk usage: %v", id, err)
	}
	return u
}

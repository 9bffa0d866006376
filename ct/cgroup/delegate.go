package cgroup

import "fmt"

// Delegate hands INNER to a container whose root is host uid:gid (a user
// namespace): the directory and the files that create and populate groups
// below it in every hierarchy change owner, so the guest's init can build
// its own tree there (the cgroup v2 delegation model of
// Documentation/admin-guide/cgroup-v2.rst, "Delegation Containment"; on v1
// the same files, tasks for cgroup.threads). Limits stay in OUTER, which
// remains host root's. Call it after Create and before the guest runs.
func (g *Group) Delegate(uid, gid int) error {
	for i := range g.hier {
		h := &g.hier[i]
		dir := h.hostPath(g.inner())
		if err := g.k.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("delegating cgroup %s: %w", dir, err)
		}
		files := []string{"cgroup.procs", "tasks"}
		if h.v2 {
			files = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}
		}
		for _, f := range files {
			p := dir + "/" + f
			if f != "cgroup.procs" && !g.k.Exists(p) {
				continue
			}
			if err := g.k.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("delegating cgroup %s: %w", p, err)
			}
		}
	}
	return nil
}

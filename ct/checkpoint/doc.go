// Package checkpoint saves a running container to a dump directory and
// brings it back, with CRIU (https://criu.org) driven over its RPC
// interface ("criu swrk", through github.com/checkpoint-restore/go-criu).
//
// The package has three parts:
//
//   - Engine (engine.go) is CRIU itself: version, dump, restore. The real
//     one starts `criu swrk` per call; tests use a fake.
//   - Policy (policy.go) turns what govz knows about a container (Target)
//     into CRIU's options, and Preflight refuses up front what CRIU cannot
//     save, with a one-line reason, while the container keeps running.
//     Both are pure functions of their inputs, unit-tested without root.
//   - Dump and Restore (dump.go) run the policy through an Engine and keep
//     the failure rules: a failed dump leaves the container running (CRIU
//     resumes the frozen tasks), a failed restore leaves the dump in place.
//
// # Why RPC and not the CLI
//
// The RPC answers are typed (a failed request says so in the response,
// not in text to be parsed), the version is a request of its own, and a
// restore with rst_sibling makes the restored tree's root a child of the
// caller: the container's supervisor, which must be init's parent to reap
// it, stays its parent after a restore.
//
// # systemd guests and cgroup v2
//
// CRIU saves every cgroup below the container's own (CriuOpts cg_root),
// empty ones included, since a systemd guest's PID 1 watches its empty
// slices' cgroup.events; the services' sandboxing that CRIU cannot save
// is turned off per unit at create (sdunits.go, docs/GUESTS.md). On a
// cgroup v2 host the tree is frozen with the container's cgroup.freeze.
// CRIU itself needs, on any host, /dev/net/tun (the tun module), an up
// loopback in the host's network namespace (its TCP repair probe) and a
// writable /tmp (its restore's mount roots): a real host has them; the
// cgroup v2 test VM (tests/cgroupv2_vm_test.go) sets them up.
//
// # Network
//
// A container's venet and bridged veths are pairs whose host end is in
// the host's network namespace; CRIU, restoring from inside the
// container's user namespace, may not create such a pair (EPERM). So the
// restore brings the container's network namespace back empty, and the
// caller's notifications rebuild it (ct/ctnet Restore): the pairs and the
// addresses before CRIU restores the sockets, the host's routes and rules
// after, while CRIU still holds the network locked.
//
// # Dump directory
//
// DUMPDIR/Dump.CTID (vzctl's name; --dumpfile chooses another) is a
// directory of CRIU images plus dump.log, and restore.log after a restore
// attempt. Its existence is what makes `vzctl status` say "suspended".
package checkpoint

package main

import (
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"govz/ct/migrate"
	"govz/internal/clidoc"
)

// docApp is vzmigrate's option table, the source of vzmigrate(8) and its
// completion. parse reads the options itself (five words, OpenVZ's
// spellings); TestDocsCoverTables holds parse to this table.
func docApp() *cli.App {
	return &cli.App{
		Name:      "vzmigrate",
		Usage:     "move a container to another node over ssh",
		UsageText: usage[len("usage: "):],
		ArgsUsage: "DEST CTID",
		Description: `vzmigrate moves container CTID (a number or a name) to the node DEST ([user@]host, reached with ssh -o BatchMode=yes as root with key authentication) with its config and private area; it keeps its CTID, name, addresses and limits there. DEST runs the same vzctl.

Offline: the container is stopped, its config and private area stream through ssh into vzctl receive on DEST, which commits them only once the stream's checksum matched; the container is started there if it ran here, and only then removed here. Until that switch any failure leaves the container here as it was (started again if it ran) and nothing registered on DEST. With -r no the private area stays here, the config renamed CTID.toml.migrated and the name released.

Online (--online, a running container; a stopped one migrates offline): its processes move with it, as OpenVZ's vzmigrate --online. What checkpointing (vzctl chkpnt) cannot save is refused before anything happens, with the reason (exit 14). Then: a first copy of the config and private area while it runs (the offline stream); memory pre-dumps while it runs, each sent to DEST and each holding only the pages written since the previous one (only where the kernel tracks written pages, CONFIG_MEM_SOFT_DIRTY; otherwise none, and the final dump saves all memory); an rsync of the private area; then the freeze: the final dump (vzctl chkpnt, onto the last pre-dump), a second rsync of only the entries whose inodes changed since the first, by their change times (a changed directory's entries compared, what is gone from it deleted; none at all when nothing changed), the final images sent; and vzctl restore on DEST, with the same PIDs. The downtime is that freeze up to the restore there. Until the restore there succeeded any failure leaves the container running here (restored here from its dump when the freeze had begun) and nothing on DEST (its copy set aside with --keep-dst); after it nothing is left here. The images travel to PRIVATE.dump beside the private area on DEST and are removed there. One ssh master connection (a socket in a private temporary directory here) carries all the steps; the session that receives the final images and restores is opened before the freeze. rsync is needed on both nodes. Routed (venet) addresses move with it: the source drops its routes and proxy entries with the dump, the destination announces the addresses (gratuitous ARP, unsolicited NA) as the restore routes them; established TCP connections are restored with it (stock CRIU up to 4.1.1 cannot save inet sockets on Linux 6.16 and later, scripts/criu-sockopt-6.16.patch fixes that: without it such a dump fails and the container runs on here). Bridged (NETIF) veths are saved and restored as vzctl chkpnt does.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "online", Usage: "migrate a running container live: first copy, memory pre-dumps, a short freeze for the final dump and the last changes, restore on DEST; what cannot be checkpointed is refused up front (exit 14)"},
			&cli.BoolFlag{Name: "keep-dst", Usage: "when the container does not start on DEST, set its copy aside there (CTID.toml.kept, PRIVATE.kept), unregistered, instead of destroying it; a cut copy is never kept (a stream does not resume)"},
			&cli.StringFlag{Name: "remove-area", Aliases: []string{"r"}, Usage: "remove the container's private area here after the migration, `yes|no` (default yes); with no it stays and its config is renamed CTID.toml.migrated"},
			&cli.StringFlag{Name: "ssh", Usage: "extra ssh options, one string split at spaces (`OPTS`)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object a line on stdout: progress events, then one done or error event with the exit code"},
		},
	}
}

func docTool() clidoc.Tool {
	var codes []clidoc.Item
	for _, c := range migrate.Codes() {
		codes = append(codes, clidoc.Item{Tag: clidoc.Bold(strconv.Itoa(c.Code)), Text: c.Text})
	}
	return clidoc.Tool{App: docApp(), Section: "8", Extra: []clidoc.Section{
		{Title: "JSON output", Text: `With --json every line of stdout is one JSON object with an "event" field: {"event":"progress","stage":S} for the stages check, stop, copy, start, cleanup (online: check, copy, predump once a round, sync, freeze, restore, cleanup; copy repeats with "done", bytes sent so far, and "total", -1: unknown); then exactly one {"event":"done","code":0,"result":{"ctid","dest","was_running","bytes","seconds","downtime_seconds","online","predumps"} and, online, "freeze":{"dump_seconds","sync_seconds","images_seconds","restore_seconds"}: the downtime split into the final dump, the last sync and the images (sent at once) and the restore there} or {"event":"error","code":N,"message":M} with the exit status N. Messages go to stderr.`},
		{Title: "Exit status", Text: "OpenVZ vzmigrate's codes:", Items: codes},
		{Title: "Environment", Items: []clidoc.Item{{Tag: clidoc.Bold("VZ_ROOT"), Text: "Root of the installation (default /vz); the destination's is its own."}}},
		{Title: "See also", Text: "vzctl(8), ssh(1)"},
	}}
}

func docMain(args []string) int { return clidoc.Run(docTool(), args, os.Stdout, os.Stderr) }

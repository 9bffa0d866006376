// Command vzifup-post is OpenVZ's vzifup-post for govz:
//
//	vzifup-post [--quiet] DEVICE
//	vzifup-post --watch
//
// The kernel deletes every proxy ARP/NDP entry of a device when the
// device goes down, so after `ifdown eth0; ifup eth0` (or `ip link set
// eth0 down/up`) the LAN no longer reaches the containers' routed
// addresses. The distribution's network scripts run this once DEVICE is
// up again (scripts/ifupdown/vzifup-post); it restores the entries of
// every running container (ctnet.IfUp) and announces the addresses.
// With --watch it stays, and does so for every link that comes up
// (ctnet.Watch), until SIGTERM or SIGINT. Run it in the network
// namespace the containers were started from.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"govz/ct/ctnet"
	"govz/ct/inventory"
	"govz/ct/lock"
	"govz/ct/recovery"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/internal/clidoc"

	"govz/internal/exitcode"
	"govz/internal/reexec"
	"govz/net/link"
	"govz/net/linkwatch"
)

func main() {
	// No hidden verb runs here (internal/reexec): refused, not parsed.
	if code, ok := reexec.Dispatch(os.Args, nil); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == clidoc.Verb {
		os.Exit(docMain(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	log := &vzlog.Logger{Prog: "vzifup-post", Out: stdout, Err: stderr}
	defer log.Close()
	if len(args) > 0 && args[0] == "--quiet" {
		log.Quiet = true
		args = args[1:]
	}
	if len(args) != 1 || (strings.HasPrefix(args[0], "-") && args[0] != "--watch") {
		fmt.Fprintln(stderr, "Usage: vzifup-post [--quiet] DEVICE | vzifup-post --watch")
		return exitcode.Of(vzerror.ErrSyntax)
	}
	err := func() error {
		// The node's inventory and its container locks (with the crash
		// recovery every lock holder owes) are all it needs: no runtime
		// is linked (deps_test.go).
		n, err := inventory.Open(log)
		if err != nil {
			return err
		}
		log.ConsoleLevel += n.Verbosity()
		log.OpenFile(n.LogFile(), n.LogLevel())
		lk := func(id int, op string, deadline time.Time) (*lock.Lock, error) {
			return recovery.LockUntil(n, id, op, deadline)
		}
		if args[0] != "--watch" {
			_, err = ctnet.IfUp(n, lk, args[0])
			return err
		}
		w, err := linkwatch.Open(link.AliasPrefix)
		if err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			<-sigs
			w.Close()
		}()
		log.Infof("Watching links")
		return ctnet.Watch(n, lk, w)
	}()
	if err != nil {
		m := strings.ReplaceAll(err.Error(), "\n", "; ")
		log.Errorf("%s", strings.ToUpper(m[:1])+m[1:])
	}
	return exitcode.Of(err)
}

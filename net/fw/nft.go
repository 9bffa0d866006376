package fw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// NFT runs the nft binary (package nftables) in the caller's network
// namespace: a script goes in on standard input, so `nft -f` applies it
// as one netlink transaction (all or nothing). The nft CLI rather than a
// netlink library: bridge rules with raw payload matches (the NDP
// link-layer options) are one line of nft each and many expressions
// spelled out by hand, and the scripts read as what `nft list` prints.
type NFT struct {
	// LockPath is the file whose flock serializes the node's changes.
	LockPath string
}

func (t NFT) bin() (string, error) {
	if p, err := exec.LookPath("nft"); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if st, err := os.Stat(dir + "/nft"); err == nil && !st.IsDir() {
			return dir + "/nft", nil
		}
	}
	return "", errors.New("finding nft (package nftables): not installed")
}

func (t NFT) run(stdin string, args ...string) ([]byte, error) {
	bin, err := t.bin()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// Apply runs script as one transaction.
func (t NFT) Apply(script string) error {
	_, err := t.run(script, "-f", "-")
	return err
}

// MapKeys lists the keys of a map; exists is false when its table does
// not exist.
func (t NFT) MapKeys(family, table, name string) (keys []string, exists bool, err error) {
	out, err := t.run("", "-j", "list", "table", family, table)
	if err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return nil, false, nil
		}
		return nil, false, err
	}
	keys, err = parseMapKeys(out, name)
	return keys, err == nil, err
}

// parseMapKeys reads the string keys of map name from `nft -j list`:
//
//	{"nftables": [..., {"map": {"name": "ports", ..., "elem": [["veth101.0", {"jump": ...}]]}}]}
func parseMapKeys(out []byte, name string) ([]string, error) {
	var doc struct {
		Nftables []struct {
			Map *struct {
				Name string            `json:"name"`
				Elem []json.RawMessage `json:"elem"`
			} `json:"map"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("parsing nft's listing: %w", err)
	}
	var keys []string
	for _, o := range doc.Nftables {
		if o.Map == nil || o.Map.Name != name {
			continue
		}
		for _, e := range o.Map.Elem {
			var pair []json.RawMessage
			var key string
			if err := json.Unmarshal(e, &pair); err != nil || len(pair) != 2 || json.Unmarshal(pair[0], &key) != nil {
				return nil, fmt.Errorf("parsing nft's listing: map element %s", e)
			}
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// Lock takes the node's nftables lock (flock, released by the kernel if
// the holder dies).
func (t NFT) Lock() (func(), error) {
	f, err := os.OpenFile(t.LockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the nftables lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", t.LockPath, err)
	}
	return func() { f.Close() }, nil
}

# govz: OpenVZ-style system containers on a stock kernel.
# `sudo make demo` sets everything up on a fresh Debian machine and shows a
# container; `sudo make test` runs the whole suite (needs root).

PREFIX   ?= /usr/local
VZ_ROOT  ?= /vz
GO       ?= go
BIN      := bin
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# -s -w: no symbol table or DWARF (panics still print Go stack traces).
# exec and every boot run a sealed memfd copy of vzctl (internal/exeseal,
# the CVE-2019-5736 answer), so its size is paid on each: 12 MB -> 8.6 MB.
LDFLAGS  := -s -w -X main.version=$(VERSION)
# urfave_cli_no_docs: leaves out the CLI library's markdown/man renderer
# (go-md2man and blackfriday), whose package init built tables in every
# process of the binary, vzctl's re-execs included (~2 ms of ~10 ms before
# main). Our man pages and completion are plain roff (internal/clidoc).
TAGS     := urfave_cli_no_docs
CMDS     := vzctl vzlist vztmpl vzmigrate vzifup-post
DEB_PKGS := busybox-static debootstrap tar gzip pigz xz-utils zstd bzip2 openssh-server rsync \
            btrfs-progs e2fsprogs iproute2 iptables nftables util-linux attr libcap2-bin procps psmisc \
            lxcfs zsh man-db \
            qemu-system-x86 qemu-utils linux-image-amd64 initramfs-tools
# Reused between local runs (CI pays once): the Debian template for tests
# and benchmarks.
DEV_CACHE ?= /var/cache/govz-dev

.PHONY: FORCE all build man completion deb deb-check deps deps-packages criu install template template-debian debian-template guest-templates demo test bench vet lint clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# Man pages and shell completion, generated from the binaries' own command
# and config-key tables (internal/clidoc) at build time, never committed:
# they cannot drift from what the binaries accept.
man: build
	@mkdir -p $(BIN)/man
	$(BIN)/vzctl __doc man >$(BIN)/man/vzctl.8
	$(BIN)/vzctl __doc conf-man >$(BIN)/man/vz.toml.5
	for c in vzlist vztmpl vzmigrate vzifup-post; do $(BIN)/$$c __doc man >$(BIN)/man/$$c.8 || exit 1; done

completion: build
	@mkdir -p $(BIN)/completion/bash $(BIN)/completion/zsh
	for c in $(CMDS); do \
	  $(BIN)/$$c __doc bash >$(BIN)/completion/bash/$$c && $(BIN)/$$c __doc zsh >$(BIN)/completion/zsh/_$$c || exit 1; done

# The Debian package (docs/PACKAGING.md): nFPM, pinned by packaging/go.mod,
# assembles it from a staging directory; no debian/ source tree.
DEB_VERSION ?= 0.0~git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)-1
DEB_MAINTAINER ?= govz maintainers <maintainers@govz.org>
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_STAGE   := $(BIN)/deb-stage
DEB_OUT     ?= .
DEB_FILE     = govz_$(DEB_VERSION)_$(DEB_ARCH).deb
deb: build man completion
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/sbin $(DEB_STAGE)/man8 $(DEB_STAGE)/man5 \
	  $(DEB_STAGE)/bash $(DEB_STAGE)/zsh $(DEB_STAGE)/systemd $(DEB_STAGE)/if-up.d
	install -m 0755 $(addprefix $(BIN)/,$(CMDS)) $(DEB_STAGE)/sbin/
	for f in $(BIN)/man/*.8; do gzip -9n <$$f >$(DEB_STAGE)/man8/$$(basename $$f).gz; done
	for f in $(BIN)/man/*.5; do gzip -9n <$$f >$(DEB_STAGE)/man5/$$(basename $$f).gz; done
	cp $(BIN)/completion/bash/* $(DEB_STAGE)/bash/ && cp $(BIN)/completion/zsh/* $(DEB_STAGE)/zsh/
	for f in vz.service vzifup-post.service; do \
	  sed -e 's|@SBINDIR@|/usr/sbin|' -e 's|@VZ_ROOT@|/vz|' scripts/systemd/$$f >$(DEB_STAGE)/systemd/$$f; done
	sed -e 's|@SBINDIR@|/usr/sbin|' -e 's|@VZ_ROOT@|/vz|' scripts/ifupdown/vzifup-post >$(DEB_STAGE)/if-up.d/vzifup-post
	printf 'govz ($(DEB_VERSION)) unstable; urgency=medium\n\n  * Built from %s.\n\n -- $(DEB_MAINTAINER)  %s\n' \
	  "$$(git rev-parse --short HEAD 2>/dev/null || echo source)" "$$(date -R)" | gzip -9n >$(DEB_STAGE)/changelog.Debian.gz
	rm -f $(DEB_OUT)/govz_*.deb
	sed -e 's|@STAGE@|$(abspath $(DEB_STAGE))|' -e 's|@SRC@|$(CURDIR)|' packaging/nfpm.yaml >$(DEB_STAGE)/nfpm.yaml
	DEB_VERSION=$(DEB_VERSION) DEB_ARCH=$(DEB_ARCH) DEB_MAINTAINER='$(DEB_MAINTAINER)' \
	  $(GO) -C packaging tool nfpm package --config $(abspath $(DEB_STAGE))/nfpm.yaml --packager deb --target $(abspath $(DEB_OUT))/$(DEB_FILE)

# What CI runs on its machine (root): install the package, read the man
# page, run the demo from /usr/sbin in a throwaway VZ_ROOT, remove the
# package and check that containers and configs stayed.
deb-check:
	sh packaging/deb-check.sh $$(ls -t govz_*.deb | head -1)

# deps = deps-packages, then criu (one after the other: both use apt).
# CI runs criu beside the template builds instead (.ci/run).
deps: deps-packages
	CRIU_CACHE=$(DEV_CACHE)/criu sh scripts/deps-criu.sh
deps-packages:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get)"; exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS) || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS); }
criu:
	CRIU_CACHE=$(DEV_CACHE)/criu sh scripts/deps-criu.sh

install: build man completion
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(addprefix $(BIN)/,$(CMDS)) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 $(BIN)/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 $(BIN)/man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(BIN)/completion/bash/* $(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	install -m 0644 $(BIN)/completion/zsh/* $(DESTDIR)$(PREFIX)/share/zsh/site-functions/
	install -d $(VZ_ROOT)/conf $(VZ_ROOT)/template/cache $(VZ_ROOT)/lock $(VZ_ROOT)/run $(VZ_ROOT)/log \
	  $(VZ_ROOT)/boot
	# Root only: the containers' trees below hold the guests' setuid-root
	# files (vzctl create/mount/start also close them again).
	install -d -m 0700 $(VZ_ROOT)/private $(VZ_ROOT)/root $(VZ_ROOT)/dump
	test -e $(VZ_ROOT)/conf/vz.toml || install -m 0644 conf/vz.toml.example $(VZ_ROOT)/conf/vz.toml
# ifupdown runs vzifup-post when a device comes up: the kernel dropped the
# containers' proxy ARP/NDP entries on it when it went down.
	install -d $(DESTDIR)/etc/network/if-up.d
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|' -e 's|@VZ_ROOT@|$(VZ_ROOT)|' scripts/ifupdown/vzifup-post \
	  >$(DESTDIR)/etc/network/if-up.d/vzifup-post
	chmod 0755 $(DESTDIR)/etc/network/if-up.d/vzifup-post
# The same without ifupdown, for any link whoever brings it up: enable with
# systemctl enable --now vzifup-post
	install -d $(DESTDIR)/etc/systemd/system
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|' -e 's|@VZ_ROOT@|$(VZ_ROOT)|' scripts/systemd/vzifup-post.service \
	  >$(DESTDIR)/etc/systemd/system/vzifup-post.service
# Containers come back after a node reboot: systemctl enable vz
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|' -e 's|@VZ_ROOT@|$(VZ_ROOT)|' scripts/systemd/vz.service \
	  >$(DESTDIR)/etc/systemd/system/vz.service

template: build
	VZ_ROOT=$(VZ_ROOT) $(BIN)/vztmpl build busybox

template-debian: build
	VZ_ROOT=$(VZ_ROOT) $(BIN)/vztmpl build debian

# The main job: build, install, make the busybox template, create a
# container, start it and show it running.
VZ := VZ_ROOT=$(VZ_ROOT) $(PREFIX)/sbin
demo: deps install template
	@echo "== container 101 from the busybox template"
	@$(VZ)/vzctl status 101 | grep -q ' exist ' || \
	  $(VZ)/vzctl create 101 --ostemplate busybox-$$(uname -m) --hostname ct101
	@$(VZ)/vzctl status 101 | grep -q ' running' || $(VZ)/vzctl start 101 --wait
	$(VZ)/vzctl status 101
	$(VZ)/vzlist
	$(VZ)/vzctl exec2 101 'echo "inside: $$(hostname), PID 1 is $$(cat /proc/1/comm)"; ps'

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# Linters, pinned, installed from the Go module proxy with go install into a
# directory named by their versions (a new pin installs afresh):
# staticcheck, and errorlint with -errorf (errors are wrapped with %w,
# compared with errors.Is/As).
STATICCHECK_VERSION := v0.8.2
ERRORLINT_VERSION   := v1.9.1
LINT_BIN     ?= $(DEV_CACHE)/lint/staticcheck-$(STATICCHECK_VERSION)_errorlint-$(ERRORLINT_VERSION)
$(LINT_BIN)/staticcheck:
	@mkdir -p $(LINT_BIN)
	GOBIN=$(LINT_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(LINT_BIN)/go-errorlint:
	@mkdir -p $(LINT_BIN)
	GOBIN=$(LINT_BIN) $(GO) install codeberg.org/polyfloyd/go-errorlint@$(ERRORLINT_VERSION)
lint: $(LINT_BIN)/staticcheck $(LINT_BIN)/go-errorlint
	$(LINT_BIN)/staticcheck ./...
	$(LINT_BIN)/go-errorlint -errorf ./...

# The Debian 12 systemd template the end-to-end tests boot, built once
# (debootstrap from Debian's mirror) and kept in $(DEV_CACHE).
# A cached template is kept while its key matches (scripts/dev-template.sh):
# a hash of the recipes and of the code that runs and packs them, so a
# changed recipe rebuilds and a fresh clone of the same sources does not.
ARCH        := $(shell uname -m)
TMPL_CACHE  := $(DEV_CACHE)/template/cache
DEBIAN_TMPL := $(TMPL_CACHE)/debian-12-$(ARCH).tar.gz
TMPL_KEY    := $(shell cat $(sort $(wildcard templates/recipes/*.sh)) $(addprefix templates/,build.go pack.go recipe.go \
  variant.go naming.go mirror.go contents.go) | sha256sum | cut -c1-16)
VZTMPL      := $(BIN)/vztmpl
$(VZTMPL): FORCE
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -o $@ ./cmd/vztmpl
debian-template: $(VZTMPL)
	sh scripts/dev-template.sh $(TMPL_CACHE) debian-12-$(ARCH) $(TMPL_KEY) $(VZTMPL) build debian

# The Debian 12 variants tests/guests_test.go boots (another init, another
# network stack). Each is derived from the template above (vztmpl build
# --base: apt installs and removes what differs, ~1 min) rather than a
# debootstrap of its own (~1.5-2.5 min), all at once: apt's downloads of one
# overlap another's dpkg runs.
GUEST_FLAVOURS := sysvinit:--init=sysvinit openrc:--init=openrc netplan:--network=netplan \
  networkmanager:--network=networkmanager
GUEST_JOBS     ?= 4
guest-templates: debian-template
	$(MAKE) --no-print-directory --output-sync=target -j$(GUEST_JOBS) $(addprefix guest-template-,$(foreach f,$(GUEST_FLAVOURS),$(word 1,$(subst :, ,$(f)))))
guest-template-%: $(VZTMPL)
	sh scripts/dev-template.sh $(TMPL_CACHE) debian-12-$(ARCH)-$* $(TMPL_KEY) \
	  $(VZTMPL) build debian $(word 2,$(subst :, ,$(filter $*:%,$(GUEST_FLAVOURS)))) --base debian-12-$(ARCH)

# Unit tests beside their packages, then end-to-end tests in tests/ that
# drive the built binaries. Root is required (namespaces, mounts, cgroups).
# The suite creates unprivileged containers (the product default); the key
# groups run a second time with identity-mapped ones (~3 min).
IDENTITY_GROUPS := TestBusyboxStartExecStop TestRebootAndPoweroffInside TestStartFailures TestStopTimeout \
  TestContainerRootIsConfined TestExecStdio.* TestConsole.* TestSetSaveRoundTrip TestVzlist TestLockedMountsNoSysAdmin \
  TestNetRouted TestNetBridged TestNetGuestConfined TestResLiveSetAndSave TestResForkBomb TestResMemoryHog \
  TestStorageBtrfsQuota TestStorageSecBtrfs TestStorageKilledCreate TestDebianSystemdGuest TestIDModeOfSuite
empty :=
space := $(empty) $(empty)
test: vet debian-template guest-templates
	GOVZ_DEV_CACHE=$(DEV_CACHE) GOVZ_DEBIAN_TEMPLATE=$(DEBIAN_TMPL) GOVZ_GUEST_TEMPLATES=$(TMPL_CACHE) $(GO) test -count=1 -timeout 50m ./...
	GOVZ_DEV_CACHE=$(DEV_CACHE) GOVZ_E2E_IDMODE=identity GOVZ_DEBIAN_TEMPLATE=$(DEBIAN_TMPL) \
	  $(GO) test -count=1 -timeout 10m -run '^($(subst $(space),|,$(strip $(IDENTITY_GROUPS))))$$' ./tests/

# Benchmarks against the kernel's lower bound and the peers (LXC, crun,
# runc, nspawn, GNU tar), ~10 min; BENCH_FLAGS=-quick for a smoke run;
# BENCH_FLAGS='-before DIR' also times an earlier build's DIR/vzctl in the
# start and exec sections (what a change cost, as a ratio from one run).
bench: build
	$(GO) run ./tests/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)

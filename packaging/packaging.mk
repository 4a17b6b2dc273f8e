# Cross build for the Raspberry Pi (linux/arm64), tests under qemu-user, and the
# .deb packages. Included by the Makefile; `make help` lists the targets.
# The arm64 sysroot is built from Debian's arm64 .debs unpacked into a folder:
# never install :arm64 packages into the host (apt would remove the amd64 OpenCV).
# It lives outside the clone so that every clone (and CI run) reuses it, and the
# Go build cache then also reuses gocv's cross-compiled C++ (the cgo flags name it).
ARM64_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/facegate-arm64
ARM64_SYSROOT := $(ARM64_CACHE)/sysroot
ARM64_DEBS := $(ARM64_CACHE)/aptroot/var/cache/apt/archives
BIN_ARM64 := bin/linux-arm64/facegate
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
BIN_NATIVE := bin/linux-$(HOST_ARCH)/facegate
# Packaged binaries are hardened as Debian expects (lintian: PIE, BIND_NOW).
RELEASE_FLAGS = -buildmode=pie -ldflags "$(LDFLAGS) -extldflags=-Wl,-z,now"
DIST := dist
ARM64_GO = GO="$(GO)" scripts/arm64-go.sh "$(ARM64_SYSROOT)"
# Packages whose tests run under qemu (cmd/facegate and test/hil stay on the host).
# -short: the unit tier; the mosquitto, Chromium and kill -9 tests run on the host.
# Skipped under qemu-user, where code runs ~10x slower and cannot exec arm64 children:
#   TestClientAgainstEmulator: its 10 s client timeout covers the emulator's
#   OpenCV face analysis, which alone takes ~5 s emulated (a timeout, not a wrong answer).
ARM64_TEST_PKGS ?= ./capture/... ./faceauth/... ./gate/... ./kiosk/... ./mqtt/... ./systemd/...
ARM64_TEST_SKIP ?= ^TestClientAgainstEmulator$$
ARM64_TEST_FLAGS ?= -count=1 -short -timeout 20m -skip '$(ARM64_TEST_SKIP)'
ARM64_APT := gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static file
DEB_APT := binutils
LINT_APT := lintian
DEB_INSTALL_APT := debootstrap proot qemu-user-static

# $(call apt_ensure,packages): apt-get install whichever are not installed.
apt_ensure = @missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

.PHONY: deps-arm64 build-arm64 test-arm64 deps-deb deb deb-amd64 deb-native deb-arm64 lint-deb deps-deb-install test-deb-install

deps-arm64: deps ## cross compilers, qemu-user and the arm64 OpenCV sysroot (cached in ARM64_CACHE)
	$(call apt_ensure,$(ARM64_APT))
	@scripts/arm64-sysroot.sh "$(ARM64_CACHE)"

build-arm64: deps-arm64 ## cross-compile bin/linux-arm64/facegate for the Raspberry Pi (cgo + OpenCV 4.6)
	@mkdir -p $(dir $(BIN_ARM64))
	$(ARM64_GO) build $(RELEASE_FLAGS) -o $(BIN_ARM64) ./cmd/facegate

test-arm64: build-arm64 ## the unit tests built for arm64 and run under qemu-user, then a crop smoke run of the arm64 binary
	$(ARM64_GO) test $(ARM64_TEST_FLAGS) -exec qemu-aarch64-static $(ARM64_TEST_PKGS)
	GO="$(GO)" scripts/arm64-smoke.sh $(BIN_ARM64) "$(ARM64_SYSROOT)"

deps-deb:
	$(call apt_ensure,$(DEB_APT))

deb: deb-amd64 deb-arm64 ## both .deb packages in dist/

deb-amd64: ## dist/facegate_<version>_amd64.deb (on an amd64 machine)
	@[ "$(HOST_ARCH)" = amd64 ] || { echo "deb-amd64: this machine is $(HOST_ARCH): use make deb-native"; exit 1; }
	@$(MAKE) --no-print-directory deb-native

deb-native: deps deps-deb ## the package for this machine's architecture, no cross tools (on a Pi: the arm64 one)
	@mkdir -p $(dir $(BIN_NATIVE))
	$(GO) build $(RELEASE_FLAGS) -o $(BIN_NATIVE) ./cmd/facegate
	GO="$(GO)" packaging/build-deb.sh $(HOST_ARCH) $(BIN_NATIVE) $(DIST)

deb-arm64: build-arm64 deps-deb ## dist/facegate_<version>_arm64.deb (Depends from the arm64 .debs' shlibs)
	GO="$(GO)" packaging/build-deb.sh arm64 $(BIN_ARM64) $(DIST) "$(ARM64_DEBS)"

lint-deb: ## lintian the packages in dist/ (fails on errors and warnings)
	$(call apt_ensure,$(LINT_APT))
	@ls $(DIST)/facegate_*.deb >/dev/null 2>&1 || { echo "lint-deb: no package in $(DIST)/: run make deb first"; exit 1; }
	lintian --fail-on error,warning --display-info $(DIST)/facegate_*.deb

deps-deb-install:
	$(call apt_ensure,$(DEB_INSTALL_APT))

test-deb-install: deb-arm64 deps-deb-install ## slow (~10 min): install the arm64 .deb in an emulated Debian and check user, conffile, binary
	GO="$(GO)" packaging/test-install.sh "$(ARM64_CACHE)" $$(ls -t $(DIST)/facegate_*_arm64.deb | head -1)

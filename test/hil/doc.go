// Package hil holds facegate's hardware-in-the-loop tests: the real GPIO
// character device (gpio-sim) and a real V4L2 device (v4l2loopback) in a
// throw-away qemu VM booting Debian's own kernel. They build only with
// -tags hil (`make test-hil`), so plain `go test ./...` never boots a VM.
//
// TestHIL (host) builds facegate and this package's test binary, boots the
// VM with vm.sh and runs the TestGuest* tests inside it; each TestGuest*
// skips outside the VM. See README.md.
package hil

//go:build hil

package hil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/syncbuf"
)

// startTimeout covers a facegate start in the VM: under TCG a process linked
// against OpenCV takes 10-15 s before main runs (more on a busy host).
const startTimeout = 60 * time.Second

func inVM() bool { return os.Getenv("HIL_IN_VM") == "1" }

// TestMain, in the VM, starts facegate once before the tests: the first start
// reads the binary and the OpenCV libraries over 9p and takes longest.
func TestMain(m *testing.M) {
	if inVM() && os.Getenv("FACEGATE_HIL_BIN") != "" {
		start := time.Now()
		out, err := exec.Command(filepath.Join(os.Getenv("FACEGATE_HIL_BIN"), "facegate"), "version").CombinedOutput()
		fmt.Printf("warm-up: facegate version took %s: %s %v\n", time.Since(start).Round(100*time.Millisecond), bytes.TrimSpace(out), err)
	}
	os.Exit(m.Run())
}

// guest skips a test outside the VM.
func guest(t *testing.T) {
	t.Helper()
	if !inVM() {
		t.Skip("runs inside the HIL VM only: TestHIL boots it (make test-hil)")
	}
}

// binary is one of the programs TestHIL built on the host.
func binary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(os.Getenv("FACEGATE_HIL_BIN"), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v (FACEGATE_HIL_BIN must name the directory TestHIL built into)", name, err)
	}
	return p
}

// simChip is one gpio-sim chip made through configfs.
type simChip struct {
	cfg   string // /sys/kernel/config/gpio-sim/<name>
	Name  string // gpiochipN
	Label string
	sysfs string // /sys/devices/platform/gpio-sim.N/gpiochipN
	lines int
}

// newSimChip creates a chip with the given label and line names (one line
// per name) and removes it at the end of the test.
func newSimChip(t *testing.T, name, label string, lines ...string) *simChip {
	t.Helper()
	c := &simChip{cfg: "/sys/kernel/config/gpio-sim/" + name, Label: label, lines: len(lines)}
	write := func(p, v string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			t.Fatalf("gpio-sim: %v", err)
		}
	}
	for _, d := range []string{c.cfg, c.cfg + "/bank0"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("gpio-sim (is the module loaded and configfs mounted?): %v", err)
		}
	}
	t.Cleanup(c.remove)
	write(c.cfg+"/bank0/num_lines", fmt.Sprint(len(lines)))
	write(c.cfg+"/bank0/label", label)
	for i, n := range lines {
		d := fmt.Sprintf("%s/bank0/line%d", c.cfg, i)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		write(d+"/name", n)
	}
	write(c.cfg+"/live", "1")
	dev := strings.TrimSpace(readFile(t, c.cfg+"/dev_name"))
	c.Name = strings.TrimSpace(readFile(t, c.cfg+"/bank0/chip_name"))
	c.sysfs = "/sys/devices/platform/" + dev + "/" + c.Name
	return c
}

func (c *simChip) remove() {
	os.WriteFile(c.cfg+"/live", []byte("0"), 0)
	for i := 0; i < c.lines; i++ {
		os.Remove(fmt.Sprintf("%s/bank0/line%d", c.cfg, i))
	}
	os.Remove(c.cfg + "/bank0")
	os.Remove(c.cfg)
}

// Value is the level line off has on the simulated wire: what facegate
// drives, or the pull when nobody drives it.
func (c *simChip) Value(t *testing.T, off int) string {
	t.Helper()
	return strings.TrimSpace(readFile(t, fmt.Sprintf("%s/sim_gpio%d/value", c.sysfs, off)))
}

// Pull sets what an undriven line reads: "pull-up" or "pull-down".
func (c *simChip) Pull(t *testing.T, off int, pull string) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("%s/sim_gpio%d/pull", c.sysfs, off), []byte(pull), 0); err != nil {
		t.Fatal(err)
	}
}

// WaitValue polls line off until it reads want.
func (c *simChip) WaitValue(t *testing.T, off int, want string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v := c.Value(t, off); v == want {
			return time.Now()
		} else if time.Now().After(deadline) {
			t.Fatalf("%s line %d: value %s, want %s after %s", c.Name, off, v, want, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// proc is a running facegate with its output collected.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t, "facegate"), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("facegate %v still running after %s\nstdout: %s\nstderr: %s", p.cmd.Args[1:], timeout, p.stdout.String(), p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// run runs facegate to the end.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := start(t, args...)
	code = p.wait(t, startTimeout+time.Minute)
	return code, p.stdout.String(), p.stderr.String()
}

// waitFor polls b until it contains s.
func waitFor(t *testing.T, what string, b *syncBuffer, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s after %s:\n%s", s, what, timeout, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer = syncbuf.Buffer

//go:build hil

package hil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warthog618/go-gpiocdev"
)

const chipLabel = "facegate-hil"

// Lines of the simulated chip.
const (
	lineRelay = iota
	lineDoor
	lineExit
	lineTamper
)

func gateChip(t *testing.T) *simChip {
	return newSimChip(t, strings.ReplaceAll(t.Name(), "/", "_"), chipLabel, "relay", "door", "exit", "tamper")
}

// lineInfo is what the kernel says about a line (requested, by whom).
func lineInfo(t *testing.T, c *simChip, off int) gpiocdev.LineInfo {
	t.Helper()
	ch, err := gpiocdev.NewChip(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	li, err := ch.LineInfo(off)
	if err != nil {
		t.Fatal(err)
	}
	return li
}

func writeConfig(t *testing.T, yml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "facegate.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGuestRelayPulse: the line goes active for the pulse, is held by
// "facegate" as an output meanwhile, and is inactive when the command exits 0.
func TestGuestRelayPulse(t *testing.T) {
	guest(t)
	tests := []struct {
		name      string
		args      func(c *simChip) []string
		line      int
		activeLow bool
		want      time.Duration
	}{
		{"chip name and offset", func(c *simChip) []string {
			return []string{"--chip", c.Name, "--line", "0", "--duration", "1500ms"}
		}, lineRelay, false, 1500 * time.Millisecond},
		{"chip label and line name", func(c *simChip) []string {
			return []string{"--chip", chipLabel, "--line", "relay", "--duration", "1500ms"}
		}, lineRelay, false, 1500 * time.Millisecond},
		{"chip path, active-low", func(c *simChip) []string {
			return []string{"--chip", "/dev/" + c.Name, "--line", "relay", "--active-low", "--duration", "1500ms"}
		}, lineRelay, true, 1500 * time.Millisecond},
		{"config file, flags override the line", func(c *simChip) []string {
			cfg := writeConfig(t, fmt.Sprintf("io:\n  relay: {driver: gpiocdev, chip: %s, line: relay, pulse: 1200ms}\n", chipLabel))
			return []string{"--config", cfg, "--line", "tamper"}
		}, lineTamper, false, 1200 * time.Millisecond},
		{"config file active-low, clamped to max_pulse", func(c *simChip) []string {
			cfg := writeConfig(t, fmt.Sprintf("io:\n  relay: {driver: gpiocdev, chip: %s, line: door, active_low: true, max_pulse: 1s}\n", chipLabel))
			return []string{"--config", cfg, "--duration", "30s"}
		}, lineDoor, true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := gateChip(t)
			active, inactive := "1", "0"
			if tt.activeLow {
				// Wired as docs/gate.md says: the pull holds an undriven
				// line at the level that means "locked".
				active, inactive = "0", "1"
				c.Pull(t, tt.line, "pull-up")
			}
			p := start(t, append([]string{"relay", "pulse"}, tt.args(c)...)...)
			on := c.WaitValue(t, tt.line, active, startTimeout)
			li := lineInfo(t, c, tt.line)
			if !li.Used || li.Consumer != "facegate" || li.Config.Direction != gpiocdev.LineDirectionOutput || li.Config.ActiveLow != tt.activeLow {
				t.Errorf("during the pulse: line info %+v", li)
			}
			off := c.WaitValue(t, tt.line, inactive, tt.want+30*time.Second)
			code := p.wait(t, 30*time.Second)
			if code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, p.stderr.String())
			}
			if v := c.Value(t, tt.line); v != inactive {
				t.Fatalf("after exit: value %s, want %s (inactive)", v, inactive)
			}
			if got := off.Sub(on); got < tt.want-150*time.Millisecond || got > tt.want+2*time.Second {
				t.Errorf("active for about %s, want %s", got, tt.want)
			}
			if !strings.Contains(p.stdout.String(), fmt.Sprintf("pulsed %s, line inactive", tt.want)) {
				t.Errorf("stdout %q", p.stdout.String())
			}
			t.Logf("line %d active for ~%s (asked %s)", tt.line, off.Sub(on).Round(10*time.Millisecond), tt.want)
		})
	}
}

// TestGuestRelayKillReleasesLine: after kill -9 mid-pulse the kernel releases
// the line, which then reads its pull: inactive when wired as documented.
func TestGuestRelayKillReleasesLine(t *testing.T) {
	guest(t)
	for _, activeLow := range []bool{false, true} {
		t.Run(fmt.Sprintf("active-low=%v", activeLow), func(t *testing.T) {
			c := gateChip(t)
			args := []string{"relay", "pulse", "--chip", c.Name, "--line", "relay", "--duration", "30s"}
			active, inactive := "1", "0"
			if activeLow {
				args = append(args, "--active-low")
				active, inactive = "0", "1"
				c.Pull(t, lineRelay, "pull-up")
			}
			p := start(t, args...)
			c.WaitValue(t, lineRelay, active, startTimeout)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.wait(t, 10*time.Second)
			c.WaitValue(t, lineRelay, inactive, 2*time.Second)
			if li := lineInfo(t, c, lineRelay); li.Used {
				t.Fatalf("line still requested after kill -9: %+v", li)
			}
		})
	}
}

// TestGuestRelaySIGTERM: a terminated pulse ends inactive with exit 1.
func TestGuestRelaySIGTERM(t *testing.T) {
	guest(t)
	c := gateChip(t)
	p := start(t, "relay", "pulse", "--chip", c.Name, "--line", "0", "--duration", "30s")
	c.WaitValue(t, lineRelay, "1", startTimeout)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\nstderr: %s", code, p.stderr.String())
	}
	if v := c.Value(t, lineRelay); v != "0" {
		t.Fatalf("value %s after SIGTERM", v)
	}
	if !strings.Contains(p.stderr.String(), "interrupted: pulse cut short, line inactive") {
		t.Errorf("stderr: %s", p.stderr.String())
	}
}

// TestGuestRelayErrors: the messages a user gets for the usual mistakes.
func TestGuestRelayErrors(t *testing.T) {
	guest(t)
	c := gateChip(t)
	holder, err := gpiocdev.RequestLine(c.Name, lineTamper, gpiocdev.AsOutput(0), gpiocdev.WithConsumer("hil-holder"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tests := []struct {
		name string
		args []string
		uid  int
		want string
	}{
		{"no such chip", []string{"--chip", "pinctrl-rp1", "--line", "GPIO17"}, 0,
			fmt.Sprintf(`relay: chip "pinctrl-rp1": no such GPIO chip (have: %s [%s, 4 lines])`, c.Name, chipLabel)},
		{"no such line name", []string{"--chip", c.Name, "--line", "GPIO17"}, 0,
			`no such GPIO line (have: 0=relay, 1=door, 2=exit, 3=tamper)`},
		{"offset out of range", []string{"--chip", c.Name, "--line", "4"}, 0, `line "4": no such GPIO line`},
		{"busy", []string{"--chip", c.Name, "--line", "tamper"}, 0, `GPIO line busy (held by "hil-holder")`},
		{"permission", []string{"--chip", c.Name, "--line", "relay"}, 65534,
			`permission denied on the GPIO chip: run as a member of the gpio group`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary(t, "facegate"), append([]string{"relay", "pulse", "--duration", "100ms"}, tt.args...)...)
			if tt.uid != 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(tt.uid), Gid: uint32(tt.uid)}}
			}
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
				t.Fatalf("want exit 2, got %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
	if v := c.Value(t, lineRelay); v != "0" {
		t.Fatalf("relay line %s after the failures", v)
	}
}

// TestGuestRelayWatch drives the inputs through the simulated pulls and reads
// the events `facegate relay watch` prints, with kernel debounce.
func TestGuestRelayWatch(t *testing.T) {
	guest(t)
	c := gateChip(t)
	// Door: the contact holds the line high while the door is shut, so
	// active_low (low = open).
	c.Pull(t, lineDoor, "pull-up")
	cfg := writeConfig(t, fmt.Sprintf(`io:
  relay: {driver: gpiocdev, chip: %s, line: relay}
  door: {line: door, active_low: true, debounce: 100ms, held_open_after: 3s}
  exit_button: {line: exit, debounce: 10ms}
  tamper: {line: tamper, debounce: 10ms}
`, chipLabel))
	p := start(t, "relay", "watch", "--config", cfg)
	waitFor(t, "stderr", &p.stderr, "(door closed)", startTimeout)

	step := func(line int, pull, want string, n int) {
		t.Helper()
		c.Pull(t, line, pull)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(p.stdout.String(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("after %s on line %d: no %d× %q in:\n%s\nstderr: %s", pull, line, n, want, p.stdout.String(), p.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	step(lineDoor, "pull-down", "door-forced", 1)
	step(lineDoor, "pull-up", "door-closed", 1)
	// A bouncing contact: five changes well inside the 100 ms debounce make
	// one opening.
	for _, pull := range []string{"pull-down", "pull-up", "pull-down", "pull-up"} {
		c.Pull(t, lineDoor, pull)
	}
	step(lineDoor, "pull-down", "door-held-open", 1)
	if n := strings.Count(p.stdout.String(), "door-forced"); n != 2 {
		t.Fatalf("%d door-forced events after a bounce, want 2:\n%s", n, p.stdout.String())
	}
	step(lineDoor, "pull-up", "door-closed", 2)
	step(lineExit, "pull-up", "exit-pressed", 1)
	c.Pull(t, lineExit, "pull-down")
	step(lineTamper, "pull-up", "tamper-alarm", 1)
	step(lineTamper, "pull-down", "tamper-cleared", 1)

	if li := lineInfo(t, c, lineDoor); li.Consumer != "facegate" || !li.Config.Debounced {
		t.Errorf("door line info %+v: want consumer facegate, kernel debounce", li)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT\nstderr: %s", code, p.stderr.String())
	}
	if li := lineInfo(t, c, lineRelay); li.Used {
		t.Errorf("watch requested the relay line: %+v", li)
	}
	t.Logf("events:\n%s", p.stdout.String())
}

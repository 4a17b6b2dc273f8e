package config

import "time"

// GateIO is the relay and the optional inputs and outputs (docs/gate.md).
// Inputs and outputs use the relay's driver; one is enabled by giving its
// line. An empty chip means the relay's chip.
type GateIO struct {
	Relay      Relay      `yaml:"relay"`
	Door       Door       `yaml:"door"`
	ExitButton ExitButton `yaml:"exit_button"`
	Tamper     InputLine  `yaml:"tamper"`
	// FireAlarm is the fire panel's contact: active starts an evacuation
	// of the whole site (zones.evacuation, docs/site.md).
	FireAlarm InputLine  `yaml:"fire_alarm"`
	LEDs      LEDs       `yaml:"leds"`
	Buzzer    OutputLine `yaml:"buzzer"`
}

// Relay is the output that opens the gate.
type Relay struct {
	// Driver is gpiocdev, sim or none.
	Driver string `yaml:"driver"`
	// Chip is a name (gpiochip0), a label (pinctrl-bcm2711) or a path.
	Chip string `yaml:"chip"`
	// Line is an offset ("17") or a name ("GPIO17").
	Line      string `yaml:"line"`
	ActiveLow bool   `yaml:"active_low"`
	// Drive is push-pull (default), open-drain or open-source.
	Drive string `yaml:"drive"`
	// Bias is as-is (default), disabled, pull-up or pull-down.
	Bias     string        `yaml:"bias"`
	Pulse    time.Duration `yaml:"pulse"`
	MaxPulse time.Duration `yaml:"max_pulse"`
}

// InputLine is one input: active means door open, button pressed, tamper alarm.
type InputLine struct {
	Chip      string `yaml:"chip"`
	Line      string `yaml:"line"`
	ActiveLow bool   `yaml:"active_low"`
	Bias      string `yaml:"bias"`
	// Debounce: a level must hold this long to count (0 turns it off).
	Debounce time.Duration `yaml:"debounce"`
}

// Door is the door contact.
type Door struct {
	InputLine `yaml:",inline"`
	// HeldOpenAfter: an opening this long is reported as held open.
	HeldOpenAfter time.Duration `yaml:"held_open_after"`
	// GrantGrace: after a pulse ends, the door may still open this long
	// without being reported as forced.
	GrantGrace time.Duration `yaml:"grant_grace"`
}

// ExitButton is the request-to-exit button: a press pulses the relay locally.
type ExitButton struct {
	InputLine `yaml:",inline"`
	// Pulse length for a press (relay.pulse when zero).
	Pulse time.Duration `yaml:"pulse"`
}

// LEDs are the optional indicator lamps.
type LEDs struct {
	Green OutputLine `yaml:"green"`
	Red   OutputLine `yaml:"red"`
}

// OutputLine is one optional indicator output (LED, buzzer).
type OutputLine struct {
	Chip      string `yaml:"chip"`
	Line      string `yaml:"line"`
	ActiveLow bool   `yaml:"active_low"`
	Drive     string `yaml:"drive"`
}

func (g *GateIO) setDefaults() {
	g.Relay.Driver = "sim"
	g.Relay.Chip = "gpiochip0"
	g.Relay.Line = "GPIO17"
	g.Relay.Pulse = time.Second
	g.Relay.MaxPulse = 10 * time.Second
	g.Door.Debounce = 50 * time.Millisecond
	g.Door.HeldOpenAfter = 30 * time.Second
	g.Door.GrantGrace = 3 * time.Second
	g.ExitButton.Debounce = 50 * time.Millisecond
	g.Tamper.Debounce = 50 * time.Millisecond
	g.FireAlarm.Debounce = 50 * time.Millisecond
}

func (g *GateIO) validate() error {
	r := &g.Relay
	if err := enum("io.relay.driver", r.Driver, "gpiocdev", "sim", "none"); err != nil {
		return err
	}
	if err := between("io.relay.max_pulse", r.MaxPulse, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if r.Pulse < time.Millisecond || r.Pulse > r.MaxPulse {
		return fieldError("io.relay.pulse", "%s must be between 1ms and max_pulse (%s)", r.Pulse, r.MaxPulse)
	}
	if r.Driver == "gpiocdev" && (r.Chip == "" || r.Line == "") {
		return fieldError("io.relay", "driver gpiocdev needs chip and line")
	}
	if err := enum("io.relay.drive", r.Drive, drives...); err != nil {
		return err
	}
	if err := enum("io.relay.bias", r.Bias, biases...); err != nil {
		return err
	}

	inputs := []struct {
		name string
		in   *InputLine
	}{{"io.door", &g.Door.InputLine}, {"io.exit_button", &g.ExitButton.InputLine}, {"io.tamper", &g.Tamper}, {"io.fire_alarm", &g.FireAlarm}}
	for _, i := range inputs {
		if err := enum(i.name+".bias", i.in.Bias, biases...); err != nil {
			return err
		}
		if err := between(i.name+".debounce", i.in.Debounce, 0, time.Second); err != nil {
			return err
		}
	}
	if err := between("io.door.held_open_after", g.Door.HeldOpenAfter, time.Second, time.Hour); err != nil {
		return err
	}
	if err := between("io.door.grant_grace", g.Door.GrantGrace, 0, time.Minute); err != nil {
		return err
	}
	if g.ExitButton.Pulse < 0 || g.ExitButton.Pulse > r.MaxPulse {
		return fieldError("io.exit_button.pulse", "%s must be between 0 (relay.pulse) and max_pulse (%s)", g.ExitButton.Pulse, r.MaxPulse)
	}
	outputs := []struct {
		name string
		out  *OutputLine
	}{{"io.leds.green", &g.LEDs.Green}, {"io.leds.red", &g.LEDs.Red}, {"io.buzzer", &g.Buzzer}}
	for _, o := range outputs {
		if err := enum(o.name+".drive", o.out.Drive, drives...); err != nil {
			return err
		}
	}

	// Every used line once: a line cannot be two things.
	used := map[[2]string]string{}
	if r.Driver != "none" {
		used[[2]string{r.Chip, r.Line}] = "io.relay"
	}
	check := func(name, chip, line string) error {
		if line == "" {
			return nil
		}
		if r.Driver == "none" {
			return fieldError(name, "needs io.relay.driver gpiocdev or sim (it is none)")
		}
		if chip == "" {
			chip = r.Chip
		}
		k := [2]string{chip, line}
		if other, ok := used[k]; ok {
			return fieldError(name+".line", "chip %q line %q is already used by %s", chip, line, other)
		}
		used[k] = name
		return nil
	}
	for _, i := range inputs {
		if err := check(i.name, i.in.Chip, i.in.Line); err != nil {
			return err
		}
	}
	for _, o := range outputs {
		if err := check(o.name, o.out.Chip, o.out.Line); err != nil {
			return err
		}
	}
	return nil
}

// The line settings; empty means the kernel's default (push-pull, as-is).
var (
	drives = []string{"", "push-pull", "open-drain", "open-source"}
	biases = []string{"", "as-is", "disabled", "pull-up", "pull-down"}
)

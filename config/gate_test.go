package config

import (
	"testing"
	"time"
)

func TestGateIOValid(t *testing.T) {
	yml := `
io:
  relay: {driver: gpiocdev, chip: pinctrl-rp1, line: GPIO17, active_low: true, drive: open-drain, bias: pull-up, pulse: 2s, max_pulse: 20s}
  door: {line: GPIO27, active_low: true, bias: pull-up, debounce: 30ms, held_open_after: 45s, grant_grace: 5s}
  exit_button: {line: "22", pulse: 5s}
  tamper: {chip: gpiochip4, line: GPIO17}
  leds: {green: {line: GPIO5}, red: {line: GPIO6, active_low: true}}
  buzzer: {line: GPIO13, drive: open-source}
`
	c, err := Parse("f.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	io := c.IO
	if io.Relay.Chip != "pinctrl-rp1" || !io.Relay.ActiveLow || io.Relay.Pulse != 2*time.Second ||
		io.Door.Line != "GPIO27" || io.Door.Debounce != 30*time.Millisecond || io.Door.HeldOpenAfter != 45*time.Second ||
		io.ExitButton.Line != "22" || io.ExitButton.Debounce != 50*time.Millisecond ||
		io.LEDs.Red.Line != "GPIO6" || io.Buzzer.Drive != "open-source" {
		t.Fatalf("%+v", io)
	}
}

func TestGateIOErrors(t *testing.T) {
	tests := []struct {
		yml, want string
	}{
		{"io:\n  relay:\n    driver: wiringpi\n",
			`f.yaml:3: io.relay.driver: "wiringpi" is not gpiocdev, sim or none`},
		{"io:\n  relay:\n    max_pulse: 2m\n",
			`f.yaml:3: io.relay.max_pulse: 2m0s must be between 1ms and 60s`},
		{"io:\n  relay:\n    pulse: 11s\n",
			`f.yaml:3: io.relay.pulse: 11s must be between 1ms and max_pulse (10s)`},
		{"io:\n  relay:\n    driver: gpiocdev\n    line: \"\"\n",
			`f.yaml:2: io.relay: driver gpiocdev needs chip and line`},
		{"io:\n  relay:\n    drive: totem\n",
			`f.yaml:3: io.relay.drive: "totem" is not push-pull, open-drain or open-source`},
		{"io:\n  door:\n    line: GPIO27\n    bias: up\n",
			`f.yaml:4: io.door.bias: "up" is not as-is, disabled, pull-up or pull-down`},
		{"io:\n  tamper:\n    debounce: 2s\n",
			`f.yaml:3: io.tamper.debounce: 2s must be between 0 and 1s`},
		{"io:\n  door:\n    held_open_after: 0s\n",
			`f.yaml:3: io.door.held_open_after: 0s must be between 1s and 1h`},
		{"io:\n  exit_button:\n    pulse: 30s\n",
			`f.yaml:3: io.exit_button.pulse: 30s must be between 0 (relay.pulse) and max_pulse (10s)`},
		{"io:\n  door:\n    line: GPIO17\n",
			`f.yaml:3: io.door.line: chip "gpiochip0" line "GPIO17" is already used by io.relay`},
		{"io:\n  leds:\n    green: {line: \"5\"}\n    red: {chip: gpiochip0, line: \"5\"}\n",
			`f.yaml:4: io.leds.red.line: chip "gpiochip0" line "5" is already used by io.leds.green`},
		{"io:\n  relay: {driver: none}\n  buzzer: {line: \"5\"}\n",
			`f.yaml:3: io.buzzer: needs io.relay.driver gpiocdev or sim (it is none)`},
		{"io:\n  door:\n    line: GPIO27\n    pull: up\n",
			`f.yaml:4: io.door: field pull is not a known key`},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.yml), nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got  %v\n want %s", tt.yml, err, tt.want)
		}
	}
}

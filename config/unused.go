package config

// UnusedSettings lists what the file turns on that its mode never uses,
// each with the key and why: `config check` and `run` warn about them.
// They are not refused, as a gate that ran with them must still start.
func (c *Config) UnusedSettings() []string {
	var out []string
	if c.Mode == ModeMuster {
		if c.Kiosk.Open.Enabled {
			out = append(out, "kiosk.open.enabled: an assembly-point kiosk (mode: muster) opens nothing: POST /api/open answers 403")
		}
		if c.MQTT.Enabled && c.MQTT.Commands.Open.Enabled {
			out = append(out, "mqtt.commands.open.enabled: an assembly-point kiosk (mode: muster) opens nothing: cmd/open is refused")
		}
	}
	return out
}

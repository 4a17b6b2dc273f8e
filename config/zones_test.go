package config

import (
	"strings"
	"testing"
	"time"
)

const siteYAML = `
site: plant
gate: north
mqtt:
  enabled: true
  urls: ["tcp://127.0.0.1:1883"]
zones:
  enabled: true
  list:
    - name: site
      max_occupancy: 200
    - {name: zone-b, inside: site, hazardous: true, max_occupancy: 5, occupancy_mode: soft}
  door: {from: site, to: zone-b, direction: entry}
  anti_passback: {mode: hard, window: 12h, require_path: all}
  reset_at: "04:00"
  evacuation: {release_relay: true}
io:
  fire_alarm: {line: GPIO26, active_low: true}
`

func TestZonesValid(t *testing.T) {
	c, err := Parse("f.yaml", []byte(siteYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	z := c.Zones
	if !z.Enabled || c.Mode != ModeGate || z.SiteTopicFor(c.Site) != "facegate/plant" ||
		len(z.List) != 2 || z.List[0].Inside != Outside || z.List[0].OccupancyMode != "hard" ||
		z.List[1].Inside != "site" || !z.List[1].Hazardous || z.List[1].OccupancyMode != "soft" ||
		z.Door != (ZoneDoor{From: "site", To: "zone-b", Direction: DirectionEntry}) ||
		z.AntiPassback != (SitePassback{Mode: "hard", Window: 12 * time.Hour, RequirePath: RequirePathAll}) ||
		z.ResetAt != "04:00" || !z.Evacuation.ReleaseRelay ||
		c.IO.FireAlarm.Line != "GPIO26" || c.IO.FireAlarm.Debounce != 50*time.Millisecond {
		t.Fatalf("%+v\n%+v", z, c.IO.FireAlarm)
	}
	if zb, ok := z.Zone("zone-b"); !ok || zb.MaxOccupancy != 5 {
		t.Fatalf("Zone(zone-b) = %+v %v", zb, ok)
	}
	// Defaults: off, entrance outside → site, untimed, hazardous paths.
	d := Default()
	if d.Mode != ModeGate || d.Zones.Enabled || d.Zones.Door != (ZoneDoor{From: Outside, To: "site", Direction: DirectionEntry}) ||
		d.Zones.AntiPassback != (SitePassback{Mode: "off", RequirePath: RequirePathHazardous}) || d.Zones.Evacuation.ReleaseRelay {
		t.Fatalf("defaults %+v", d.Zones)
	}
	// A muster kiosk needs no door.
	m, err := Parse("m.yaml", []byte("mode: muster\nzones:\n  enabled: true\n  list: [{name: site}]\n  door: {from: nowhere}\n"), nil)
	if err != nil || m.Mode != ModeMuster {
		t.Fatalf("muster: %v", err)
	}
	// A configured prefix that matches the site topic is fine.
	y := strings.Replace(siteYAML, "  enabled: true\n  urls", "  enabled: true\n  prefix: sites/plant/north\n  urls", 1)
	y = strings.Replace(y, "zones:\n  enabled: true\n", "zones:\n  enabled: true\n  site_topic: sites/plant\n", 1)
	if _, err := Parse("p.yaml", []byte(y), nil); err != nil {
		t.Fatal(err)
	}
}

func TestZonesErrors(t *testing.T) {
	on := "zones:\n  enabled: true\n"
	tests := []struct{ yml, want string }{
		{"mode: turnstile\n", `f.yaml:1: mode: "turnstile" is not gate or muster`},
		{"mode: muster\nzones: {enabled: true, list: [{name: site}]}\nio:\n  exit_button: {line: GPIO22}\n",
			`f.yaml:4: io.exit_button.line: an assembly-point kiosk (mode muster) opens nothing: remove the exit button`},
		{"mode: muster\n", `f.yaml:1: mode: muster needs zones.enabled: true (the muster list is the site's presence)`},
		{on, `f.yaml:1: zones.list: zones are enabled: declare at least one zone (e.g. - {name: site})`},
		{on + "  list:\n    - name: site\n    - name: site\n",
			`f.yaml:5: zones.list[1].name: "site" is declared twice (also zones.list[0])`},
		{on + "  list:\n    - name: outside\n", `f.yaml:4: zones.list[0].name: "outside" is implicit: do not declare it`},
		{on + "  list:\n    - name: zone b\n", `f.yaml:4: zones.list[0].name: "zone b" must be 1-64 characters of letters, digits, '-' or '_'`},
		{on + "  list:\n    - {name: site}\n    - {name: \"\", inside: site}\n", `f.yaml:5: zones.list[1].name: a zone needs a name`},
		// The name is checked before the zone's other fields.
		{on + "  list:\n    - {name: a/b, occupancy_mode: strict}\n", `f.yaml:4: zones.list[0].name: "a/b" must be 1-64 characters of letters, digits, '-' or '_'`},
		{on + "  list:\n    - {name: site}\n    - {name: b, inside: yard}\n",
			`f.yaml:5: zones.list[1].inside: "yard" is not a declared zone (declared: site, b)`},
		// The missing zone is named (it used to read as a cycle through a).
		{on + "  list:\n    - {name: a, inside: b}\n    - {name: b, inside: yard}\n",
			`f.yaml:5: zones.list[1].inside: "yard" is not a declared zone (declared: a, b)`},
		{on + "  list:\n    - {name: a, inside: b}\n    - {name: b, inside: a}\n",
			`f.yaml:4: zones.list[0].inside: zone "a" lies inside itself (a cycle of inside:)`},
		{on + "  list:\n    - {name: a, inside: a}\n",
			`f.yaml:4: zones.list[0].inside: zone "a" lies inside itself (a cycle of inside:)`},
		{on + "  list:\n    - {name: a, occupancy_mode: strict}\n", `f.yaml:4: zones.list[0].occupancy_mode: "strict" is not hard or soft`},
		{on + "  list:\n    - {name: a, max_occupancy: -1}\n", `f.yaml:4: zones.list[0].max_occupancy: -1 must be between 0 and 1000000; 0 means no maximum`},
		{on + "  list: [{name: site}]\n  door:\n    to: yard\n",
			`f.yaml:5: zones.door.to: "yard" is not a declared zone or outside (declared: site)`},
		{on + "  list: [{name: site}]\n  door:\n    from: site\n",
			`f.yaml:4: zones.door.to: "site" is the door's from zone too: a door leads from one zone into another`},
		{on + "  list: [{name: site}]\n  door:\n    direction: in\n", `f.yaml:5: zones.door.direction: "in" is not entry, exit or both`},
		{"zones:\n  anti_passback:\n    mode: strict\n", `f.yaml:3: zones.anti_passback.mode: "strict" is not off, soft or hard`},
		{"zones:\n  anti_passback:\n    window: 200h\n", `f.yaml:3: zones.anti_passback.window: 200h0m0s must be between 0 and 168h; 0 means untimed`},
		{"zones:\n  anti_passback:\n    require_path: some\n", `f.yaml:3: zones.anti_passback.require_path: "some" is not none, hazardous or all`},
		{"zones:\n  reset_at: \"4:00\"\n", `f.yaml:2: zones.reset_at: "4:00" is not a time of day as HH:MM (e.g. 04:00), or "" for no reset`},
		{"zones:\n  reset_at: \"24:00\"\n", `f.yaml:2: zones.reset_at: "24:00" is not a time of day as HH:MM (e.g. 04:00), or "" for no reset`},
		{"zones:\n  reset_at: \"04:00\"\n  time_zone: Mars/Olympus\n", `f.yaml:3: zones.time_zone: "Mars/Olympus" is not a time zone of this machine's tz database (an IANA name such as Europe/Berlin), or "" for the machine's own: unknown time zone Mars/Olympus`},
		{"zones:\n  time_zone: Local\n", `f.yaml:2: zones.time_zone: "Local" is not a time zone of this machine's tz database (an IANA name such as Europe/Berlin), or "" for the machine's own: "Local" is not an IANA name`},
		{"zones:\n  time_zone: ../../etc/passwd\n", `f.yaml:2: zones.time_zone: "../../etc/passwd" is not a time zone of this machine's tz database (an IANA name such as Europe/Berlin), or "" for the machine's own: time: invalid location name`},
		{"zones:\n  site_topic: facegate/+\n", `f.yaml:2: zones.site_topic: "facegate/+" must be a topic without wildcards, empty levels or a leading/trailing '/'`},
		{"mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  prefix: gates/north\n" + on + "  list: [{name: site}]\n",
			`f.yaml:4: mqtt.prefix: with zones on, the mqtt prefix must be <site_topic>/<gate> = "facegate/site/gate" (it is "gates/north")`},
		{"mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n" + on + "  site_topic: plant\n  list: [{name: site}]\n",
			`f.yaml:6: zones.site_topic: with zones on, the mqtt prefix must be <site_topic>/<gate> = "plant/gate" (it is "facegate/site/gate")`},
		{"zones:\n  evacuation:\n    fire_alarm: GPIO4\n", `f.yaml:3: zones.evacuation: field fire_alarm is not a known key`},
		{"zones: {enabled: true, list: [{name: site}]}\nio:\n  fire_alarm:\n    line: GPIO17\n", `f.yaml:4: io.fire_alarm.line: chip "gpiochip0" line "GPIO17" is already used by io.relay`},
		{"io:\n  fire_alarm:\n    line: GPIO26\n", `f.yaml:3: io.fire_alarm.line: the fire alarm starts an evacuation of the site: it needs zones.enabled: true`},
		{"io:\n  fire_alarm:\n    debounce: 3s\n", `f.yaml:3: io.fire_alarm.debounce: 3s must be between 0 and 1s`},
		{"zones:\n  page_token: short\n", `f.yaml:2: zones.page_token: must be at least 24 characters`},
		{"mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  commands:\n    open: {secret: short-secret}\n" + on + "  list: [{name: site}]\n",
			`f.yaml:5: mqtt.commands.open.secret: with zones on it signs the site commands: at least 16 bytes, or unset to turn the site commands off`},
		{"zones:\n  page_token: same-token-for-both-0123456\n  admin_token: same-token-for-both-0123456\n",
			`f.yaml:3: zones.admin_token: must differ from every other token (whoever may read or identify must not be able to change the record)`},
		{"kiosk:\n  open:\n    enabled: true\n    token: same-token-for-both-0123456\nzones:\n  page_token: same-token-for-both-0123456\n",
			`f.yaml:6: zones.page_token: must differ from kiosk.open.token (the page token is given to screens that show who is on site; with the same value they could open the gate)`},
		{"kiosk:\n  open:\n    enabled: true\n    token: same-token-for-both-0123456\nzones:\n  admin_token: same-token-for-both-0123456\n",
			`f.yaml:6: zones.admin_token: must differ from every other token (whoever may read or identify must not be able to change the record)`},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.yml), nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got  %v\n want %s", tt.yml, err, tt.want)
		}
	}
}

// A short command secret is fine while nothing uses it: no zones, no open.
func TestShortCommandSecretWithoutZones(t *testing.T) {
	for _, yml := range []string{
		"mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  commands:\n    open: {secret: short-secret}\n",
		"mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  commands:\n    open: {secret: site-secret-0123456789}\nzones:\n  enabled: true\n  list: [{name: site}]\n",
	} {
		if _, err := Parse("f.yaml", []byte(yml), nil); err != nil {
			t.Errorf("%q: %v", yml, err)
		}
	}
}

func TestSiteTokensFromEnvironment(t *testing.T) {
	c, err := Parse("f.yaml", []byte("site: s\n"), envOf(map[string]string{
		"FACEGATE_SITE_TOKEN": "read-token-0123456789abcdef", "FACEGATE_SITE_ADMIN_TOKEN": "admin-token-0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Zones.PageToken.Value() != "read-token-0123456789abcdef" || c.Zones.AdminToken.Value() != "admin-token-0123456789abcdef" {
		t.Fatalf("tokens %q %q", c.Zones.PageToken.Value(), c.Zones.AdminToken.Value())
	}
	out, err := c.Redacted()
	if err != nil || strings.Contains(string(out), "0123456789abcdef") {
		t.Fatalf("Redacted shows a site token (%v):\n%s", err, out)
	}
}

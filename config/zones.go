package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/facegate/facegate/internal/zonerules"
)

// The values of Config.Mode.
const (
	// ModeGate is a gate: identify, face, relay (the default).
	ModeGate = "gate"
	// ModeMuster is an assembly-point kiosk: identify and face as usual,
	// never a relay; a match checks the person off the muster list of the
	// running evacuation (docs/site.md).
	ModeMuster = "muster"
)

// Outside is the implicit zone everyone is in until a gate lets them in;
// it is never declared in zones.list.
const Outside = zonerules.Outside

// The values of ZoneDoor.Direction.
const (
	DirectionEntry = "entry"
	DirectionExit  = "exit"
	DirectionBoth  = "both"
)

// The values of SitePassback.RequirePath.
const (
	RequirePathNone      = "none"
	RequirePathHazardous = "hazardous"
	RequirePathAll       = "all"
)

// Zones is the site this gate belongs to (docs/site.md): the zones of the
// site, the door this gate is, the site-wide anti-passback and the
// evacuation. Off by default: a gate on its own needs none of it.
type Zones struct {
	Enabled bool `yaml:"enabled"`
	// SiteTopic is the MQTT topic the gates of one site share; every
	// gate's mqtt prefix must then be <site_topic>/<gate>. Empty means
	// facegate/<site> (see SiteTopicFor).
	SiteTopic string `yaml:"site_topic"`
	// List declares the zones; "outside" is implicit.
	List []Zone `yaml:"list"`
	// Door is what passing this gate means.
	Door ZoneDoor `yaml:"door"`
	// AntiPassback is the site-wide check (policy.anti_passback still
	// applies to this gate alone).
	AntiPassback SitePassback `yaml:"anti_passback"`
	// ResetAt is a local time of day ("04:00") at which everyone is
	// recorded outside again (a forgotten exit does not lock anyone out
	// the next day); "" never resets.
	ResetAt string `yaml:"reset_at"`
	// TimeZone is the IANA zone reset_at is read in ("Europe/Berlin"); ""
	// is the machine's own (TZ, /etc/localtime). Every gate of a site must
	// reset at the same instant: set it on all of them.
	TimeZone string `yaml:"time_zone"`
	// Evacuation is what this gate does while the site is evacuated.
	Evacuation Evacuation `yaml:"evacuation"`
	// PageToken lets other machines read /site, /site.json and
	// /site/muster.csv (a bearer token, or ?token= once to set a cookie);
	// this machine reads them without it. Unset: this machine only.
	PageToken Secret `yaml:"page_token"`
	// AdminToken allows POST /api/site/correct and /api/site/evacuation,
	// from this machine only (like POST /api/open). Unset: both are off.
	AdminToken Secret `yaml:"admin_token"`
}

// Zone is one declared zone.
type Zone struct {
	Name string `yaml:"name"`
	// Inside is the zone this one lies in; "" or "outside" for none.
	Inside string `yaml:"inside"`
	// Hazardous zones need a recorded path in (anti_passback.require_path).
	Hazardous bool `yaml:"hazardous"`
	// MaxOccupancy is the most people inside at once (nested zones count);
	// 0 is no maximum.
	MaxOccupancy int `yaml:"max_occupancy"`
	// OccupancyMode is hard (an entry at the maximum is denied) or soft
	// (allowed and alerted); "" means hard.
	OccupancyMode string `yaml:"occupancy_mode"`
}

// ZoneDoor is this gate as a door between two zones: a grant puts the
// person in To (entry, exit), or, for both, in To unless they are
// recorded in To already, then in From.
type ZoneDoor struct {
	From      string `yaml:"from"`
	To        string `yaml:"to"`
	Direction string `yaml:"direction"`
}

// SitePassback is the site-wide anti-passback.
type SitePassback struct {
	// Mode is off, soft (allow and alert) or hard (deny). Exits are never
	// denied, only flagged.
	Mode string `yaml:"mode"`
	// Window: a presence record older than this no longer counts; 0 is
	// untimed (a record counts until the next passage or reset).
	Window time.Duration `yaml:"window"`
	// RequirePath is which zones need a recorded path in (the person must
	// be recorded in the door's from zone): none, hazardous or all.
	RequirePath string `yaml:"require_path"`
}

// Evacuation is the gate's part in an evacuation of the site.
type Evacuation struct {
	// ReleaseRelay holds the relay energised (the door unlocked, for
	// egress) for the whole evacuation: for fail-safe doors that must let
	// people out. The fire-alarm input itself is io.fire_alarm.
	ReleaseRelay bool `yaml:"release_relay"`
}

func (z *Zones) setDefaults() {
	z.Door.From = Outside
	z.Door.To = "site"
	z.Door.Direction = DirectionEntry
	z.AntiPassback.Mode = "off"
	z.AntiPassback.RequirePath = RequirePathHazardous
}

// SiteTopicFor is the effective site topic: the configured one or
// facegate/<site>.
func (z *Zones) SiteTopicFor(site string) string {
	if z.SiteTopic != "" {
		return z.SiteTopic
	}
	return "facegate/" + site
}

// Zone returns the declared zone called name.
func (z *Zones) Zone(name string) (Zone, bool) {
	for _, d := range z.List {
		if d.Name == name {
			return d, true
		}
	}
	return Zone{}, false
}

// validateZones checks the zones section against the rest of c (the
// mode, the mqtt prefix). It also fills the zones' defaults (inside
// outside, occupancy hard), which YAML leaves empty in list items.
func (c *Config) validateZones() error {
	if err := enum("mode", c.Mode, ModeGate, ModeMuster); err != nil {
		return err
	}
	z := &c.Zones
	if c.Mode == ModeMuster && !z.Enabled {
		return fieldError("mode", "muster needs zones.enabled: true (the muster list is the site's presence)")
	}
	if c.Mode == ModeMuster && c.IO.ExitButton.Line != "" {
		return fieldError("io.exit_button.line", "an assembly-point kiosk (mode muster) opens nothing: remove the exit button")
	}
	if c.IO.FireAlarm.Line != "" && !z.Enabled {
		return fieldError("io.fire_alarm.line", "the fire alarm starts an evacuation of the site: it needs zones.enabled: true")
	}
	if z.SiteTopic != "" && !validTopic(z.SiteTopic) {
		return fieldError("zones.site_topic", "%q must be a topic without wildcards, empty levels or a leading/trailing '/'", z.SiteTopic)
	}
	if z.ResetAt != "" {
		if _, _, err := zonerules.ParseClock(z.ResetAt); err != nil {
			return fieldError("zones.reset_at", "%q is not a time of day as HH:MM (e.g. 04:00), or \"\" for no reset", z.ResetAt)
		}
	}
	if _, err := z.Location(); err != nil {
		return fieldError("zones.time_zone", "%q is not a time zone of this machine's tz database (an IANA name such as Europe/Berlin), or \"\" for the machine's own: %v", z.TimeZone, err)
	}
	ap := z.AntiPassback
	if err := enum("zones.anti_passback.mode", ap.Mode, "off", "soft", "hard"); err != nil {
		return err
	}
	if err := zeroMeans(between("zones.anti_passback.window", ap.Window, 0, 7*24*time.Hour), "untimed"); err != nil {
		return err
	}
	if err := enum("zones.anti_passback.require_path", ap.RequirePath, RequirePathNone, RequirePathHazardous, RequirePathAll); err != nil {
		return err
	}

	// The tree first: it checks the names (zonerules.ValidName) too.
	if err := zonerules.CheckZones("zones.list", z.topology()); err != nil {
		return zoneError(err)
	}
	for i := range z.List {
		zn := &z.List[i]
		field := fmt.Sprintf("zones.list[%d]", i)
		if zn.Inside == "" {
			zn.Inside = Outside
		}
		if zn.OccupancyMode == "" {
			zn.OccupancyMode = "hard"
		}
		if err := enum(field+".occupancy_mode", zn.OccupancyMode, "hard", "soft"); err != nil {
			return err
		}
		if err := zeroMeans(between(field+".max_occupancy", zn.MaxOccupancy, 0, 1_000_000), "no maximum"); err != nil {
			return err
		}
	}
	if !z.Enabled {
		return nil
	}
	if len(z.List) == 0 {
		return fieldError("zones.list", "zones are enabled: declare at least one zone (e.g. - {name: site})")
	}
	if c.Mode == ModeGate {
		if err := zonerules.CheckDoor("zones.door", z.topology(), z.Door.From, z.Door.To); err != nil {
			return zoneError(err)
		}
		if err := enum("zones.door.direction", z.Door.Direction, DirectionEntry, DirectionExit, DirectionBoth); err != nil {
			return err
		}
	}
	if c.MQTT.Enabled {
		want := z.SiteTopicFor(c.Site) + "/" + c.Gate
		if got := c.MQTT.PrefixFor(c.Site, c.Gate); got != want {
			field := "mqtt.prefix"
			if c.MQTT.Prefix == "" {
				field = "zones.site_topic"
			}
			return fieldError(field, "with zones on, the mqtt prefix must be <site_topic>/<gate> = %q (it is %q)", want, got)
		}
	}
	return nil
}

// topology is the zone list as the shared zone rules see it.
func (z *Zones) topology() []zonerules.Zone {
	t := make([]zonerules.Zone, len(z.List))
	for i, d := range z.List {
		t[i] = zonerules.Zone{Name: d.Name, Inside: d.Inside}
	}
	return t
}

// zoneError gives a broken zone rule its key, so that Load adds file and line.
func zoneError(err error) error {
	var e *zonerules.Error
	if errors.As(err, &e) {
		return fieldError(e.Key, "%s", e.Msg)
	}
	return err
}

// siteTokenMinLen: the page token shows who is on site, the admin token
// changes the record and starts evacuations.
const siteTokenMinLen = 24

// validateSecrets runs after secrets are resolved; open is
// kiosk.open.token, others the rest.
func (z *Zones) validateSecrets(open Secret, others ...Secret) error {
	for _, t := range []struct {
		key string
		s   Secret
	}{{"zones.page_token", z.PageToken}, {"zones.admin_token", z.AdminToken}} {
		if t.s.IsSet() && len(t.s.Value()) < siteTokenMinLen {
			return fieldError(t.key, "must be at least %d characters", siteTokenMinLen)
		}
		if why := guessable(t.s.Value()); t.s.IsSet() && why != "" {
			return fieldError(t.key, "is guessable: it %s; use a random one (openssl rand -hex 16)", why)
		}
	}
	if z.PageToken.IsSet() && open.IsSet() && open.Value() == z.PageToken.Value() {
		return fieldError("zones.page_token", "must differ from kiosk.open.token (the page token is given to screens that show who is on site; with the same value they could open the gate)")
	}
	if z.AdminToken.IsSet() {
		for _, o := range append(others, open, z.PageToken) {
			if o.IsSet() && o.Value() == z.AdminToken.Value() {
				return fieldError("zones.admin_token", "must differ from every other token (whoever may read or identify must not be able to change the record)")
			}
		}
	}
	return nil
}

// Location is the zone reset_at is read in: TimeZone, or the machine's
// own when it is "".
func (z Zones) Location() (*time.Location, error) {
	if z.TimeZone == "" {
		return time.Local, nil
	}
	if z.TimeZone == "Local" {
		return nil, errors.New(`"Local" is not an IANA name`)
	}
	return time.LoadLocation(z.TimeZone)
}

package config

import "time"

// Kiosk is the local web UI.
type Kiosk struct {
	// Listen is the address of the kiosk page, /metrics and the API.
	Listen string `yaml:"listen"`
}

func (k *Kiosk) setDefaults() { k.Listen = "127.0.0.1:8080" }

func (k *Kiosk) validate() error { return nil }

// Identity is how a worker tells the gate who they are.
type Identity struct {
	// Timeout is how long an identified worker has to show a face.
	Timeout time.Duration `yaml:"timeout"`
	HTTP    HTTPIdentity  `yaml:"http"`
}

// HTTPIdentity is POST /api/identify.
type HTTPIdentity struct {
	Enabled bool   `yaml:"enabled"`
	Token   Secret `yaml:"token"`
}

func (i *Identity) setDefaults() { i.Timeout = 10 * time.Second }

func (i *Identity) validate() error {
	if i.Timeout <= 0 {
		return fieldError("identity.timeout", "must be positive")
	}
	return nil
}

// Policy is the gate's local rules on top of the API's verdict.
type Policy struct {
	// MaxAge: an approval for a frame captured longer ago than this does not open.
	MaxAge time.Duration `yaml:"max_age"`
	// Cooldown after each decision before the next session.
	Cooldown time.Duration `yaml:"cooldown"`
}

func (p *Policy) setDefaults() {
	p.MaxAge = 5 * time.Second
	p.Cooldown = 3 * time.Second
}

func (p *Policy) validate() error { return nil }

// Audit is the local JSON-lines decision log.
type Audit struct {
	// SaveCrops keeps the JPEG sent to the API (debugging; off by default).
	SaveCrops bool `yaml:"save_crops"`
}

func (a *Audit) setDefaults() {}

func (a *Audit) validate() error { return nil }

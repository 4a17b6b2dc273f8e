package config

import (
	"net/url"
	"time"
)

// API is the FaceAuth API client's section.
type API struct {
	// URL is the base URL including the version, e.g. https://rest-api.argosidentity.com/v3.
	// FACEGATE_API_URL overrides it.
	URL string `yaml:"url"`
	// Key is the dedicated FaceAuth API key (FACEGATE_API_KEY, key.file or the
	// systemd credential "facegate-api-key").
	Key Secret `yaml:"key"`
	// Timeout bounds each request.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile adds a PEM CA bundle to the system roots (TLS verification is always on).
	CAFile string `yaml:"ca_file"`
	// AllowInsecureHTTP permits http:// to a host other than loopback.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
}

func (a *API) setDefaults() {
	a.URL = "https://rest-api.argosidentity.com/v3"
	a.Timeout = 15 * time.Second
}

func (a *API) validate() error {
	u, err := url.Parse(a.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fieldError("api.url", "%q is not an http(s) URL with a host", a.URL)
	}
	if a.Timeout <= 0 || a.Timeout > 5*time.Minute {
		return fieldError("api.timeout", "%s must be between 1ms and 5m", a.Timeout)
	}
	return nil
}

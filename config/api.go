package config

import (
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/facegate/facegate/internal/redact"
)

// API is the FaceAuth API client's section (docs/faceauth.md).
type API struct {
	// URL is the base URL including the version, e.g. https://rest-api.argosidentity.com/v3.
	// FACEGATE_API_URL overrides it.
	URL string `yaml:"url"`
	// Key is the dedicated FaceAuth API key (FACEGATE_API_KEY, key.file or the
	// systemd credential "facegate-api-key").
	Key Secret `yaml:"key"`
	// Timeout bounds each request (retries included only up to the caller's deadline).
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
		return fieldError("api.url", "%q is not an http(s) URL with a host", redact.URL(a.URL))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fieldError("api.url", "must not carry user info, a query or a fragment (the key goes in api.key)")
	}
	if u.Scheme == "http" && !a.AllowInsecureHTTP && !loopbackHost(u.Hostname()) {
		return fieldError("api.url", "plain http to %s is refused: use https, or set api.allow_insecure_http: true", u.Host)
	}
	if err := between("api.timeout", a.Timeout, time.Millisecond, 5*time.Minute); err != nil {
		return err
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return fieldError("api.ca_file", "%v", err)
		}
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// Package mqttrules holds the MQTT rules that both the configuration file
// and the mqtt package's Options enforce, so that each is written once:
// config checks them with file and line, mqtt for Options built in code.
package mqttrules

import (
	"fmt"
	"net/url"

	"github.com/facegate/facegate/internal/redact"
)

// MinOpenSecret is the shortest HMAC key, in bytes, that enables the
// remote open command.
const MinOpenSecret = 16

// BrokerURL parses a broker URL and says whether its scheme is a TLS one.
// The schemes are paho's: tcp, mqtt, ws (plain); ssl, tls, mqtts, wss (TLS).
// The error message masks the URL's password.
func BrokerURL(s string) (u *url.URL, tls bool, err error) {
	u, err = url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, false, fmt.Errorf("%q is not a broker URL", redact.URL(s))
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
		return u, false, nil
	case "ssl", "tls", "mqtts", "wss":
		return u, true, nil
	}
	return nil, false, fmt.Errorf("%q: scheme must be tcp, ssl, ws or wss", redact.URL(s))
}

package config

import (
	"net"
	"strconv"
)

// Metrics is the Prometheus listener.
type Metrics struct {
	// Listen is a second address that serves only GET /metrics, for a
	// Prometheus on another host; "" (the default) for none. The kiosk
	// listener keeps its own /metrics either way.
	Listen string `yaml:"listen"`
}

func (m *Metrics) validate() error {
	if m.Listen == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return fieldError("metrics.listen", "%q is not host:port (e.g. 0.0.0.0:9108)", m.Listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fieldError("metrics.listen", "%q: port must be 0-65535", m.Listen)
	}
	return nil
}

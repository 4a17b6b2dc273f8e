package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// LoadTLS builds a client TLS configuration: ca (PEM file, empty for the
// system roots), an optional client certificate and key, and the server
// name to verify (empty: the host of the URL).
func LoadTLS(ca, cert, key, serverName string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: mqtt.tls.ca: %w", ErrInvalidOptions, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: mqtt.tls.ca: %s holds no PEM certificate", ErrInvalidOptions, ca)
		}
		t.RootCAs = pool
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: mqtt.tls.cert/key: %w", ErrInvalidOptions, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

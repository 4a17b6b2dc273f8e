// Package mosquittotest is internal/mosquittotest under the name the mqtt
// package's tests have always used: the real-broker helper moved up so that
// the site tests of cmd/facegate start mosquitto the same way.
package mosquittotest

import (
	"testing"

	"github.com/facegate/facegate/internal/mosquittotest"
)

// Config shapes the broker (see internal/mosquittotest).
type Config = mosquittotest.Config

// Mosquitto is one broker process (see internal/mosquittotest).
type Mosquitto = mosquittotest.Mosquitto

// Binary is the path of mosquitto, or "" when it is not installed.
func Binary() string { return mosquittotest.Binary() }

// Start starts mosquitto or skips the test when it is not installed.
func Start(t testing.TB, cfg Config) *Mosquitto { return mosquittotest.Start(t, cfg) }

// Observe subscribes a persistent-session observer (see internal/mosquittotest).
func Observe(t testing.TB, url, clientID, topic string, fn func(topic string, payload []byte, retained bool)) {
	t.Helper()
	mosquittotest.Observe(t, url, clientID, topic, fn)
}

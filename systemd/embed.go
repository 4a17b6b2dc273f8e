// Package systemd holds facegate's own hardened unit file, what installing
// it takes (the unit rendered for the installed binary, the service account,
// the configuration directory: install.go) and the small sd_notify client
// the daemon uses to report readiness, reloads, shutdown and watchdog pings
// to the service manager.
package systemd

import _ "embed"

// UnitName is the name the unit is installed under.
const UnitName = "facegate.service"

// DefaultExecStart is the command line written in the shipped unit;
// `facegate service install` replaces it with the installed binary's.
const DefaultExecStart = "/usr/local/bin/facegate run --config /etc/facegate/facegate.yaml"

// Unit is the content of systemd/facegate.service, as shipped.
//
//go:embed facegate.service
var Unit string

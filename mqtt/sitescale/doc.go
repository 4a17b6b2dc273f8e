// Package sitescale holds the site scale measurement of issue 15 (tests
// only): many in-process gates, each with its own real MQTT client of
// package mqtt and its own site.Presence, on one local mosquitto.
//
//	go test ./mqtt/sitescale                       # 20 gates, 1,000 decisions
//	make bench-site                                # 200 gates, 20,000 decisions
//
// The numbers are in docs/site.md ("Wire and scale").
package sitescale

// Package record is the vocabulary of one gate decision: the Event each
// kiosk session ends with, the PulseResult that follows a grant, their
// constants, the submission-id Privacy setting and the one timestamp format.
//
// The kiosk builds these records, the audit log stores them, the mqtt
// package encodes and delivers them and `facegate demo` prints them; the
// JSON field names are a contract (docs/mqtt.md). The package is a leaf: it
// imports nothing of the project, so everything that speaks of a decision
// can depend on it without linking the MQTT client, OpenCV or GPIO.
package record

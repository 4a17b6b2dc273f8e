// Package deps guards the package picture of docs/architecture.md: its test
// runs `go list -deps` and fails when a package links something it must not
// (the kiosk linking the MQTT client, OpenCV or GPIO; the record linking
// anything of the project; the shipped binary linking the test libraries).
// It has no code of its own; `go test ./test/deps` runs in a few seconds.
package deps

// Package configs holds facegate's example configuration files, built into
// the binary: facegate.yaml documents every key (the service installs it
// as a starting point) and demo.yaml is what `facegate demo` runs with.
package configs

import _ "embed"

// Demo is configs/demo.yaml.
//
//go:embed demo.yaml
var Demo []byte

// DemoName is how Demo is named in configuration error messages.
const DemoName = "configs/demo.yaml"

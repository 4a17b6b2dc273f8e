// Package configs holds facegate's example configuration files, built into
// the binary: facegate.yaml documents every key (`facegate service install`
// writes it as /etc/facegate/facegate.yaml when there is none) and
// demo.yaml is what `facegate demo` runs with.
package configs

import _ "embed"

// Demo is configs/demo.yaml.
//
//go:embed demo.yaml
var Demo []byte

// DemoName is how Demo is named in configuration error messages.
const DemoName = "configs/demo.yaml"

// Example is configs/facegate.yaml: every key with its default, documented.
//
//go:embed facegate.yaml
var Example []byte

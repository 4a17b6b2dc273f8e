package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a credential. It is never printed: String and YAML encoding give
// "<redacted>". Its value comes from, in order: the environment variable,
// the file named by <key>_file, systemd's $CREDENTIALS_DIRECTORY/<credential>,
// the inline value.
type Secret struct {
	value string
	// Inline is the value written in the config file (discouraged).
	Inline string `yaml:"value"`
	// File is a path whose content (trimmed) is the secret.
	File string `yaml:"file"`
	// Source tells where the value came from, for `config check`.
	Source string `yaml:"-"`
}

// UnmarshalYAML accepts either a plain string (the inline value) or a
// mapping {value: …, file: …}.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			s.Inline = n.Value
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "value", "file":
				// A list or a mapping here would read as "" and the
				// secret as unset, without a word.
				if v.Kind != yaml.ScalarNode {
					return &lineError{Line: v.Line, Column: v.Column, Msg: fmt.Sprintf("must be a string, not %s", kindName(v))}
				}
				val := v.Value
				if v.Tag == "!!null" {
					val = ""
				}
				if k.Value == "value" {
					s.Inline = val
				} else {
					s.File = val
				}
			default:
				return fmt.Errorf("line %d: field %s is not a known key of a secret (value, file)", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a secret is a string or {value: …, file: …}", n.Line)
}

// lineError is a problem found while decoding, at a line whose key path
// Parse fills in (UnmarshalYAML does not know where it is).
type lineError struct {
	Line, Column int // of the offending value
	Msg          string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a " + n.Tag
}

// MarshalYAML redacts.
func (s Secret) MarshalYAML() (any, error) {
	if s.value == "" {
		return "", nil
	}
	return fmt.Sprintf("<redacted, from %s>", s.Source), nil
}

// String redacts, so that %v never leaks the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "<redacted>"
}

// Value is the secret itself. Callers must not log it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether any source gave a value.
func (s Secret) IsSet() bool { return s.value != "" }

// NewSecret makes a resolved secret, for tests and flags.
func NewSecret(v, source string) Secret { return Secret{value: v, Source: source} }

func (s *Secret) resolve(field, envKey, credential string, env Env) error {
	if s.value != "" {
		return nil
	}
	if v := env(envKey); v != "" {
		s.value, s.Source = v, "environment "+envKey
		return nil
	}
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return fieldError(field+".file", "cannot read secret file: %v", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fieldError(field+".file", "secret file %s is empty", s.File)
		}
		s.value, s.Source = v, "file "+s.File
		return nil
	}
	if dir := env("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, credential)
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fieldError(field, "cannot read systemd credential %s: %v", credential, err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			s.value, s.Source = v, "systemd credential "+credential
			return nil
		}
	}
	if s.Inline != "" {
		s.value, s.Source = s.Inline, "config file"
	}
	return nil
}

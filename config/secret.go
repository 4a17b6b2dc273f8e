package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/facegate/facegate/internal/regularfile"
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
		b, err := readSecretFile(s.File)
		if err != nil {
			return fieldError(field+".file", "cannot read secret file: %v", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fieldError(field+".file", "secret file %s is empty", s.File)
		}
		if strings.ContainsRune(v, 0) {
			return fieldError(field+".file", "secret file %s holds NUL bytes (damaged?)", s.File)
		}
		s.value, s.Source = v, "file "+s.File
		return nil
	}
	if dir := env("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, credential)
		b, err := readSecretFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fieldError(field, "cannot read systemd credential %s: %v", credential, err)
		}
		if v := strings.TrimSpace(string(b)); strings.ContainsRune(v, 0) {
			return fieldError(field, "systemd credential %s holds NUL bytes (damaged?)", credential)
		} else if v != "" {
			s.value, s.Source = v, "systemd credential "+credential
			return nil
		}
	}
	if s.Inline != "" {
		s.value, s.Source = s.Inline, "config file"
	}
	return nil
}

// maxSecretFile bounds a secret file: no key or token is near it.
const maxSecretFile = 64 << 10

// readSecretFile reads a regular file of at most maxSecretFile bytes. It
// opens without blocking, so that a FIFO (or another special file) is
// refused instead of waited on, or read without end (/dev/zero).
func readSecretFile(path string) ([]byte, error) {
	b, err := regularfile.Read(path, maxSecretFile)
	var big *regularfile.TooLargeError
	switch {
	case errors.Is(err, syscall.EISDIR):
		return nil, &os.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	case errors.As(err, &big):
		return nil, fmt.Errorf("%s is %d bytes, more than any secret (at most %d)", path, big.Size, maxSecretFile)
	}
	return b, err
}

// guessable says why a token or signing secret v is one a guess list
// holds ("" when it is not): the minimum lengths alone let 24 times the
// same letter, or a word typed three times, open the gate.
func guessable(v string) string {
	distinct := map[byte]bool{}
	for i := 0; i < len(v); i++ {
		distinct[v[i]] = true
	}
	if len(distinct) < minDistinct {
		return fmt.Sprintf("uses only %d different characters (at least %d)", len(distinct), minDistinct)
	}
	for p := 1; p <= len(v)/2; p++ {
		if v[p:] == v[:len(v)-p] {
			return fmt.Sprintf("repeats its first %d characters", p)
		}
	}
	return ""
}

// minDistinct is the fewest different characters a token may use.
const minDistinct = 6

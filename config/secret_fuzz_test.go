package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSecretFile (found by a red-team pass): a secret read from a file
// (<key>.file) is the file's content trimmed, or the file is refused with
// a *config.Error naming the key; no message, of whatever is refused,
// ever holds the secret (a refusal goes to the journal, `config check`'s
// output and a reload alert on MQTT).
func FuzzSecretFile(f *testing.F) {
	for _, s := range []string{
		"0123456789abcdef0123456789abcdef\n",
		"  k3y-w1th-spaces-around \r\n",
		"aaaaaaaaaaaaaaaaaaaaaaaa",
		"short",
		"abcabcabcabcabcabcabcabc",
		"with\x00nul-byte-inside-it-0123",
		"",
		"\xff\xfe-not-utf8-0123456789abcdef",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "token")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		yaml := "site: a\napi:\n  key: {file: " + path + "}\nidentity:\n  http:\n    enabled: true\n    token: {file: " + path + "}\n"
		c, err := Parse("fuzz.yaml", []byte(yaml), nil)
		want := strings.TrimSpace(string(content))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			if ce.Field != "api.key.file" && !strings.HasPrefix(ce.Field, "identity.http.token") {
				t.Fatalf("refusal names %q, not the secret's key: %v", ce.Field, err)
			}
			if len(want) >= 6 && strings.Contains(err.Error(), want) {
				t.Fatalf("the message holds the secret: %v", err)
			}
			return
		}
		if c.API.Key.Value() != want || c.Identity.HTTP.Token.Value() != want {
			t.Fatalf("secret %q from a file holding %q", c.API.Key.Value(), content)
		}
		if strings.ContainsRune(want, 0) || want == "" {
			t.Fatalf("accepted %q", want)
		}
	})
}

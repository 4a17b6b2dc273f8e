package mqtt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAlertCodesDocumented: the section of docs/mqtt.md on <prefix>/alert
// says what each code of AlertCodes (every code a gate raises) means; an
// operator reading an alert they cannot find there has nothing to go on.
func TestAlertCodesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "mqtt.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "### `<prefix>/alert`")
	if i < 0 {
		t.Fatal("docs/mqtt.md has no section <prefix>/alert")
	}
	sec := doc[i+4:]
	if j := strings.Index(sec, "\n### "); j >= 0 {
		sec = sec[:j]
	}
	var missing []string
	for _, c := range AlertCodes {
		if !strings.Contains(sec, "`"+c+"`") {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/mqtt.md's <prefix>/alert section does not explain %s", strings.Join(missing, ", "))
	}
}

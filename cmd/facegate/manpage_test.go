package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPage: packaging/facegate.1 lists every command (and the liveness
// subcommands) and holds no control byte (a "\f" font escape written
// through an interpreting string once became a form feed, which man
// prints as garbage).
func TestManPage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "facegate.1"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			line := strings.Count(string(b[:i]), "\n") + 1
			t.Errorf("packaging/facegate.1:%d: control byte 0x%02x", line, c)
		}
	}
	page := string(b)
	names := []string{"liveness eval", "liveness report"}
	for n := range commands {
		names = append(names, n)
	}
	for _, n := range names {
		if !strings.Contains(page, "\n.B "+n+" ") && !strings.Contains(page, "\n.B "+n+"\n") && !strings.Contains(page, "\n.B "+n+`\`) {
			t.Errorf("packaging/facegate.1 does not list %q", n)
		}
	}
}

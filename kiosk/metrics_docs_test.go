package kiosk

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestMetricsAreDocumented: every metric the gate registers (a Name:
// "facegate_…" or NewDesc("facegate_…") in this package's source) has a row in docs/kiosk.md's
// Metrics section, and every facegate_ name that section gives exists: a
// dashboard or an alert rule is written from that table.
func TestMetricsAreDocumented(t *testing.T) {
	sec, _ := kioskDocSection(t, "Metrics")
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(facegate_[a-z_]+)"`)
	code := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			code[m[1]] = true
		}
	}
	if len(code) < 20 {
		t.Fatalf("found only %d metric names in the source: the pattern is out of date", len(code))
	}
	var undocumented, unknown []string
	for n := range code {
		if !strings.Contains(sec, "`"+n+"`") {
			undocumented = append(undocumented, n)
		}
	}
	for _, m := range regexp.MustCompile("`(facegate_[a-z_]+)").FindAllStringSubmatch(sec, -1) {
		if !code[m[1]] {
			unknown = append(unknown, m[1])
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unknown)
	if len(undocumented) > 0 {
		t.Errorf("docs/kiosk.md's Metrics section does not list %s", strings.Join(undocumented, ", "))
	}
	if len(unknown) > 0 {
		t.Errorf("docs/kiosk.md's Metrics section names metrics the gate does not have: %s", strings.Join(unknown, ", "))
	}
}
